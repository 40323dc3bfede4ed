package dev.ambit.istiod.ingress;

import com.google.protobuf.BoolValue;
import dev.ambit.istiod.l7.GatewayContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.regex.Pattern;

/**
 * A gateway server's {@code DownstreamTlsContext} as Istio's {@code BuildListenerTLSContext} makes
 * it: ALPN h2/http1.1 (TLS servers too, as Istio); the certificate by SDS,
 * {@code kubernetes://NAME} (credentialName) or {@code default} (ISTIO_MUTUAL: the gateway's own
 * mesh certificate); for the modes verifying clients a {@code combined_validation_context} of the
 * CA by SDS ({@code kubernetes://NAME-cacert}, or {@code ROOTCA}, the mesh root, for
 * ISTIO_MUTUAL) and the accepted client SANs as {@code match_typed_subject_alt_names} (exact;
 * URI for {@code scheme://...} such as SPIFFE IDs, IP_ADDRESS for an IP, EMAIL with an {@code @},
 * else DNS) and pins ({@code verify_certificate_spki}, {@code verify_certificate_hash}); {@code require_client_certificate} true for MUTUAL and ISTIO_MUTUAL, false for SIMPLE
 * and OPTIONAL_MUTUAL (a certificate sent is then verified); {@code tls_params} with the TLS range
 * (1.2-1.3 unless set) and the TLS 1.2 {@code cipher_suites} when the server lists them.
 */
public final class DownstreamTls {

    /** Istio's SDS name of a proxy's own workload certificate. */
    public static final String WORKLOAD_CERTIFICATE = "default";
    /** Istio's SDS name of the mesh's root certificates. */
    public static final String ROOT_CA = "ROOTCA";

    private static final Pattern IP = Pattern.compile("^[0-9.]+$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$");

    private DownstreamTls() {
    }

    /** The context of a terminating server's {@code tls} (not PASSTHROUGH). */
    public static DownstreamTlsContext of(String proxyNs, GatewayModel.Tls tls) {
        boolean istio = tls.mode() == GatewayModel.TlsMode.ISTIO_MUTUAL;
        String sds = istio ? WORKLOAD_CERTIFICATE : GatewayTranslator.sdsName(proxyNs, tls.credential());
        TlsParameters.Builder params = TlsParameters.newBuilder()
                .setTlsMinimumProtocolVersion(version(tls.minVersion(), TlsParameters.TlsProtocol.TLSv1_2))
                .setTlsMaximumProtocolVersion(version(tls.maxVersion(), TlsParameters.TlsProtocol.TLSv1_3))
                .addAllCipherSuites(tls.cipherSuites());
        CommonTlsContext.Builder common = CommonTlsContext.newBuilder()
                .addTlsCertificateSdsSecretConfigs(sdsConfig(sds))
                .addAlpnProtocols("h2").addAlpnProtocols("http/1.1")
                .setTlsParams(params);
        if (tls.mode().verifiesClients()) {
            CertificateValidationContext.Builder defaults = CertificateValidationContext.newBuilder();
            for (String san : tls.subjectAltNames()) {
                defaults.addMatchTypedSubjectAltNames(SubjectAltNameMatcher.newBuilder().setSanType(sanType(san))
                        .setMatcher(StringMatcher.newBuilder().setExact(san)));
            }
            defaults.addAllVerifyCertificateSpki(tls.spkiPins()).addAllVerifyCertificateHash(tls.certificateHashes());
            common.setCombinedValidationContext(CommonTlsContext.CombinedCertificateValidationContext.newBuilder()
                    .setDefaultValidationContext(defaults)
                    .setValidationContextSdsSecretConfig(sdsConfig(istio ? ROOT_CA
                            : GatewayTranslator.clientCaSdsName(proxyNs, tls))));
        }
        return DownstreamTlsContext.newBuilder().setCommonTlsContext(common)
                .setRequireClientCertificate(BoolValue.of(tls.mode() == GatewayModel.TlsMode.MUTUAL || istio))
                .build();
    }

    /** The SAN type Istio's SAN string most likely names (Envoy's typed matchers need one). */
    static SubjectAltNameMatcher.SanType sanType(String san) {
        if (san.contains("://")) {
            return SubjectAltNameMatcher.SanType.URI;
        }
        if (IP.matcher(san).matches()) {
            return SubjectAltNameMatcher.SanType.IP_ADDRESS;
        }
        return san.contains("@") ? SubjectAltNameMatcher.SanType.EMAIL : SubjectAltNameMatcher.SanType.DNS;
    }

    private static SdsSecretConfig sdsConfig(String name) {
        return SdsSecretConfig.newBuilder().setName(name).setSdsConfig(GatewayContext.ads()).build();
    }

    private static TlsParameters.TlsProtocol version(String istio, TlsParameters.TlsProtocol fallback) {
        return switch (istio) {
            case "TLSV1_2" -> TlsParameters.TlsProtocol.TLSv1_2;
            case "TLSV1_3" -> TlsParameters.TlsProtocol.TLSv1_3;
            default -> fallback;
        };
    }
}
