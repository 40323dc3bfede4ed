package dev.ambit.waypoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Struct;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WaypointFlagsTest {

    @Test
    void defaultsAreIstiosAndTheIdentityIsTheGatewaysAccount() {
        WaypointFlags f = WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "waypoint",
                "--pod-name", "waypoint-7d9f-abcde", "--pod-ip", "10.244.1.7");
        assertThat(f.serviceAccount()).isEqualTo("waypoint");
        assertThat(f.identity().uri()).isEqualTo("spiffe://cluster.local/ns/shop/sa/waypoint");
        assertThat(f.nodeId()).isEqualTo("waypoint~10.244.1.7~waypoint-7d9f-abcde.shop~shop.svc.cluster.local");
        assertThat(f.xdsAddress()).isEqualTo("istiod.istio-system.svc:15012");
        assertThat(f.caAddress()).isEqualTo(f.xdsAddress());
        assertThat(f.sharedChannel()).isTrue();
        assertThat(f.rootCert()).isEqualTo(Path.of("/var/run/secrets/istio/root-cert.pem"));
        assertThat(f.tokenFile()).isEqualTo(Path.of("/var/run/secrets/tokens/istio-token"));
        assertThat(f.clusterId()).isEqualTo("Kubernetes");
        assertThat(f.listenAddress()).isEqualTo("0.0.0.0");
        assertThat(new int[] {f.hbonePort(), f.adminPort(), f.statsPort(), f.readyPort()})
                .containsExactly(15008, 15000, 15020, 15021);
        assertThat(f.drainTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(f.logLevel()).isEqualTo("info");
    }

    @Test
    void thePodsFactsComeFromTheEnvironmentUnlessFlagged() {
        Map<String, String> env = Map.of("POD_NAMESPACE", "shop", "POD_NAME", "wp-1", "INSTANCE_IP", "10.244.2.2",
                "SERVICE_ACCOUNT", "custom");
        WaypointFlags f = WaypointFlags.parse(env, "--name", "waypoint", "--xds-address", "10.250.0.2:15010",
                "--plaintext", "--ca-address", "10.250.0.2:15012", "--trust-domain", "example.org");
        assertThat(f.namespace()).isEqualTo("shop");
        assertThat(f.podName()).isEqualTo("wp-1");
        assertThat(f.podIp()).isEqualTo("10.244.2.2");
        assertThat(f.identity().uri()).isEqualTo("spiffe://example.org/ns/shop/sa/custom");
        assertThat(f.plaintext()).isTrue();
        assertThat(f.sharedChannel()).isFalse();
        assertThat(f.ca().getPort()).isEqualTo(15012);
        assertThat(WaypointFlags.parse(env, "--name", "waypoint", "--pod-ip", "10.0.0.1").podIp()).isEqualTo("10.0.0.1");
    }

    @Test
    void mistakesNameTheFlag() {
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--name", "w", "--pod-ip", "10.0.0.1"))
                .hasMessage("--namespace: missing (expected: the Gateway's namespace; or set POD_NAMESPACE)");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--pod-ip", "10.0.0.1"))
                .hasMessageStartingWith("--name: missing");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w"))
                .hasMessageStartingWith("--pod-ip: missing");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--xds-address", "istiod"))
                .hasMessage("--xds-address: istiod (expected: HOST:PORT)");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--hbone-port", "70000"))
                .hasMessage("--hbone-port: 70000 (expected: a port number 0-65535)");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--log", "debug"))
                .hasMessageStartingWith("--log: unknown flag");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "not-an-ip"))
                .hasMessage("--pod-ip: not-an-ip (expected: an IP address)");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--listen-address", "localhost"))
                .hasMessage("--listen-address: localhost (expected: an IP address)");
    }

    @Test
    void nodeMetadataIsWhatIstiodLiteSelectsTheWaypointsResourcesBy() {
        WaypointFlags f = WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "waypoint",
                "--pod-name", "waypoint-abc", "--pod-ip", "10.244.1.7", "--cluster-id", "c1");
        Struct m = Waypoint.nodeMetadata(f);
        assertThat(m.getFieldsOrThrow("NAMESPACE").getStringValue()).isEqualTo("shop");
        assertThat(m.getFieldsOrThrow("NAME").getStringValue()).isEqualTo("waypoint-abc");
        assertThat(m.getFieldsOrThrow("SERVICE_ACCOUNT").getStringValue()).isEqualTo("waypoint");
        assertThat(m.getFieldsOrThrow("GENERATOR").getStringValue()).isEqualTo("waypoint");
        assertThat(m.getFieldsOrThrow("CLUSTER_ID").getStringValue()).isEqualTo("c1");
        assertThat(m.getFieldsOrThrow("LABELS").getStructValue().getFieldsOrThrow(
                "gateway.networking.k8s.io/gateway-name").getStringValue()).isEqualTo("waypoint");
    }

    @Test
    void gatewayModeSendsThePodsLabelsFromFlagsAndTheDownwardApiFile(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        Path file = dir.resolve("labels");
        java.nio.file.Files.writeString(file, "app=\"istio-ingressgateway\"\nistio=\"ingressgateway\"\n"
                + "pod-template-hash=\"7c9f\"\nquoted=\"a\\\"b\"\n");
        WaypointFlags f = WaypointFlags.parse(Map.of(), "--mode", "gateway", "--namespace", "istio-system",
                "--name", "istio-ingressgateway", "--pod-name", "gw-1", "--pod-ip", "10.244.1.9",
                "--service-account", "istio-ingressgateway-service-account", "--labels-file", file.toString(),
                "--label", "istio=override", "--label=extra=x=y");
        assertThat(f.gateway()).isTrue();
        assertThat(f.labels()).containsExactly(Map.entry("app", "istio-ingressgateway"), Map.entry("extra", "x=y"),
                Map.entry("istio", "override"), Map.entry("pod-template-hash", "7c9f"), Map.entry("quoted", "a\"b"));
        assertThat(f.nodeId()).isEqualTo("router~10.244.1.9~gw-1.istio-system~istio-system.svc.cluster.local");
        assertThat(f.identity().uri())
                .isEqualTo("spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account");
        Struct labels = Waypoint.nodeMetadata(f).getFieldsOrThrow("LABELS").getStructValue();
        assertThat(labels.getFieldsMap().keySet()).containsExactly("app", "extra", "istio", "pod-template-hash",
                "quoted");
        assertThat(labels.getFieldsOrThrow("istio").getStringValue()).isEqualTo("override");

        WaypointFlags waypoint = WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "waypoint",
                "--pod-ip", "10.244.1.7", "--label", "a=b");
        assertThat(waypoint.gateway()).isFalse();
        assertThat(Waypoint.nodeMetadata(waypoint).getFieldsOrThrow("LABELS").getStructValue().getFieldsMap())
                .containsOnlyKeys("gateway.networking.k8s.io/gateway-name");

        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--mode", "ingress")).hasMessage("--mode: ingress (expected: waypoint or gateway)");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--label", "novalue")).hasMessage("--label: novalue (expected: KEY=VALUE)");
        java.nio.file.Files.writeString(file, "app=unquoted\n");
        assertThatThrownBy(() -> WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "w", "--pod-ip",
                "10.0.0.1", "--labels-file", file.toString())).hasMessageContaining("line 1: app=unquoted");
    }
}
