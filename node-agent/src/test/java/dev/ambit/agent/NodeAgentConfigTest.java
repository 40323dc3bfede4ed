package dev.ambit.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.proxy.identity.TlsContexts;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class NodeAgentConfigTest {

    @Test
    void defaultsAreADaemonSetsWithIstioPathsAndPorts() {
        NodeAgentConfig c = NodeAgentConfig.parse("node-7", "--kubernetes");
        assertThat(c.node()).isEqualTo("node-7");
        assertThat(c.istiodAddress().getHostString()).isEqualTo("istiod.istio-system.svc");
        assertThat(c.istiodAddress().getPort()).isEqualTo(15012);
        assertThat(c.rootCert()).isEqualTo(Path.of("/var/run/secrets/istio/root-cert.pem"));
        assertThat(c.cgroupRoot()).isEqualTo(Path.of("/sys/fs/cgroup"));
        assertThat(c.adminAddress().getPort()).isEqualTo(15000);
        assertThat(c.statsPort()).isEqualTo(15020);
        assertThat(c.readinessPort()).isEqualTo(15021);
        assertThat(c.transport()).isEqualTo("epoll");
        assertThat(c.tlsProvider()).isEqualTo(TlsContexts.Provider.AUTO);
        assertThat(c.drainTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.cniSocket()).isEqualTo(Path.of("/var/run/ambit/cni.sock"));
        assertThat(c.connectionWait()).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void localModeFlags() {
        NodeAgentConfig c = NodeAgentConfig.parse(null, "--node", "node1", "--pods-dir", "/run/pods",
                "--istiod", "10.250.0.2:15012", "--cgroup-root", "/sys/fs/cgroup/unified", "--tls-provider", "jdk",
                "--drain-timeout", "500ms", "--log", "debug", "--log-json", "--cni-socket", "/run/n1/cni.sock",
                "--connection-wait", "2s");
        assertThat(c.podsDir()).isEqualTo(Path.of("/run/pods"));
        assertThat(c.kubernetes()).isFalse();
        assertThat(c.istiodAddress().getHostString()).isEqualTo("10.250.0.2");
        assertThat(c.tlsProvider()).isEqualTo(TlsContexts.Provider.JDK);
        assertThat(c.drainTimeout()).isEqualTo(Duration.ofMillis(500));
        assertThat(c.logJson()).isTrue();
        assertThat(c.cniSocket()).isEqualTo(Path.of("/run/n1/cni.sock"));
        assertThat(c.connectionWait()).isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void mistakesAreNamed() {
        assertThatThrownBy(() -> NodeAgentConfig.parse(null, "--kubernetes"))
                .hasMessageContaining("--node: missing");
        assertThatThrownBy(() -> NodeAgentConfig.parse("n", "--pods-dir", "/x", "--kubernetes"))
                .hasMessageContaining("exactly one of --pods-dir DIR or --kubernetes");
        assertThatThrownBy(() -> NodeAgentConfig.parse("n", "--kubernetes", "--istiod", "istiod"))
                .hasMessage("--istiod: istiod (expected: HOST:PORT)");
        assertThatThrownBy(() -> NodeAgentConfig.parse("n", "--kubernetes", "--tls-provider", "gnutls"))
                .hasMessage("--tls-provider: gnutls (expected: auto, openssl or jdk)");
    }
}
