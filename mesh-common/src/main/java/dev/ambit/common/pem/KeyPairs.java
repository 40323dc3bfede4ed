package dev.ambit.common.pem;

import static java.util.Objects.requireNonNull;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;

/**
 * Whether a private key belongs to a certificate, for any key type the JDK signs with: a probe
 * signed with the key and verified with the certificate's public key shows they are a pair
 * (Envoy's and Istio's key/certificate check). The CA's own key, gateway certificates at
 * istiod-lite and at the gateway all ask here.
 */
public final class KeyPairs {

    /** What the probe showed. */
    public enum Match {
        /** The key signs what the certificate verifies. */
        MATCHES,
        /** It does not (another key, or another key type than the certificate's). */
        DIFFERS,
        /** A key type this check has no signature algorithm for (RSASSA-PSS, ...): the TLS handshake will tell. */
        UNKNOWN
    }

    private static final byte[] PROBE = "ambit key-matches-certificate probe".getBytes(StandardCharsets.US_ASCII);

    private KeyPairs() {
    }

    /** Signs a probe with {@code key} and verifies it with {@code cert}'s public key. */
    public static Match check(PrivateKey key, X509Certificate cert) {
        requireNonNull(key, "key");
        requireNonNull(cert, "cert");
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            case "Ed448" -> "Ed448";
            default -> null;
        };
        if (algorithm == null) {
            return Match.UNKNOWN;
        }
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(PROBE);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(cert.getPublicKey());
            verifier.update(PROBE);
            return verifier.verify(signature) ? Match.MATCHES : Match.DIFFERS;
        } catch (GeneralSecurityException | RuntimeException e) {
            return Match.DIFFERS; // the certificate's key is of another type, or unusable
        }
    }
}
