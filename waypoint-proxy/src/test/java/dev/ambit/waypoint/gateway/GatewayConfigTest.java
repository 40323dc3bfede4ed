package dev.ambit.waypoint.gateway;

import static dev.ambit.waypoint.gateway.GatewayResources.caCertificate;
import static dev.ambit.waypoint.gateway.GatewayResources.certificate;
import static dev.ambit.waypoint.gateway.GatewayResources.httpChain;
import static dev.ambit.waypoint.gateway.GatewayResources.httpsChain;
import static dev.ambit.waypoint.gateway.GatewayResources.listener;
import static dev.ambit.waypoint.gateway.GatewayResources.passthroughChain;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.proxy.xds.ResourceHandler;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import dev.ambit.waypoint.config.EnvoyConfigDump;
import dev.ambit.waypoint.config.GatewayListener;
import dev.ambit.waypoint.config.WaypointConfigStore;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a gateway-mode config store accepts, compiles, NACKs and dumps (CONTRACT seam 2). */
class GatewayConfigTest {

    final TestPki pki = new TestPki("config-ca");
    final WaypointConfigStore store = WaypointConfigStore.builder().gateway(true).build();

    @Test
    void listenersAreCompiledPerPortAndServerNamesPickChainsAsEnvoyDoes() {
        assertThat(store.handlers()).extracting(ResourceHandler::typeUrl).contains(TypeUrls.SECRET);
        assertThat(WaypointConfigStore.builder().build().handlers()).extracting(ResourceHandler::typeUrl)
                .doesNotContain(TypeUrls.SECRET);
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_80", listener(80, httpChain("http.80")),
                "0.0.0.0_443", listener(443,
                        httpsChain("https.exact", List.of("app.example.com"), "kubernetes://app", false, null),
                        httpsChain("https.wild", List.of("*.example.com"), "kubernetes://wild", false, null),
                        httpsChain("https.deeper", List.of("*.shop.example.com"), "kubernetes://shop", false, null),
                        passthroughChain(List.of("db.example.org"), "outbound|5432||db.data.svc.cluster.local"),
                        httpsChain("https.any", List.of(), "kubernetes://any", false, null))))).isEmpty();
        Map<Integer, GatewayListener> byPort = store.snapshot().gatewayListeners();
        assertThat(byPort).containsOnlyKeys(80, 443);
        assertThat(byPort.get(80).matchesOnServerName()).isFalse();
        GatewayListener https = byPort.get(443);
        assertThat(https.matchesOnServerName()).isTrue();
        assertThat(https.select("App.Example.com").orElseThrow().chain().name()).isEqualTo("https.exact");
        assertThat(https.select("x.example.com").orElseThrow().chain().name()).isEqualTo("https.wild");
        assertThat(https.select("cart.shop.example.com").orElseThrow().chain().name()).isEqualTo("https.deeper");
        assertThat(https.select("example.com").orElseThrow().chain().name()).as("*.x needs a label").isEqualTo("https.any");
        assertThat(https.select(null).orElseThrow().chain().name()).isEqualTo("https.any");
        assertThat(https.select("db.example.org").orElseThrow().tls()).as("passthrough: no termination").isNull();
    }

    @Test
    void whatTheGatewayCannotHonourIsNackedNamingTheField() {
        FilterChain h3 = withTls(httpsChain("h3", List.of("a.example.com"), "kubernetes://a", false, null),
                t -> t.getCommonTlsContextBuilder().addAlpnProtocols("h3"));
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_443", listener(443, h3))))
                .extracting(Rejection::reason).singleElement().asString()
                .contains("alpn_protocols[2]", "\"h3\" not supported");
        FilterChain tls11 = httpsChain("old", List.of("a.example.com"), "kubernetes://a", false,
                GatewayResources.tlsRange(TlsParameters.TlsProtocol.TLSv1_1, TlsParameters.TlsProtocol.TLSv1_3));
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_443", listener(443, tls11))))
                .extracting(Rejection::reason).singleElement().asString()
                .contains("tls_minimum_protocol_version", "TLSv1_1 not supported");
        FilterChain mutualWithoutCa = withTls(httpsChain("m", List.of("m.example.com"), "kubernetes://m", true, null),
                t -> t.getCommonTlsContextBuilder().clearValidationContextSdsSecretConfig());
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_443", listener(443, mutualWithoutCa))))
                .extracting(Rejection::reason).singleElement().asString()
                .contains("validation_context_sds_secret_config: missing");
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_443", listener(443,
                httpsChain("one", List.of("a.example.com"), "kubernetes://a", false, null),
                httpsChain("two", List.of("A.example.com"), "kubernetes://b", false, null)))))
                .extracting(Rejection::reason).singleElement().asString()
                .contains("server_names: \"A.example.com\" also matched by filter_chains[0]");
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_443", listener(443, httpChain("a")),
                "other_443", listener(443, httpChain("b")).toBuilder().setName("other_443").build())))
                .extracting(Rejection::reason).singleElement().asString().contains("one listener per port");
        assertThat(store.snapshot().gatewayListeners()).as("the last good config stays: none").isEmpty();

        // A waypoint implements none of it.
        WaypointConfigStore waypoint = WaypointConfigStore.builder().listenerPort(15008).build();
        ResourceHandler<?> l = waypoint.handlers().get(0);
        @SuppressWarnings({"unchecked", "rawtypes"})
        List<Rejection> r = ((ResourceHandler) l).apply(Map.of("waypoint", listener(15008,
                httpsChain("tls", List.of(), "kubernetes://a", false, null)).toBuilder().setName("waypoint").build()),
                List.of());
        assertThat(r).extracting(Rejection::reason).singleElement().asString()
                .contains("filter_chains[0].transport_socket: not supported by a waypoint (expected: only in gateway mode)");
        @SuppressWarnings({"unchecked", "rawtypes"})
        List<Rejection> edge = ((ResourceHandler) l).apply(Map.of("waypoint", listener(15008, httpChain("h"))
                .toBuilder().setName("waypoint").build()), List.of());
        assertThat(edge).extracting(Rejection::reason).singleElement().asString()
                .contains("filter_chains[0].filters[0].typed_config.use_remote_address: not supported by a waypoint");
        FilterChain trustedHops = httpChain("hops").toBuilder().setFilters(0, httpChain("hops").getFilters(0)
                .toBuilder().setTypedConfig(Any.pack(GatewayResources.hcm("hops").toBuilder().setXffNumTrustedHops(1)
                        .build()))).build();
        assertThat(apply(TypeUrls.LISTENER, Map.of("0.0.0.0_80", listener(80, trustedHops))))
                .extracting(Rejection::reason).singleElement().asString()
                .contains("xff_num_trusted_hops: 1 not supported by this waypoint (expected: 0)");
    }

    @Test
    void secretsAreCheckedAsEnvoyLoadsThemAndOneBadSecretLeavesTheOthers() {
        TestPki.Issued good = pki.server("app.example.com");
        TestPki.Issued other = pki.server("other.example.com");
        assertThat(apply(TypeUrls.SECRET, Map.of("kubernetes://app", certificate("kubernetes://app",
                good.certificatePem(), good.keyPem())))).isEmpty();

        List<Rejection> mismatch = apply(TypeUrls.SECRET, Map.of("kubernetes://bad", certificate("kubernetes://bad",
                good.certificatePem(), other.keyPem())));
        assertThat(mismatch).extracting(Rejection::reason).singleElement().asString()
                .contains("Secret kubernetes://bad: tls_certificate.private_key: does not match the certificate")
                .doesNotContain("PRIVATE KEY", other.keyPem().substring(40, 80));
        List<Rejection> notPem = apply(TypeUrls.SECRET, Map.of("kubernetes://junk", certificate("kubernetes://junk",
                "not a certificate", good.keyPem())));
        assertThat(notPem).extracting(Rejection::reason).singleElement().asString()
                .contains("tls_certificate.certificate_chain");
        assertThat(apply(TypeUrls.SECRET, Map.of("kubernetes://app-cacert", caCertificate("kubernetes://app-cacert",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")))).extracting(Rejection::reason)
                .singleElement().asString().contains("validation_context.trusted_ca");
        assertThat(store.snapshot().secrets()).containsOnlyKeys("kubernetes://app");
    }

    @Test
    void configDumpShowsListenersAndSecretsWithPrivateKeysRedacted() throws Exception {
        TestPki.Issued cert = pki.server("app.example.com");
        apply(TypeUrls.SECRET, Map.of("kubernetes://app", certificate("kubernetes://app", cert.certificatePem(),
                cert.keyPem()), "kubernetes://app-cacert", caCertificate("kubernetes://app-cacert",
                pki.ca().certificatePem())));
        apply(TypeUrls.LISTENER, Map.of("0.0.0.0_443", listener(443,
                httpsChain("https.443.app", List.of("app.example.com"), "kubernetes://app", true, null))));
        String json = EnvoyConfigDump.json(store);
        assertThat(json).contains("\"@type\":\"type.googleapis.com/envoy.admin.v3.SecretsConfigDump\"",
                "\"dynamic_active_secrets\"", "\"name\":\"kubernetes://app\"", "\"private_key\":{\"inline_string\":"
                        + "\"[redacted]\"}", "\"name\":\"0.0.0.0_443\"", "envoy.transport_sockets.tls",
                "\"server_names\":[\"app.example.com\"]", "\"require_client_certificate\":true");
        String keyBase64 = cert.keyPem().lines().skip(1).findFirst().orElseThrow();
        assertThat(json).doesNotContain(keyBase64);
        assertThat(EnvoyConfigDump.json(WaypointConfigStore.builder().build()))
                .as("a waypoint's dump is as before").doesNotContain("SecretsConfigDump");
    }

    private static FilterChain withTls(FilterChain c, java.util.function.Consumer<DownstreamTlsContext.Builder> edit) {
        try {
            DownstreamTlsContext.Builder t = c.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class)
                    .toBuilder();
            edit.accept(t);
            return c.toBuilder().setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
                    .setTypedConfig(Any.pack(t.build()))).build();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private List<Rejection> apply(String type, Map<String, ? extends Message> updates) {
        ResourceHandler h = store.handlers().stream().filter(x -> x.typeUrl().equals(type)).findFirst().orElseThrow();
        return h.apply(updates, List.of());
    }
}
