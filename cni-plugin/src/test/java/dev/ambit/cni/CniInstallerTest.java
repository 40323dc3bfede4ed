package dev.ambit.cni;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The install-cni side on real folders: the binary written out, the plugin chained last into
 * the primary CNI's configuration and kept there, removed on uninstall; and the entry it writes
 * is one the built plugin accepts (run as the runtime would, with the conflist's fields).
 */
class CniInstallerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FLANNEL = """
            {"name": "cbr0", "cniVersion": "1.0.0", "plugins": [
              {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
              {"type": "portmap", "capabilities": {"portMappings": true}}]}
            """;

    @TempDir
    Path dir;

    private final ByteArrayOutputStream log = new ByteArrayOutputStream();

    private CniInstaller installer(Path bin, Path conf, String socket) {
        return new CniInstaller(bin, conf, CniConfList.entry(socket, List.of("kube-system", "istio-system"), "debug", 3),
                Duration.ofMillis(50), new PrintStream(log, true, StandardCharsets.UTF_8));
    }

    private static List<String> types(Path file) throws Exception {
        List<String> types = new ArrayList<>();
        for (JsonNode p : JSON.readTree(Files.readString(file)).path("plugins")) {
            types.add(p.path("type").asText());
        }
        return types;
    }

    @Test
    void chainsLastKeepsItChainedAndUninstalls() throws Exception {
        Path bin = dir.resolve("opt/cni/bin");
        Path conf = Files.createDirectories(dir.resolve("etc/cni/net.d"));
        CniInstaller installer = installer(bin, conf, "/var/run/ambit/cni.sock");

        // No primary CNI yet: the binary is there, nothing is chained, it waits.
        assertThat(installer.reconcile()).isFalse();
        assertThat(bin.resolve("ambit-cni")).isExecutable();
        Path flannel = Files.writeString(conf.resolve("10-flannel.conflist"), FLANNEL);
        Files.writeString(conf.resolve("99-loopback.conf"), "{\"cniVersion\":\"1.0.0\",\"name\":\"lo\",\"type\":\"loopback\"}");
        assertThat(installer.reconcile()).isTrue();
        assertThat(types(flannel)).containsExactly("flannel", "portmap", "ambit-cni");
        assertThat(types(conf.resolve("99-loopback.conf"))).isEmpty(); // only the file the runtime uses
        JsonNode before = JSON.readTree(Files.readString(flannel));
        assertThat(before.path("plugins").get(0)).isEqualTo(JSON.readTree(FLANNEL).path("plugins").get(0));

        // Up to date: not rewritten (a runtime reading it meanwhile sees the same file).
        Files.setLastModifiedTime(flannel, FileTime.fromMillis(1_000_000));
        assertThat(installer.reconcile()).isTrue();
        assertThat(Files.getLastModifiedTime(flannel).toMillis()).isEqualTo(1_000_000);

        // The primary CNI rewrites its file on restart, dropping us: chained again while running.
        Thread runner = Thread.ofPlatform().start(() -> {
            try {
                installer.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Files.writeString(flannel, FLANNEL);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!CniConfList.contains(flannel) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(types(flannel)).containsExactly("flannel", "portmap", "ambit-cni");
        installer.close();
        runner.join(5_000);
        assertThat(runner.isAlive()).isFalse();

        // A new version's entry (another socket) replaces ours in place: one entry, last.
        CniInstaller next = installer(bin, conf, "/run/ambit/cni.sock");
        assertThat(next.reconcile()).isTrue();
        assertThat(types(flannel)).containsExactly("flannel", "portmap", "ambit-cni");
        assertThat(JSON.readTree(Files.readString(flannel)).path("plugins").get(2).path("agent_socket").asText())
                .isEqualTo("/run/ambit/cni.sock");

        next.uninstall();
        assertThat(JSON.readTree(Files.readString(flannel))).isEqualTo(JSON.readTree(FLANNEL));
        assertThat(bin.resolve("ambit-cni")).doesNotExist();
        assertThat(log.toString(StandardCharsets.UTF_8)).contains("waiting for the primary CNI", "chained ambit-cni into "
                + flannel, "removed ambit-cni from " + flannel);
        try (var files = Files.list(conf)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactlyInAnyOrder("10-flannel.conflist",
                    "99-loopback.conf"); // no temporary files left
        }
    }

    @Test
    void singlePluginConfBecomesAConflist() throws Exception {
        Path conf = Files.createDirectories(dir.resolve("net.d"));
        Files.writeString(conf.resolve("10-bridge.conf"), """
                {"cniVersion": "0.4.0", "name": "mynet", "type": "bridge", "bridge": "cni0",
                 "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"}}
                """);
        CniInstaller installer = installer(dir.resolve("bin"), conf, "/var/run/ambit/cni.sock");
        assertThat(installer.reconcile()).isTrue();
        Path list = conf.resolve("10-bridge.conflist");
        assertThat(conf.resolve("10-bridge.conf")).doesNotExist();
        JsonNode n = JSON.readTree(Files.readString(list));
        assertThat(n.path("cniVersion").asText()).isEqualTo("0.4.0");
        assertThat(n.path("name").asText()).isEqualTo("mynet");
        assertThat(types(list)).containsExactly("bridge", "ambit-cni");
        assertThat(n.path("plugins").get(0).path("ipam").path("subnet").asText()).isEqualTo("10.22.0.0/16");
        assertThat(n.path("plugins").get(0).has("cniVersion")).isFalse();
    }

    @Test
    void notACniConfigIsNamed() throws Exception {
        Path conf = Files.createDirectories(dir.resolve("net.d"));
        Path broken = Files.writeString(conf.resolve("05-broken.conflist"), "{\"plugins\": ");
        assertThatThrownBy(() -> installer(dir.resolve("bin"), conf, "/s").reconcile())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(broken.toString())
                .hasMessageContaining("not JSON");
        Files.writeString(broken, "{\"name\": \"x\"}");
        assertThatThrownBy(() -> installer(dir.resolve("bin"), conf, "/s").reconcile())
                .hasMessageContaining("neither \"plugins\" nor \"type\"");
        assertThat(Files.readString(broken)).isEqualTo("{\"name\": \"x\"}"); // left as found
    }

    @Test
    void theWrittenEntryIsOneThePluginAccepts() throws Exception {
        Path bin = dir.resolve("bin");
        Path conf = Files.createDirectories(dir.resolve("net.d"));
        Path flannel = Files.writeString(conf.resolve("10-flannel.conflist"), FLANNEL);
        assertThat(installer(bin, conf, dir.resolve("absent.sock").toString()).reconcile()).isTrue();
        JsonNode list = JSON.readTree(Files.readString(flannel));
        // What a runtime (libcni) passes to the last plugin: its entry plus the list's
        // cniVersion and name, and the result of the plugins before it.
        ObjectNode netconf = ((ObjectNode) list.path("plugins").get(2)).deepCopy();
        netconf.put("cniVersion", list.path("cniVersion").asText());
        netconf.put("name", list.path("name").asText());
        String prev = "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.244.0.9/24\"}]}";
        netconf.set("prevResult", JSON.readTree(prev));

        // An excluded namespace passes through without the agent; an ambient candidate with no
        // agent at the entry's socket is held back (11), bounded by the entry's timeout (3 s).
        String[] passed = plugin(bin, "ADD", "kube-system", netconf.toString());
        assertThat(passed[0]).as(passed[2]).isEqualTo("0");
        assertThat(JSON.readTree(passed[1])).isEqualTo(JSON.readTree(prev));
        String[] held = plugin(bin, "ADD", "shop", netconf.toString());
        assertThat(held[0]).isEqualTo("1");
        assertThat(JSON.readTree(held[1]).path("code").asInt()).isEqualTo(11);
        assertThat(JSON.readTree(held[1]).path("details").asText()).contains(dir.resolve("absent.sock").toString());
        assertThat(held[2]).contains("ambit-cni"); // log_level debug from the entry
    }

    /** Runs the installed plugin: exit code, stdout, stderr. */
    private static String[] plugin(Path bin, String command, String namespace, String stdin) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(bin.resolve("ambit-cni").toString());
        pb.environment().clear();
        pb.environment().putAll(Map.of("CNI_COMMAND", command, "CNI_CONTAINERID", "abc123", "CNI_NETNS",
                "/var/run/netns/cni-1", "CNI_IFNAME", "eth0", "CNI_PATH", bin.toString(),
                "CNI_ARGS", "K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=p"));
        Process p = pb.start();
        try {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
            return new String[] {Integer.toString(p.exitValue()), out.strip(), err};
        } finally {
            p.destroyForcibly();
        }
    }
}
