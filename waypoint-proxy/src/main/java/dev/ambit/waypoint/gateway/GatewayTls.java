package dev.ambit.waypoint.gateway;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.TlsCipherSuites;
import dev.ambit.proxy.identity.TrustBundle;
import dev.ambit.proxy.identity.WorkloadCertificate;
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
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;

/**
 * The gateway's server TLS contexts, one per TLS filter chain and version of its key material:
 * the certificate and key of its {@code tls_certificate_sds_secret_configs} Secret, or, named
 * {@code default} (Istio's ISTIO_MUTUAL), the gateway's own mesh certificate; the client CA of its
 * validation Secret ({@code validation_context_sds_secret_config}, directly or in a
 * {@code combined_validation_context}), or, named {@code ROOTCA}, the mesh's root certificates;
 * client certificates required when {@code require_client_certificate}, else verified when sent
 * (OPTIONAL_MUTUAL), their SANs checked against the combined context's
 * {@code match_typed_subject_alt_names} ({@link ClientCertificates}); its ALPN protocols, TLS
 * versions (1.2 and 1.3 unless {@code tls_params} narrows them) and TLS 1.2 cipher suites
 * ({@code tls_params.cipher_suites}, TLS 1.3's own suites kept as Envoy does). BoringSSL through
 * netty-tcnative, or the JDK's provider, as proxy-core's {@code TlsContexts} chose.
 *
 * <p>Rotation: a new Secret version is a new {@link Held} in the next snapshot, a renewed mesh
 * certificate a new {@link WorkloadCertificate}: a new context for the connections that start
 * from then on; open connections keep theirs. Contexts of versions no longer current are dropped
 * by {@link #retain}. Thread-safe.
 */
final class GatewayTls {

    /** Istio's SDS name of the proxy's own workload certificate. */
    static final String WORKLOAD_CERTIFICATE = "default";
    /** Istio's SDS name of the mesh's root certificates. */
    static final String ROOT_CA = "ROOTCA";

    /** Why a chain cannot terminate TLS now: its Secret is not (yet) there. */
    static final class MissingSecret extends Exception {
        MissingSecret(String message) {
            super(message, null, false, false);
        }
    }

    /** Key material by SDS name and its version (identity: a new version is a new object). */
    private record Material(String name, Object version, List<X509Certificate> chain, PrivateKey key,
                            List<X509Certificate> cas) {}

    /** A context and the versions it was built from. */
    private record Entry(Material certificate, Material ca, SslContext context) {}

    private final SslProvider provider;
    private final Supplier<WorkloadCertificate> meshCertificate;
    private final TrustBundle meshRoots;
    private final Map<DownstreamTlsContext, Entry> contexts = new ConcurrentHashMap<>();

    /**
     * @param meshCertificate the gateway's own certificate (null when none yet) for SDS {@code default}
     * @param meshRoots the mesh's roots for SDS {@code ROOTCA}; null: such chains refuse handshakes
     */
    GatewayTls(SslProvider provider, Supplier<WorkloadCertificate> meshCertificate, TrustBundle meshRoots) {
        this.provider = requireNonNull(provider, "provider");
        this.meshCertificate = requireNonNull(meshCertificate, "meshCertificate");
        this.meshRoots = meshRoots;
    }

    /** The CA's SDS name of {@code common}, or null when clients are not verified. */
    static String caName(CommonTlsContext common) {
        if (common.hasCombinedValidationContext()) {
            return common.getCombinedValidationContext().getValidationContextSdsSecretConfig().getName();
        }
        return common.hasValidationContextSdsSecretConfig() ? common.getValidationContextSdsSecretConfig().getName()
                : null;
    }

