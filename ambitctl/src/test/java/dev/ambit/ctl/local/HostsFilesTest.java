package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.NODE1;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostsFilesTest {

    @TempDir
    Path etc;

    private final List<String> logged = new ArrayList<>();

    private HostsFiles hosts() {
        return new HostsFiles(etc::resolve, logged::add);
    }

    private static Map<String, ServiceView> web(String vip) {
        KubeObject svc = parse(ControllerFixtures.service("demo", "web", "web", 80, 80)).getFirst();
        return Map.of("demo/web", new ServiceView(svc, vip, Services.ports(svc), List.of(), Map.of()));
    }

    @Test
    void podsAndNodesNameEveryServiceWithAVip() throws Exception {
        RunningPod p = running(parse(pod("demo", "client", "c", 80)).getFirst(), "node1", "10.244.1.3",
                "abcdef01-0000-0000-0000-000000000000");
        hosts().writeAll(List.of(p), List.of(NODE1), web("10.96.0.10"));
        String podHosts = Files.readString(etc.resolve(p.netns).resolve("hosts"));
        assertThat(podHosts).contains("10.244.1.3").contains("client").contains("10.96.0.10").contains("web.demo.svc.cluster.local");
        assertThat(Files.readString(etc.resolve(NODE1.netns()).resolve("hosts"))).contains("10.96.0.10");
        // A headless Service has no name to give.
        assertThat(HostsFiles.serviceNames(web("None"))).isEmpty();
        assertThat(logged).isEmpty();
    }

    @Test
    void aChangeIsWrittenInPlaceAndAnUnchangedFileIsLeftAlone() throws Exception {
        HostsFiles hosts = hosts();
        RunningPod p = running(parse(pod("demo", "client", "c", 80)).getFirst(), "node1", "10.244.1.3",
                "abcdef01-0000-0000-0000-000000000000");
        Path file = etc.resolve(p.netns).resolve("hosts");
        hosts.writePod(p, HostsFiles.serviceNames(web("10.96.0.10")));
        Object inode = Files.getAttribute(file, "unix:ino");

        hosts.writePod(p, HostsFiles.serviceNames(web("10.96.0.11")));
        assertThat(Files.readString(file)).contains("10.96.0.11").doesNotContain("10.96.0.10");
        assertThat(Files.getAttribute(file, "unix:ino")).as("same inode: bind mounts see it").isEqualTo(inode);

        Files.writeString(file, "edited");
        hosts.writePod(p, HostsFiles.serviceNames(web("10.96.0.11")));
        assertThat(Files.readString(file)).as("unchanged: not rewritten").isEqualTo("edited");
        hosts.forget(p.netns);
        hosts.writePod(p, HostsFiles.serviceNames(web("10.96.0.11")));
        assertThat(Files.readString(file)).contains("10.96.0.11");
    }
}
