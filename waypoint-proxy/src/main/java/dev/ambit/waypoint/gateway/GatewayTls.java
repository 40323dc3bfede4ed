package dev.ambit.waypoint.gateway;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.config.ConfigSnapshot;
import dev.ambit.waypoint.config.ConfigSnapshot.Held;
import dev.ambit.waypoint.config.SecretMaterial;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;

/**
 * The gateway's server TLS contexts, one per TLS filter chain and version of its Secrets: the
 * certificate and key of its {@code tls_certificate_sds_secret_configs} Secret, the client CA of
 * its {@code validation_context_sds_secret_config} Secret (client certificates required when
 * {@code require_client_certificate}, else verified when sent), its ALPN protocols and TLS
 * versions (1.2 and 1.3 unless {@code tls_params} narrows them). BoringSSL through
 * netty-tcnative, or the JDK's provider, as proxy-core's {@code TlsContexts} chose.
 *
 * <p>Rotation: a new Secret version is a new {@link Held} in the next snapshot, hence a new
 * context for the connections that start from then on; open connections keep theirs. Contexts
 * of Secret versions no longer current are dropped by {@link #retain}. Thread-safe.
 */
final class GatewayTls {

    /** Why a chain cannot terminate TLS now: its Secret is not (yet) there. */
    static final class MissingSecret extends Exception {
        MissingSecret(String message) {
            super(message, null, false, false);
        }
    }

    /** A context and the Secret versions it was built from (identity: a new version is a new Held). */
    private record Entry(Held<Secret> certificate, Held<Secret> ca, SslContext context) {}

    private final SslProvider provider;
    private final Map<DownstreamTlsContext, Entry> contexts = new ConcurrentHashMap<>();

    GatewayTls(SslProvider provider) {
        this.provider = requireNonNull(provider, "provider");
    }

    /**
     * The server context of a chain's {@code tls} in snapshot {@code c}.
     *
     * @throws MissingSecret naming the Secret when one it names is not in {@code c}
     * @throws SSLException when the provider refuses the material
     */
    SslContext context(ConfigSnapshot c, DownstreamTlsContext tls) throws MissingSecret, SSLException {
        CommonTlsContext common = tls.getCommonTlsContext();
        String certName = common.getTlsCertificateSdsSecretConfigs(0).getName();
        Held<Secret> certificate = c.secrets().get(certName);
        if (certificate == null || !certificate.resource().hasTlsCertificate()) {
            throw new MissingSecret("secret " + certName + " not received (or not a tls_certificate)");
        }
        Held<Secret> ca = null;
        if (common.hasValidationContextSdsSecretConfig()) {
            String caName = common.getValidationContextSdsSecretConfig().getName();
            ca = c.secrets().get(caName);
            if (ca == null || !ca.resource().hasValidationContext()) {
                throw new MissingSecret("secret " + caName + " not received (or not a validation_context)");
            }
        }
        Entry e = contexts.get(tls);
        if (e != null && e.certificate() == certificate && e.ca() == ca) {
            return e.context();
        }
        SslContext built = build(tls, certificate.resource(), ca == null ? null : ca.resource());
        contexts.put(tls, new Entry(certificate, ca, built));
        return built;
    }

    /** Drops the contexts of chains and Secret versions {@code c} no longer holds. */
    void retain(ConfigSnapshot c) {
        contexts.entrySet().removeIf(e -> c.secrets().get(e.getValue().certificate().resource().getName())
                != e.getValue().certificate()
                || (e.getValue().ca() != null && c.secrets().get(e.getValue().ca().resource().getName())
                != e.getValue().ca()));
    }

    private SslContext build(DownstreamTlsContext tls, Secret certificate, Secret ca) throws SSLException {
        CommonTlsContext common = tls.getCommonTlsContext();
        SecretMaterial.KeyPair pair = SecretMaterial.keyPair(certificate.getTlsCertificate());
        SslContextBuilder b = SslContextBuilder.forServer(pair.key(), pair.chain().toArray(X509Certificate[]::new))
                .sslProvider(provider)
                .protocols(protocols(common.getTlsParams()));
        if (common.getAlpnProtocolsCount() > 0) {
            b.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                    // The only behaviours both providers support: no common protocol → no ALPN.
                    ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                    ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                    common.getAlpnProtocolsList()));
        }
        if (ca != null) {
            b.trustManager(SecretMaterial.trustedCas(ca.getValidationContext()).toArray(X509Certificate[]::new))
                    .clientAuth(tls.getRequireClientCertificate().getValue() ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL);
        } else {
            b.clientAuth(ClientAuth.NONE);
        }
        return b.build();
    }

    /** The protocol names of {@code p}'s range; TLS 1.2 to 1.3 by default (Envoy's server defaults). */
    static String[] protocols(TlsParameters p) {
        int min = p.getTlsMinimumProtocolVersion() == TlsParameters.TlsProtocol.TLSv1_3 ? 13 : 12;
        int max = p.getTlsMaximumProtocolVersion() == TlsParameters.TlsProtocol.TLSv1_2 ? 12 : 13;
        List<String> names = new ArrayList<>();
        for (int v = min; v <= max; v++) {
            names.add(v == 12 ? "TLSv1.2" : "TLSv1.3");
        }
        return names.toArray(String[]::new);
    }
}
