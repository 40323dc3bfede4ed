package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.CLUSTER;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static dev.ambit.ctl.local.ControllerFixtures.service;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MeshConfigWriterTest {

    @TempDir
    Path dir;

    private final List<String> logged = new ArrayList<>();

    private MeshConfigWriter writer() {
        return new MeshConfigWriter(dir, new PodObjects(CLUSTER, uid -> null), logged::add);
    }

    private static final String DEPLOYMENT = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: backend, namespace: demo}
            spec:
              selector: {matchLabels: {app: backend}}
              template: {metadata: {labels: {app: backend}}, spec: {containers: [{name: c, command: [sleep]}]}}
            ---
            """;

    @Test
    void writesServicesWithTheirVipAndRunningPodsButNoPodOrDeploymentManifest() throws Exception {
        List<KubeObject> manifests = parse(service("demo", "web", "web", 80, 8080) + pod("demo", "web-0", "web", 8080)
                + DEPLOYMENT);
        KubeObject svc = manifests.getFirst();
        Map<String, ServiceView> views = Map.of("demo/web",
                new ServiceView(svc, "10.96.0.10", Services.ports(svc), List.of(), Map.of()));
        RunningPod p = running(manifests.get(1), "node1", "10.244.1.2", "abcdef01-0000-0000-0000-000000000000");

        writer().write(manifests, views, List.of(p), Set.of());

        assertThat(Folders.files(dir)).extracting(f -> f.getFileName().toString())
                .containsExactly("pod.demo.web-0.yaml", "service.demo.web.yaml");
        assertThat(Files.readString(dir.resolve("service.demo.web.yaml"))).contains("clusterIP: 10.96.0.10");
        assertThat(Files.readString(dir.resolve("pod.demo.web-0.yaml"))).contains("podIP: 10.244.1.2");
        assertThat(logged).isEmpty();
    }

    @Test
    void aServiceWithoutVipIsLeftOutAndFilesOfObjectsGoneAreRemovedButUnreadableOnesKept() throws Exception {
        Files.writeString(dir.resolve("service.demo.old.yaml"), "old");
        Files.writeString(dir.resolve("authorizationpolicy.demo.broken.yaml"), "last good copy");
        Files.writeString(dir.resolve("pod.demo.gone.yaml"), "gone");
        writer().write(parse(service("demo", "web", "web", 80, 80)), Map.of(), List.of(),
                Set.of("authorizationpolicy.demo.broken.yaml", "pod.demo.gone.yaml"));
        assertThat(Folders.files(dir)).extracting(f -> f.getFileName().toString())
                .containsExactly("authorizationpolicy.demo.broken.yaml");
    }

    @Test
    void anUnchangedFileIsNotRewrittenAfterARestart() throws Exception {
        List<KubeObject> manifests = parse("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: demo}
                """);
        writer().write(manifests, Map.of(), List.of(), Set.of());
        Path file = dir.resolve("namespace.demo.yaml");
        var before = Files.getLastModifiedTime(file);
        Object inode = Files.getAttribute(file, "unix:ino");
        MeshConfigWriter restarted = writer();
        restarted.loadWritten();
        restarted.write(manifests, Map.of(), List.of(), Set.of());
        assertThat(Files.getAttribute(file, "unix:ino")).as("not replaced").isEqualTo(inode);
        assertThat(Files.getLastModifiedTime(file)).isEqualTo(before);
    }
}
