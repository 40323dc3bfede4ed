package dev.ambit.waypoint.config;

import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import dev.ambit.common.config.TlsCipherSuites;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import java.util.function.BiConsumer;

/**
 * {@link ResourceValidator}'s checks of the gateway's TLS resources (Envoy's constraints on
 * what the gateway implements): a TLS chain presents exactly one certificate by SDS name,
 * offers only the ALPN protocols the engine speaks, has a TLS range the providers support and
 * TLS 1.2 cipher suites they can offer ({@link TlsCipherSuites}), a chain requiring client
 * certificates names the CA to verify them with (directly or in a {@code combined_validation_context},
 * whose defaults hold only exact or pattern SAN matchers of a known type); a Secret holds a
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
            for (int i = 0; i < params.getCipherSuitesCount(); i++) {
                if (!TlsCipherSuites.supported(params.getCipherSuites(i))) {
                    problem.accept(join(p, "tls_params.cipher_suites[" + i + "]"), "\"" + params.getCipherSuites(i)
                            + "\" not offered by this gateway (expected some of " + TlsCipherSuites.names() + ")");
                }
            }
        }
        if (c.hasCombinedValidationContext()) {
            var combined = c.getCombinedValidationContext();
            String cp = join(p, "combined_validation_context");
            if (!combined.hasValidationContextSdsSecretConfig()) {
                problem.accept(join(cp, "validation_context_sds_secret_config"), "missing (expected: the CA that "
                        + "client certificates must chain to)");
            }
            CertificateValidationContext d = combined.getDefaultValidationContext();
            if (d.hasTrustedCa()) {
                problem.accept(join(cp, "default_validation_context.trusted_ca"), "not supported by this gateway "
                        + "(expected: the CA by SDS, validation_context_sds_secret_config)");
            }
            for (int i = 0; i < d.getMatchTypedSubjectAltNamesCount(); i++) {
                SubjectAltNameMatcher m = d.getMatchTypedSubjectAltNames(i);
                String mp = join(cp, "default_validation_context.match_typed_subject_alt_names[" + i + "]");
                if (m.getSanType() == SubjectAltNameMatcher.SanType.SAN_TYPE_UNSPECIFIED) {
                    problem.accept(join(mp, "san_type"), "missing (expected: DNS, URI, EMAIL or IP_ADDRESS)");
                }
                if (!m.hasMatcher()) {
                    problem.accept(join(mp, "matcher"), "missing (expected: the name to accept)");
                }
            }
            for (int i = 0; i < d.getVerifyCertificateSpkiCount(); i++) {
                String pin = d.getVerifyCertificateSpki(i);
                boolean ok;
                try {
                    ok = java.util.Base64.getDecoder().decode(pin).length == 32;
                } catch (IllegalArgumentException e) {
                    ok = false;
                }
                if (!ok) {
                    problem.accept(join(cp, "default_validation_context.verify_certificate_spki[" + i + "]"), "\""
                            + pin + "\" (expected: a base64 SHA-256 digest)");
                }
            }
            for (int i = 0; i < d.getVerifyCertificateHashCount(); i++) {
                if (!d.getVerifyCertificateHash(i).replace(":", "").matches("[0-9a-fA-F]{64}")) {
                    problem.accept(join(cp, "default_validation_context.verify_certificate_hash[" + i + "]"), "\""
                            + d.getVerifyCertificateHash(i) + "\" (expected: a hex SHA-256 digest)");
                }
            }
        }
        boolean hasCa = c.hasValidationContextSdsSecretConfig() || c.hasCombinedValidationContext();
        if (t.getRequireClientCertificate().getValue() && !hasCa) {
            problem.accept(join(p, "validation_context_sds_secret_config"), "missing (expected: the CA that client "
                    + "certificates must chain to, as require_client_certificate is true)");
        }
    }

    /** The validation context's {@code match_typed_subject_alt_names} only in a combined context's defaults. */
    static void secretValidationContext(CertificateValidationContext v, String path, BiConsumer<String, String> problem) {
        if (v.getMatchTypedSubjectAltNamesCount() > 0 || v.getVerifyCertificateSpkiCount() > 0
                || v.getVerifyCertificateHashCount() > 0) {
            problem.accept(join(path, "validation_context"), "SAN matchers and pins are not supported in an SDS "
                    + "Secret by this gateway (expected: in the listener's combined_validation_context)");
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
                secretValidationContext(s.getValidationContext(), path, problem);
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
