package dev.ambit.istiod.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** Istio's Gateway through the one decoder both sources and the webhook use: every served version, Istio's checks. */
class IstioGatewayValidationTest {

    private final ObjectDecoder decoder = new ObjectDecoder();

    private ObjectDecoder.Result decode(String yaml) {
        Map<?, ?> doc = new Yaml(new SafeConstructor(new LoaderOptions())).load(yaml);
        return decoder.decode("gw.yaml", doc, "default");
    }

    @Test
    void everyServedVersionDecodesToTheOneKind() {
        for (String version : List.of("v1", "v1beta1", "v1alpha3")) {
            ObjectDecoder.Result r = decode("""
                    apiVersion: networking.istio.io/%s
                    kind: Gateway
                    metadata: {name: gw, namespace: istio-system}
                    spec:
                      selector: {istio: ingressgateway}
                      servers:
                      - port: {number: 443, name: https, protocol: HTTPS}
                        hosts: ["shop/app.example.com", "./*.example.com", "*/b.example.com", "*"]
                        tls: {mode: SIMPLE, credentialName: app-cert}
                    """.formatted(version));
            assertThat(r.errors()).as(version).isEmpty();
            assertThat(r.kind()).isEqualTo(Kind.ISTIO_GATEWAY);
            assertThat(r.object()).isInstanceOf(io.fabric8.istio.api.networking.v1.Gateway.class);
            assertThat(r.object().getApiVersion()).isEqualTo("networking.istio.io/v1");
        }
        // The Gateway API's Gateway stays its own kind.
        assertThat(Kind.of("gateway.networking.k8s.io/v1", "Gateway")).contains(Kind.GATEWAY);
        assertThat(Kind.of("v1", "Secret")).contains(Kind.SECRET);
    }

    @Test
    void wrongServersAreRefusedNamingObjectFieldAndReason() {
        ObjectDecoder.Result r = decode("""
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: istio-system}
                spec:
                  selector: {istio: ingressgateway}
                  servers:
                  - port: {number: 70000, name: http, protocol: HTTP}
                    hosts: ["app..example.com", "Bad_NS/app.example.com"]
                  - port: {number: 443, name: https, protocol: HTTPS}
                    hosts: [app.example.com]
                    tls: {mode: MUTUAL}
                  - port: {number: 443, name: tls, protocol: QUIC}
                    hosts: []
                  - port: {number: 8443, name: https2, protocol: HTTPS}
                    hosts: [app.example.com]
                  - port: {number: 9443, name: pass, protocol: HTTPS}
                    hosts: [app.example.com]
                    tls: {mode: PASSTHROUGH}
                """);
        assertThat(r.ok()).isFalse();
        assertThat(r.errors()).extracting(ConfigError::message).allSatisfy(m -> assertThat(m)
                .startsWith("gw.yaml: Gateway istio-system/gw: "));
        assertThat(r.errors()).extracting(e -> e.field() + ": " + e.reason()).containsExactlyInAnyOrder(
                "spec.servers[0].port.number: port 70000 (expected: 1-65535)",
                "spec.servers[0].hosts[0]: \"app..example.com\" is not a host (expected: [namespace/]host where host "
                        + "is \"*\", \"*.suffix\" or a DNS name)",
                "spec.servers[0].hosts[1]: \"Bad_NS/app.example.com\": namespace \"Bad_NS\" (expected: a namespace "
                        + "name, \".\" or \"*\")",
                "spec.servers[1].tls.credentialName: TLS mode MUTUAL needs credentialName (expected: the name of a "
                        + "Secret in the gateway's namespace; file paths are not read by Ambit's gateway)",
                "spec.servers[2].port.protocol: \"QUIC\" (expected one of: GRPC, HTTP, HTTP2, HTTPS, TCP, TLS)",
                "spec.servers[2].hosts: no hosts (expected: at least one, e.g. \"*\" or \"app.example.com\")",
                "spec.servers[3].tls: protocol HTTPS needs tls settings (expected: tls.mode)",
                "spec.servers[4].tls.mode: mode PASSTHROUGH needs protocol TLS (found: HTTPS)");
    }

    @Test
    void anUnknownTlsModeIsRefusedNotNulled() {
        ObjectDecoder.Result r = decode("""
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: istio-system}
                spec:
                  selector: {istio: ingressgateway}
                  servers:
                  - port: {number: 443, name: https, protocol: HTTPS}
                    hosts: [app.example.com]
                    tls: {mode: SIMPEL, credentialName: c}
                """);
        assertThat(r.errors()).singleElement().satisfies(e -> {
            assertThat(e.field()).isEqualTo("spec.servers[0].tls.mode");
            assertThat(e.reason()).contains("SIMPEL", "SIMPLE", "MUTUAL", "PASSTHROUGH");
        });
    }

    @Test
    void onlySecretsHoldingTlsMaterialAreKept() {
        var tls = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("a").endMetadata()
                .withType("kubernetes.io/tls").build();
        var generic = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("b").endMetadata()
                .withType("Opaque").addToData("tls.crt", "eA==").addToData("tls.key", "eA==").build();
        var ca = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("c").endMetadata()
                .withType("Opaque").addToStringData("ca.crt", "x").build();
        var token = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("d").endMetadata()
                .withType("kubernetes.io/service-account-token").addToData("token", "eA==").build();
        var certOnly = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("e")
                .endMetadata().withType("Opaque").addToData("tls.crt", "eA==").build();
        assertThat(List.of(tls, generic, ca, token, certOnly)).extracting(TlsSecrets::relevant)
                .containsExactly(true, true, true, false, false);
        assertThat(TlsSecrets.value(generic, "tls.crt")).hasValueSatisfying(v -> assertThat(v).containsExactly('x'));
        assertThat(TlsSecrets.value(ca, "ca.crt")).hasValueSatisfying(v -> assertThat(v).containsExactly('x'));
        assertThat(TlsSecrets.value(tls, "tls.crt")).isEmpty();
    }
}
