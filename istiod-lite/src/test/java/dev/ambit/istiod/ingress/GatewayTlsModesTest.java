package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Istio's Gateway TLS modes as istiod-lite translates them (case {@code ingress/tls-modes}): what
 * each mode puts in the chain's {@code DownstreamTlsContext}, and what is reported and left out.
 */
class GatewayTlsModesTest {

    @TempDir
    Path scratch;

    @Test
    void eachModeGetsTheDownstreamTlsContextIstioBuilds() throws Exception {
        IngressCases.Result r = IngressCases.translate("tls-modes", scratch);
        var ingress = r.ingress();
        Listener l443 = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_443");

        DownstreamTlsContext optional = tls(chain(l443, "opt.example.com"));
        assertThat(optional.getRequireClientCertificate().getValue()).as("OPTIONAL_MUTUAL: verified when sent").isFalse();
        var common = optional.getCommonTlsContext();
        assertThat(common.getCombinedValidationContext().getValidationContextSdsSecretConfig().getName())
                .isEqualTo("kubernetes://app-mtls-cacert");
        assertThat(common.getTlsParams().getTlsMaximumProtocolVersion()).isEqualTo(TlsParameters.TlsProtocol.TLSv1_2);
        assertThat(common.getTlsParams().getCipherSuitesList()).as("AES128-SHA dropped, order kept")
                .containsExactly("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256");
        assertThat(ingress.get(TypeUrls.SECRET)).containsKeys("kubernetes://app-mtls", "kubernetes://app-mtls-cacert",
                "kubernetes://app-cert");

        DownstreamTlsContext mesh = tls(chain(l443, "mesh.example.com"));
        assertThat(mesh.getRequireClientCertificate().getValue()).isTrue();
        assertThat(mesh.getCommonTlsContext().getTlsCertificateSdsSecretConfigs(0).getName()).isEqualTo("default");
        var meshValidation = mesh.getCommonTlsContext().getCombinedValidationContext();
        assertThat(meshValidation.getValidationContextSdsSecretConfig().getName()).isEqualTo("ROOTCA");
        SubjectAltNameMatcher spiffe = meshValidation.getDefaultValidationContext().getMatchTypedSubjectAltNames(0);
        assertThat(spiffe.getSanType()).isEqualTo(SubjectAltNameMatcher.SanType.URI);
        assertThat(spiffe.getMatcher().getExact()).isEqualTo("spiffe://cluster.local/ns/shop/sa/client");
        assertThat(ingress.get(TypeUrls.SECRET)).as("mesh material is the proxy's own, not a Secret")
                .doesNotContainKeys("default", "ROOTCA");

        DownstreamTlsContext pinned = tls(chain(l443, "pin.example.com"));
        assertThat(pinned.getRequireClientCertificate().getValue()).isTrue();
        var pins = pinned.getCommonTlsContext().getCombinedValidationContext().getDefaultValidationContext();
        assertThat(pins.getMatchTypedSubjectAltNames(0).getSanType()).isEqualTo(SubjectAltNameMatcher.SanType.DNS);
        assertThat(pins.getVerifyCertificateSpkiList()).containsExactly("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assertThat(pins.getVerifyCertificateHashList()).singleElement().asString().startsWith("0f:1e:");

        // A malformed pin: only that server is left out.
        assertThat(l443.getFilterChainsList()).flatExtracting(c -> c.getFilterChainMatch().getServerNamesList())
                .containsExactlyInAnyOrder("opt.example.com", "mesh.example.com", "pin.example.com");

        // Protocol TLS terminated at the gateway: the tcp route behind the server's certificate.
        Listener l9443 = (Listener) ingress.get(TypeUrls.LISTENER).get("0.0.0.0_9443");
        FilterChain db = chain(l9443, "db.example.com");
        assertThat(tls(db).getCommonTlsContext().getTlsCertificateSdsSecretConfigs(0).getName())
                .isEqualTo("kubernetes://app-cert");
        assertThat(db.getFilters(0).getTypedConfig().unpack(TcpProxy.class).getCluster())
                .isEqualTo("outbound|5432||db.shop.svc.cluster.local");

        // AUTO_PASSTHROUGH is not implemented: no listener, and said so naming the Gateway and field.
        assertThat(ingress.get(TypeUrls.LISTENER)).doesNotContainKey("0.0.0.0_15443");
        String warnings = String.join("\n", r.resources().warnings());
        assertThat(warnings).contains("Gateway istio-system/modes", "tls.mode", "AUTO_PASSTHROUGH",
                "not supported", "left out");
        assertThat(warnings).contains("cipherSuites", "\"AES128-SHA\"");
        assertThat(warnings).contains("verifyCertificateHash", "\"not-a-digest\"");
    }

    private static FilterChain chain(Listener l, String sni) {
        return l.getFilterChainsList().stream().filter(c -> c.getFilterChainMatch().getServerNamesList().contains(sni))
                .findFirst().orElseThrow(() -> new AssertionError("no chain for " + sni + " in " + l.getName()));
    }

    private static DownstreamTlsContext tls(FilterChain c) throws Exception {
        return c.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class);
    }
}
