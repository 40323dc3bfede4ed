package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.agent.AgentJvm;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The pure parts of {@code local up --cert-ttl}, {@code local kill} and {@code local start}:
 * naming daemons, their command lines, and the certificate lifetime kept in cluster.json
 * (so that a restarted istiod-lite issues certificates as the first one did).
 */
class DaemonControlTest {

    private static final List<String> NODES = List.of("node1", "node2");
    private static final StateDir STATE = new StateDir(Path.of("/run/ambit/test-state"));

    @Test
    void componentsAreNamedAsLogsNamesThem() {
        assertThat(LocalCluster.Target.parse("istiod", NODES).component()).isEqualTo(LocalCluster.Component.ISTIOD);
        assertThat(LocalCluster.Target.parse("istiod-lite", NODES).component()).isEqualTo(LocalCluster.Component.ISTIOD);
        assertThat(LocalCluster.Target.parse("controller", NODES).component())
                .isEqualTo(LocalCluster.Component.CONTROLLER);
        assertThat(LocalCluster.Target.parse("node2", NODES))
                .isEqualTo(new LocalCluster.Target(LocalCluster.Component.AGENT, "node2"));
        assertThat(LocalCluster.Target.parse("agent-node1", NODES))
                .isEqualTo(new LocalCluster.Target(LocalCluster.Component.AGENT, "node1"));
        assertThatThrownBy(() -> LocalCluster.Target.parse("node3", NODES))
                .isInstanceOf(LocalException.class)
                .hasMessageContaining("node3: no such component")
                .hasMessageContaining("node1, node2");
    }

    @Test
    void startsInDependencyOrderWhateverOrderTheyAreNamedIn() {
        assertThat(LocalCluster.Target.parseAll(List.of("controller", "node2", "istiod", "node2"), NODES))
                .extracting(LocalCluster.Target::display)
                .containsExactly("istiod-lite", "node agent node2", "controller");
        assertThat(LocalCluster.Target.parseAll(List.of(), NODES))
                .extracting(LocalCluster.Target::display)
                .containsExactly("istiod-lite", "node agent node1", "node agent node2", "controller");
    }

    @Test
    void istiodGetsTheCertificateLifetimeOnlyWhenOneWasGiven() {
        List<String> dflt = LocalCluster.istiodCommand(STATE, Path.of("/r/istiod-lite.jar"), null);
        assertThat(dflt).doesNotContain("--cert-ttl")
                .containsSubsequence("-jar", "/r/istiod-lite.jar", "--config-dir", "/run/ambit/test-state/istiod/config");
        List<String> shortLived = LocalCluster.istiodCommand(STATE, Path.of("/r/istiod-lite.jar"), "60s");
        assertThat(shortLived).endsWith("--cert-ttl", "60s");
    }

    @Test
    void agentAndControllerCommandLinesNameTheirNodeAndState() {
        ClusterInfo.Node n = new ClusterInfo.Node("node2", 2, "ambit-l-node2", "10.250.0.12", "10.244.2.0/24",
                "10.244.2.1", "/sys/fs/bpf/ambit-local/node2", null);
        List<String> agent = LocalCluster.agentCommand(STATE, Path.of("/r/node-agent.jar"), n, "/sys/fs/cgroup");
        // The JVM flags the agent is sized for, before the jar.
        assertThat(agent.subList(1, 1 + AgentJvm.OPTIONS.size())).isEqualTo(AgentJvm.OPTIONS);
        assertThat(agent)
                .containsSubsequence("--node", "node2", "--pods-dir", "/run/ambit/test-state/nodes/node2/pods",
                        "--cni-socket", "/run/ambit/test-state/nodes/node2/cni.sock", "--bpffs-root", "/sys/fs/bpf/ambit-local/node2", "--cgroup-root", "/sys/fs/cgroup");
        assertThat(LocalCluster.controllerCommand(STATE)).endsWith("local", "controller",
                "--state-dir=/run/ambit/test-state");
    }

    @Test
    void durationsFormatInTheFlagsOwnForm() {
        assertThat(Durations.format(Duration.ofSeconds(60))).isEqualTo("1m");
        assertThat(Durations.format(Duration.ofSeconds(45))).isEqualTo("45s");
        assertThat(Durations.format(Duration.ofMillis(1500))).isEqualTo("1500ms");
        assertThat(Durations.format(Duration.ofHours(24))).isEqualTo("24h");
        assertThat(Durations.parse("--cert-ttl", Durations.format(Duration.ofSeconds(90))))
                .isEqualTo(Duration.ofSeconds(90));
        assertThatThrownBy(() -> Durations.format(Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aCertificateLifetimeTooShortToRenewIsRefused() {
        Home home = new Home(Path.of("/r"));
        assertThatThrownBy(() -> new LocalCluster.UpOptions(1, home, Path.of("/sys/fs/cgroup"), Duration.ofSeconds(90),
                Duration.ofSeconds(5)))
                .isInstanceOf(LocalException.class)
                .hasMessageContaining("--cert-ttl: 5000ms (expected: at least 10s");
        assertThat(new LocalCluster.UpOptions(1, home, Path.of("/sys/fs/cgroup"), Duration.ofSeconds(90)).certTtl())
                .isNull();
    }

    @Test
    void clusterJsonKeepsTheCertificateLifetimeAndOldFilesStillRead() throws Exception {
        ClusterInfo info = new ClusterInfo(1, "/s", "/r", "/sys/fs/cgroup", "2026-01-01T00:00:00Z", null, null,
                List.of(), "1m");
        String json = ClusterInfo.MAPPER.writeValueAsString(info);
        assertThat(ClusterInfo.MAPPER.readValue(json, ClusterInfo.class).certTtl()).isEqualTo("1m");
        assertThat(ClusterInfo.MAPPER.readValue(json, ClusterInfo.class).withIstiod(null).certTtl()).isEqualTo("1m");
        // A cluster.json written before --cert-ttl existed: istiod's default.
        String old = "{\"version\":1,\"stateDir\":\"/s\",\"home\":\"/r\",\"cgroupRoot\":\"/sys/fs/cgroup\","
                + "\"createdAt\":\"2026-01-01T00:00:00Z\",\"nodes\":[]}";
        assertThat(ClusterInfo.MAPPER.readValue(old, ClusterInfo.class).certTtl()).isNull();
    }
}
