package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.ConfigError;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the golden files show, asserted by meaning: the names CONTRACT.md seam 2 fixes (the
 * gateway proxy implements against them), the 90/10 split, 404 for a wrong host, 301 through
 * {@code require_tls}, MUTUAL's CA, PASSTHROUGH by SNI, conflicts and malformed Secrets.
 */
class GatewayTranslationTest {

    @TempDir
    Path scratch;

    @Test
    void httpAndHttpsForAppExampleComWithTheSplitOnOrders() throws Exception {
        IngressCases.Result r = IngressCases.translate("http-https", scratch);
        var ingress = r.ingress();
        assertThat(ingress.get(TypeUrls.LISTENER)).containsOnlyKeys("0.0.0.0_80", "0.0.0.0_443");
        assertThat(ingress.get(TypeUrls.ROUTE_CONFIGURATION))
                .containsOnlyKeys("http.80", "https.443.https.ingressgateway.istio-system");
        assertThat(ingress.get(TypeUrls.SECRET)).containsOnlyKeys("kubernetes://app-cert");

        Listener https = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_443");
        assertThat(https.getListenerFiltersList()).extracting(f -> f.getName())
                .containsExactly("envoy.filters.listener.tls_inspector");
        FilterChain chain = https.getFilterChains(0);
        assertThat(chain.getFilterChainMatch().getServerNamesList()).containsExactly("app.example.com");
        DownstreamTlsContext tls = chain.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class);
        assertThat(tls.getCommonTlsContext().getTlsCertificateSdsSecretConfigs(0).getName())
                .isEqualTo("kubernetes://app-cert");
        assertThat(tls.getCommonTlsContext().getAlpnProtocolsList()).containsExactly("h2", "http/1.1");
        assertThat(tls.getRequireClientCertificate().getValue()).as("SIMPLE: Istio's explicit false").isFalse();
        assertThat(tls.getCommonTlsContext().hasCombinedValidationContext()).isFalse();
        HttpConnectionManager hcm = chain.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        assertThat(hcm.getRds().getRouteConfigName()).isEqualTo("https.443.https.ingressgateway.istio-system");
        assertThat(hcm.getUseRemoteAddress().getValue()).isTrue();
        assertThat(hcm.getGenerateRequestId().getValue()).isTrue();
        assertThat(hcm.getHttpFiltersList()).extracting(f -> f.getName()).containsExactly(
                "envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router");

        VirtualHost app = vhost(ingress, "http.80", "app.example.com:80").orElseThrow();
        assertThat(app.getDomainsList()).containsExactly("app.example.com", "app.example.com:80");
        var orders = app.getRoutes(0);
        assertThat(orders.getMatch().getPrefix()).isEqualTo("/orders");
        assertThat(orders.getRoute().getWeightedClusters().getClustersList())
                .extracting(c -> c.getName() + "=" + c.getWeight().getValue())
                .containsExactly("outbound|8080|v1|orders.shop.svc.cluster.local=90",
                        "outbound|8080|v2|orders.shop.svc.cluster.local=10");
        assertThat(app.getRoutes(1).getRoute().getCluster()).isEqualTo("outbound|80||frontend.shop.svc.cluster.local");
        // A wrong Host matches no virtual host: Envoy answers 404 (NR).
        RouteConfiguration http = (RouteConfiguration) ingress.get(TypeUrls.ROUTE_CONFIGURATION).get("http.80");
        assertThat(http.getVirtualHostsList()).extracting(VirtualHost::getName).containsExactly("app.example.com:80");
        assertThat(http.getVirtualHostsList()).flatExtracting(VirtualHost::getDomainsList)
                .doesNotContain("*", "other.example.com");

