package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.pem.Pem;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The key material of an SDS {@code Secret} (gateway mode), read from its inline PEM: a
 * certificate chain with its private key ({@code tls_certificate}), or the CA certificates a
 * client certificate must chain to ({@code validation_context.trusted_ca}). Parsing checks what
 * Envoy checks when it loads a Secret: PEM that decodes, at least one certificate, one key, and
 * a key that belongs to the first certificate. Errors name the field, never the bytes (the
 * key must not reach a log or a NACK).
 */
public final class SecretMaterial {

    private SecretMaterial() {}

    /** A certificate chain (leaf first) and the leaf's private key. */
    public record KeyPair(List<X509Certificate> chain, PrivateKey key) {
        public KeyPair {
            chain = List.copyOf(requireNonNull(chain, "chain"));
            requireNonNull(key, "key");
        }
    }

    /**
     * The chain and key of {@code c}.
     *
     * @throws IllegalArgumentException naming the field at fault ({@code certificate_chain}, {@code private_key})
     */
    public static KeyPair keyPair(TlsCertificate c) {
        requireNonNull(c, "c");
        List<X509Certificate> chain = certificates(c.getCertificateChain(), "certificate_chain");
        PrivateKey key;
        try {
            key = Pem.privateKey("private_key", text(c.getPrivateKey(), "private_key"));
        } catch (IllegalArgumentException e) {
            // Pem's message names the block types it saw, not the key's bytes.
            throw new IllegalArgumentException("private_key: not a PEM private key (expected: PKCS#8, EC or RSA, "
                    + "unencrypted)", e);
        }
        if (!matches(key, chain.get(0))) {
            throw new IllegalArgumentException("private_key: does not match the certificate of certificate_chain ("
                    + chain.get(0).getSubjectX500Principal().getName() + ")");
        }
        return new KeyPair(chain, key);
    }

    /**
     * The trusted CA certificates of {@code v}.
     *
     * @throws IllegalArgumentException naming {@code trusted_ca} when it holds no PEM certificate
     */
    public static List<X509Certificate> trustedCas(CertificateValidationContext v) {
        requireNonNull(v, "v");
        return certificates(v.getTrustedCa(), "trusted_ca");
    }

    private static List<X509Certificate> certificates(DataSource source, String field) {
        List<X509Certificate> certs;
        try {
            certs = Pem.certificates(field, text(source, field));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": not PEM certificates (" + e.getMessage() + ")", e);
        }
        if (certs.isEmpty()) {
            throw new IllegalArgumentException(field + ": no certificate (expected: PEM CERTIFICATE blocks)");
        }
        return certs;
    }

    private static String text(DataSource source, String field) {
        return switch (source.getSpecifierCase()) {
            case INLINE_BYTES -> source.getInlineBytes().toString(StandardCharsets.UTF_8);
            case INLINE_STRING -> source.getInlineString();
            default -> throw new IllegalArgumentException(field + ": missing (expected: inline_bytes with PEM)");
        };
    }

    /** Whether {@code key} signs what {@code cert}'s public key verifies (Envoy's key/cert match check). */
    private static boolean matches(PrivateKey key, X509Certificate cert) {
        // A key type the check cannot sign with (RSASSA-PSS, ...): the TLS handshake will tell.
        return dev.ambit.common.pem.KeyPairs.check(key, cert) != dev.ambit.common.pem.KeyPairs.Match.DIFFERS;
    }
}
