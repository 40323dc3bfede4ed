package dev.ambit.waypoint.config;

import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import java.util.function.BiConsumer;

/**
 * {@link ResourceValidator}'s checks of the gateway's TLS resources (Envoy's constraints on
 * what the gateway implements): a TLS chain presents exactly one certificate by SDS name,
 * offers only the ALPN protocols the engine speaks, has a TLS range the providers support, and
 * a chain requiring client certificates names the CA to verify them with; a Secret holds a
 * certificate and its key, or a CA bundle, as PEM that loads. Problems go to
 * {@code problem(path, reason)}; they name fields, never key bytes.
 */
final class GatewayChecks {

    private GatewayChecks() {}

    static void downstreamTls(DownstreamTlsContext t, String path, BiConsumer<String, String> problem) {
        String p = join(path, "common_tls_context");
        CommonTlsContext c = t.getCommonTlsContext();
        if (c.getTlsCertificateSdsSecretConfigsCount() != 1) {
            problem.accept(join(p, "tls_certificate_sds_secret_configs"), c.getTlsCertificateSdsSecretConfigsCount()
                    + " certificates (expected: exactly one SDS secret, Istio's credentialName)");
        }
        for (int i = 0; i < c.getAlpnProtocolsCount(); i++) {
            if (!FieldTable.Gateway.ALPN.contains(c.getAlpnProtocols(i))) {
                problem.accept(join(p, "alpn_protocols[" + i + "]"), "\"" + c.getAlpnProtocols(i)
                        + "\" not supported by this gateway (expected some of " + new java.util.TreeSet<>(
                        FieldTable.Gateway.ALPN) + ")");
            }
        }
        if (c.hasTlsParams()) {
            TlsParameters params = c.getTlsParams();
            int min = rank(params.getTlsMinimumProtocolVersion(), 12);
            int max = rank(params.getTlsMaximumProtocolVersion(), 13);
            if (min > max) {
                problem.accept(join(p, "tls_params"), params.getTlsMinimumProtocolVersion() + " above "
                        + params.getTlsMaximumProtocolVersion() + " (expected: minimum <= maximum)");
            }
        }
        if (t.getRequireClientCertificate().getValue() && !c.hasValidationContextSdsSecretConfig()) {
            problem.accept(join(p, "validation_context_sds_secret_config"), "missing (expected: the CA that client "
                    + "certificates must chain to, as require_client_certificate is true)");
        }
    }

    static void secret(Secret s, String path, BiConsumer<String, String> problem) {
        switch (s.getTypeCase()) {
            case TLS_CERTIFICATE -> {
                try {
                    SecretMaterial.keyPair(s.getTlsCertificate());
                } catch (IllegalArgumentException e) {
                    problem.accept(join(path, "tls_certificate." + e.getMessage().split(":", 2)[0]),
                            e.getMessage().split(":", 2)[1].strip());
                }
            }
            case VALIDATION_CONTEXT -> {
                try {
                    SecretMaterial.trustedCas(s.getValidationContext());
                } catch (IllegalArgumentException e) {
                    problem.accept(join(path, "validation_context.trusted_ca"), e.getMessage().split(":", 2)[1].strip());
                }
            }
            default -> problem.accept(path.isEmpty() ? "type" : join(path, "type"),
                    "missing (expected: tls_certificate or validation_context)");
        }
    }

    /** A TLS version as a number (TLS_AUTO: the default of that end of the range). */
    private static int rank(TlsParameters.TlsProtocol v, int auto) {
        return switch (v) {
            case TLSv1_2 -> 12;
            case TLSv1_3 -> 13;
            default -> auto;
        };
    }

    private static String join(String path, String field) {
        return path.isEmpty() ? field : path + "." + field;
    }
}