        // Meshed endpoints are reached over HBONE (tunnel metadata), with the endpoints' pod IPs.
        var frontend = (ClusterLoadAssignment) ingress.get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT)
                .get("outbound|80||frontend.shop.svc.cluster.local");
        var endpoint = frontend.getEndpoints(0).getLbEndpoints(0);
        assertThat(endpoint.getEndpoint().getAddress().getSocketAddress().getPortValue()).isEqualTo(8080);
        assertThat(endpoint.getMetadata().getFilterMetadataMap().get("envoy.transport_socket_match")
                .getFieldsMap().get("tunnel").getStringValue()).isEqualTo("http");

        // The certificate is served as written in the Secret.
        Secret secret = (Secret) ingress.get(TypeUrls.SECRET).get("kubernetes://app-cert");
        assertThat(secret.getTlsCertificate().getCertificateChain().getInlineBytes().toByteArray())
                .isEqualTo(Files.readAllBytes(IngressCases.ROOT.resolve("app.crt")));
        assertThat(secret.getTlsCertificate().getPrivateKey().getInlineBytes().toByteArray())
                .isEqualTo(Files.readAllBytes(IngressCases.ROOT.resolve("app.key")));
        assertThat(r.resources().warnings()).isEmpty();
        assertThat(r.rejected()).isEmpty();
        // Waypoints are not affected: base/ has none, so the gateway is the only proxy.
        assertThat(r.resources().waypoints()).containsExactlyInAnyOrder(IngressCases.INGRESS_KEY,
                IngressCases.INGRESS_POD_KEY);
    }

    @Test
    void httpsRedirectRequiresTlsEvenForHostsWithoutRoutes() throws Exception {
        var ingress = IngressCases.translate("https-redirect", scratch).ingress();
        assertThat(vhost(ingress, "http.80", "app.example.com:80").orElseThrow().getRequireTls())
                .isEqualTo(VirtualHost.TlsRequirementType.ALL);
        VirtualHost wildcard = vhost(ingress, "http.80", "*.shop.example.com:80").orElseThrow();
        assertThat(wildcard.getRequireTls()).isEqualTo(VirtualHost.TlsRequirementType.ALL);
        assertThat(wildcard.getRoutesList()).isEmpty();
        assertThat(vhost(ingress, "https.443.https.ingressgateway.istio-system", "app.example.com:443").orElseThrow()
                .getRequireTls()).isEqualTo(VirtualHost.TlsRequirementType.NONE);
    }

    @Test
    void mutualTlsRequiresAClientCertificateCheckedAgainstTheCa() throws Exception {
        var ingress = IngressCases.translate("mutual", scratch).ingress();
        Listener l = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_443");
        DownstreamTlsContext tls = l.getFilterChains(0).getTransportSocket().getTypedConfig()
                .unpack(DownstreamTlsContext.class);
        assertThat(tls.getRequireClientCertificate().getValue()).isTrue();
        assertThat(tls.getCommonTlsContext().getCombinedValidationContext().getValidationContextSdsSecretConfig()
                .getName()).isEqualTo("kubernetes://app-mtls-cacert");
        assertThat(tls.getCommonTlsContext().getTlsParams().getTlsMinimumProtocolVersion().name()).isEqualTo("TLSv1_3");
        byte[] ca = Files.readAllBytes(IngressCases.ROOT.resolve("ca.crt"));
        for (String name : List.of("kubernetes://app-mtls-cacert", "kubernetes://app-cert-cacert")) {
            Secret s = (Secret) ingress.get(TypeUrls.SECRET).get(name);
            assertThat(s.getValidationContext().getTrustedCa().getInlineBytes().toByteArray()).as(name).isEqualTo(ca);
        }
        // A server host "*": no server_names, any SNI.
        Listener alt = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_8443");
        assertThat(alt.getFilterChains(0).getFilterChainMatch().getServerNamesList()).isEmpty();
    }

    @Test
    void passthroughBySniAndTcpGoStraightToTheirClusters() throws Exception {
        var ingress = IngressCases.translate("passthrough-tcp", scratch).ingress();
        Listener tls = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_443");
        FilterChain sni = tls.getFilterChains(0);
        assertThat(sni.getFilterChainMatch().getServerNamesList()).containsExactly("secure.example.com");
        assertThat(sni.hasTransportSocket()).isFalse();
        assertThat(sni.getFilters(0).getTypedConfig().unpack(TcpProxy.class).getCluster())
                .isEqualTo("outbound|443||secure.shop.svc.cluster.local");
        assertThat(tls.getListenerFiltersCount()).isEqualTo(1);
        Listener tcp = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_5432");
        assertThat(tcp.getFilterChains(0).getFilters(0).getTypedConfig().unpack(TcpProxy.class).getCluster())
                .isEqualTo("outbound|5432||db.shop.svc.cluster.local");
        assertThat(tcp.getListenerFiltersCount()).isZero();
        // db is not meshed: plaintext, no tunnel metadata.
        var db = (ClusterLoadAssignment) ingress.get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT)
                .get("outbound|5432||db.shop.svc.cluster.local");
        assertThat(db.getEndpoints(0).getLbEndpoints(0).getMetadata().getFilterMetadataMap())
                .doesNotContainKey("envoy.transport_socket_match");
        assertThat(ingress.get(TypeUrls.SECRET)).isEmpty();
        // A match naming only the mesh is not the gateway's: / alone, under its original route name.
        VirtualHost www = vhost(ingress, "http.80", "www.example.com:80").orElseThrow();
        assertThat(www.getRoutesList()).singleElement().satisfies(route -> {
            assertThat(route.getName()).isEqualTo("shop/frontend/1");
            assertThat(route.getRoute().getCluster()).isEqualTo("outbound|80||frontend.shop.svc.cluster.local");
        });
    }

    @Test
    void theOlderGatewayWinsAConflictAndTheNewerIsReportedByName() throws Exception {
        IngressCases.Result r = IngressCases.translate("conflict", scratch);
        var ingress = r.ingress();
        assertThat(ingress.get(TypeUrls.ROUTE_CONFIGURATION))
                .containsOnlyKeys("http.80", "https.443.https.old.istio-system");
        // The loser's certificate is not served; its HTTP server is.
        assertThat(ingress.get(TypeUrls.SECRET)).containsOnlyKeys("kubernetes://app-cert");
        assertThat(r.resources().warnings()).singleElement().asString()
                .contains("Gateway istio-system/new", "Gateway istio-system/old", "port 443", "overlapping hosts");
    }

    @Test
    void aMalformedOrMissingSecretLeavesOnlyItsServerOut() throws Exception {
        IngressCases.Result r = IngressCases.translate("malformed-secret", scratch);
        var ingress = r.ingress();
        Listener l = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_443");
        assertThat(l.getFilterChainsList()).singleElement()
                .satisfies(c -> assertThat(c.getFilterChainMatch().getServerNamesList()).containsExactly("good.example.com"));
        assertThat(ingress.get(TypeUrls.SECRET)).containsOnlyKeys("kubernetes://app-cert");
        assertThat(r.resources().warnings()).anySatisfy(w -> assertThat(w).contains("Secret istio-system/bad-cert",
                "field data.tls.key", "does not match the certificate", "https-bad"));
        assertThat(r.resources().warnings()).anySatisfy(w -> assertThat(w).contains("Secret istio-system/no-such-secret",
                "does not exist"));
        // Nothing of a key ever reaches a message.
        String key = Files.readString(IngressCases.ROOT.resolve("other.key"));
        String body = key.lines().filter(s -> !s.startsWith("-----")).findFirst().orElseThrow();
        assertThat(String.join("\n", r.resources().warnings())).doesNotContain(body.substring(0, 20));
        // A Secret without TLS keys is not even kept.
        assertThat(r.config().list(dev.ambit.istiod.config.Kind.SECRET, io.fabric8.kubernetes.api.model.Secret.class))
                .extracting(s -> s.getMetadata().getName()).doesNotContain("not-tls").contains("bad-cert");
    }

    @Test
    void v1beta1GatewaysDecodeAndDotRestrictsHostsToTheGatewaysNamespace() throws Exception {
        IngressCases.Result r = IngressCases.translate("v1beta1", scratch);
        assertThat(r.rejected()).extracting(ConfigError::message).isEmpty();
        VirtualHost app = vhost(r.ingress(), "http.80", "app.example.com:80").orElseThrow();
        assertThat(app.getRoutesList()).singleElement().satisfies(route -> {
            assertThat(route.getName()).startsWith("istio-system/app/");
            assertThat(route.getRoute().getCluster()).isEqualTo("outbound|80||frontend.shop.svc.cluster.local");
        });
    }

    @Test
    void listenersBindTheTargetPortsTheGatewaysServiceMapsTo() throws Exception {
        var ingress = IngressCases.translate("target-port", scratch).ingress();
        assertThat(ingress.get(TypeUrls.LISTENER)).containsOnlyKeys("0.0.0.0_8080", "0.0.0.0_8443");
        Listener plain = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_8080");
        assertThat(plain.getAddress().getSocketAddress().getPortValue()).isEqualTo(8080);
        assertThat(ingress.get(TypeUrls.ROUTE_CONFIGURATION))
                .containsOnlyKeys("http.8080", "https.8443.https.ingressgateway.istio-system");
        // match.port 80 names the Gateway's port: the /plain route is on the plaintext server only.
        assertThat(vhost(ingress, "http.8080", "app.example.com:8080").orElseThrow().getRoutesList())
                .extracting(r -> r.getMatch().getPrefix()).containsExactly("/plain", "/");
        assertThat(vhost(ingress, "https.8443.https.ingressgateway.istio-system", "app.example.com:8443")
                .orElseThrow().getRoutesList()).extracting(r -> r.getMatch().getPrefix()).containsExactly("/");
    }

    private static Optional<VirtualHost> vhost(Map<String, Map<String, Message>> ingress, String rds, String name) {
        RouteConfiguration rc = (RouteConfiguration) ingress.get(TypeUrls.ROUTE_CONFIGURATION).get(rds);
        return rc.getVirtualHostsList().stream().filter(v -> v.getName().equals(name)).findFirst();
    }

}
