package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.Kind;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gateway API client certificate validation (case {@code ingress/frontend-validation}): a
 * listener's {@code spec.tls.frontend} validation becomes a required (or, with
 * {@code AllowInsecureFallback}, optional) client certificate checked against the CA of the
 * referenced ConfigMap, served over SDS as {@code configmap://NS/NAME}; a reference that cannot
 * be used leaves the listener out instead of serving it unverified.
 */
class FrontendValidationTest {

    @TempDir
    Path scratch;

    @Test
    void aConfigMapCaVerifiesClientsAndABrokenReferenceLeavesItsListenerOut() throws Exception {
        IngressCases.Result r = IngressCases.translate("frontend-validation", scratch);
        var web = r.resources().forProxy("istio-system/web");

        DownstreamTlsContext strict = tls((Listener) web.get(TypeUrls.LISTENER).get("0.0.0.0_443"));
        assertThat(strict.getRequireClientCertificate().getValue()).as("AllowValidOnly (the default)").isTrue();
        assertThat(strict.getCommonTlsContext().getCombinedValidationContext().getValidationContextSdsSecretConfig()
                .getName()).isEqualTo("configmap://istio-system/client-ca");
        assertThat(strict.getCommonTlsContext().getTlsCertificateSdsSecretConfigs(0).getName())
                .isEqualTo("kubernetes://app-cert");

        DownstreamTlsContext lenient = tls((Listener) web.get(TypeUrls.LISTENER).get("0.0.0.0_8443"));
        assertThat(lenient.getRequireClientCertificate().getValue()).as("perPort AllowInsecureFallback").isFalse();
        assertThat(lenient.getCommonTlsContext().getCombinedValidationContext().getValidationContextSdsSecretConfig()
                .getName()).isEqualTo("configmap://istio-system/client-ca");

        Secret ca = (Secret) web.get(TypeUrls.SECRET).get("configmap://istio-system/client-ca");
        assertThat(ca.getValidationContext().getTrustedCa().getInlineBytes().toStringUtf8())
                .isEqualTo(Files.readString(IngressCases.ROOT.resolve("ca.crt")));

        // The ConfigMap without ca.crt is never kept; the Gateway naming it serves nothing unverified.
        assertThat(r.config().get(Kind.CONFIG_MAP, "istio-system", "no-ca",
                io.fabric8.kubernetes.api.model.ConfigMap.class)).isEmpty();
        var broken = r.resources().forProxy("istio-system/broken");
        assertThat(broken == null ? null : broken.get(TypeUrls.LISTENER)).as("no listener served unverified")
                .satisfiesAnyOf(l -> assertThat(l).isNull(), l -> assertThat(l).isEmpty());
        assertThat(r.resources().warnings()).anySatisfy(w -> assertThat(w)
                .contains("ConfigMap istio-system/no-ca does not exist", "data.ca.crt"));
    }

    private static DownstreamTlsContext tls(Listener l) throws Exception {
        assertThat(l).isNotNull();
        FilterChain chain = l.getFilterChainsList().stream().filter(FilterChain::hasTransportSocket).findFirst()
                .orElseThrow();
        return chain.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class);
    }
}