    /**
     * The server context of a chain's {@code tls} in snapshot {@code c}.
     *
     * @throws MissingSecret naming the Secret when one it names is not in {@code c} (or the mesh
     *     certificate is not issued yet)
     * @throws SSLException when the provider refuses the material
     */
    SslContext context(ConfigSnapshot c, DownstreamTlsContext tls) throws MissingSecret, SSLException {
        CommonTlsContext common = tls.getCommonTlsContext();
        String certName = common.getTlsCertificateSdsSecretConfigs(0).getName();
        String caName = caName(common);
        Entry e = contexts.get(tls);
        Object certVersion = current(c, certName);
        if (e != null && certVersion != null && e.certificate().version() == certVersion
                && (caName == null ? e.ca() == null : e.ca() != null && e.ca().version() == current(c, caName))) {
            return e.context(); // the common case: parse nothing per handshake
        }
        Material certificate = certificate(c, certName);
        Material ca = caName == null ? null : ca(c, caName);
        SslContext built = build(tls, certificate, ca);
        contexts.put(tls, new Entry(certificate, ca, built));
        return built;
    }

    private Material certificate(ConfigSnapshot c, String name) throws MissingSecret {
        if (name.equals(WORKLOAD_CERTIFICATE)) {
            WorkloadCertificate w = meshCertificate.get();
            if (w == null) {
                throw new MissingSecret("secret " + name + " (the gateway's own mesh certificate) not issued yet");
            }
            return new Material(name, w, w.presentedChain(), w.privateKey(), null);
        }
        Held<Secret> held = c.secrets().get(name);
        if (held == null || !held.resource().hasTlsCertificate()) {
            throw new MissingSecret("secret " + name + " not received (or not a tls_certificate)");
        }
        SecretMaterial.KeyPair pair = SecretMaterial.keyPair(held.resource().getTlsCertificate());
        return new Material(name, held, pair.chain(), pair.key(), null);
    }

    private Material ca(ConfigSnapshot c, String name) throws MissingSecret {
        if (name.equals(ROOT_CA)) {
            if (meshRoots == null) {
                throw new MissingSecret("secret " + name + ": the gateway has no mesh root certificates");
            }
            return new Material(name, meshRoots, null, null, meshRoots.roots());
        }
        Held<Secret> held = c.secrets().get(name);
        if (held == null || !held.resource().hasValidationContext()) {
            throw new MissingSecret("secret " + name + " not received (or not a validation_context)");
        }
        return new Material(name, held, null, null, SecretMaterial.trustedCas(held.resource().getValidationContext()));
    }

    /** The current version of the material named {@code name} in {@code c}, or null. */
    private Object current(ConfigSnapshot c, String name) {
        return switch (name) {
            case WORKLOAD_CERTIFICATE -> meshCertificate.get();
            case ROOT_CA -> meshRoots;
            default -> c.secrets().get(name);
        };
    }

    /** Drops the contexts of chains and versions {@code c} (and the mesh identity) no longer hold. */
    void retain(ConfigSnapshot c) {
        contexts.entrySet().removeIf(e -> current(c, e.getValue().certificate().name())
                != e.getValue().certificate().version()
                || (e.getValue().ca() != null && current(c, e.getValue().ca().name()) != e.getValue().ca().version()));
    }

    private SslContext build(DownstreamTlsContext tls, Material certificate, Material ca) throws SSLException {
        CommonTlsContext common = tls.getCommonTlsContext();
        SslContextBuilder b = SslContextBuilder.forServer(certificate.key(),
                        certificate.chain().toArray(X509Certificate[]::new))
                .sslProvider(provider)
                .protocols(protocols(common.getTlsParams()));
        if (common.getTlsParams().getCipherSuitesCount() > 0) {
            List<String> ciphers = new ArrayList<>(TlsCipherSuites.TLS13);
            common.getTlsParams().getCipherSuitesList().forEach(n -> ciphers.add(TlsCipherSuites.iana(n)));
            b.ciphers(ciphers);
        }
        if (common.getAlpnProtocolsCount() > 0) {
            b.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                    // The only behaviours both providers support: no common protocol → no ALPN.
                    ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                    ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                    common.getAlpnProtocolsList()));
        }
        if (ca != null) {
            var defaults = common.hasCombinedValidationContext()
                    ? common.getCombinedValidationContext().getDefaultValidationContext()
                    : io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext
                            .getDefaultInstance();
            b.trustManager(new ClientCertificates(ca.cas(), defaults.getMatchTypedSubjectAltNamesList(),
                            defaults.getVerifyCertificateSpkiList(), defaults.getVerifyCertificateHashList()))
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
