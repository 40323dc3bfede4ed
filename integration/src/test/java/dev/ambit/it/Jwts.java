package dev.ambit.it;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.interfaces.RSAPublicKey;
import java.util.Arrays;
import java.util.Base64;

/** JSON Web Tokens for the tests, minted with the JDK alone: RS256 (RFC 7515, 7518, 7519). */
final class Jwts {

    private Jwts() {
    }

    /** A fresh RSA 2048 key pair. */
    static KeyPair rsa() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The JWKS (RFC 7517) holding {@code key}'s public half as {@code kid}. */
    static String jwks(KeyPair key, String kid) {
        RSAPublicKey pub = (RSAPublicKey) key.getPublic();
        return "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"" + kid + "\",\"alg\":\"RS256\",\"use\":\"sig\",\"n\":\""
                + b64(pub.getModulus()) + "\",\"e\":\"" + b64(pub.getPublicExponent()) + "\"}]}";
    }

    /** An RS256 token signed with {@code key} under {@code kid}: iss, sub, iat two hours before exp, exp (epoch s). */
    static String token(KeyPair key, String kid, String issuer, String subject, long expiresAt) {
        String header = b64(("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" + kid + "\"}").getBytes(StandardCharsets.UTF_8));
        String claims = b64(("{\"iss\":\"" + issuer + "\",\"sub\":\"" + subject + "\",\"iat\":" + (expiresAt - 7200)
                + ",\"exp\":" + expiresAt + "}").getBytes(StandardCharsets.UTF_8));
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initSign(key.getPrivate());
            s.update((header + "." + claims).getBytes(StandardCharsets.US_ASCII));
            return header + "." + claims + "." + b64(s.sign());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String b64(byte[] bytes) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /** An unsigned big-endian integer, as JWK writes it (RFC 7518 6.3.1). */
    private static String b64(BigInteger n) {
        byte[] b = n.toByteArray();
        return b64(b[0] == 0 ? Arrays.copyOfRange(b, 1, b.length) : b);
    }
}
