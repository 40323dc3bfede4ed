package dev.ambit.waypoint.http.jwt;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.Base64;

/** Keys, a JWKS and signed tokens for tests, minted with the JDK (independent of the verifier's parsing). */
public final class TestTokens {

    public final KeyPair rsa;
    public final KeyPair ec;
    public final String rsaKid;
    public final String ecKid;

    public TestTokens(String rsaKid, String ecKid) {
        try {
            KeyPairGenerator r = KeyPairGenerator.getInstance("RSA");
            r.initialize(2048);
            rsa = r.generateKeyPair();
            KeyPairGenerator e = KeyPairGenerator.getInstance("EC");
            e.initialize(new ECGenParameterSpec("secp256r1"));
            ec = e.generateKeyPair();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        this.rsaKid = rsaKid;
        this.ecKid = ecKid;
    }

    /** The public keys as a JWKS document. */
    public String jwks() {
        RSAPublicKey r = (RSAPublicKey) rsa.getPublic();
        ECPublicKey e = (ECPublicKey) ec.getPublic();
        return "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"" + rsaKid + "\",\"use\":\"sig\",\"n\":\"" + b64(r.getModulus())
                + "\",\"e\":\"" + b64(r.getPublicExponent()) + "\"},{\"kty\":\"EC\",\"kid\":\"" + ecKid
                + "\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"x\":\"" + b64(fixed(e.getW().getAffineX(), 32))
                + "\",\"y\":\"" + b64(fixed(e.getW().getAffineY(), 32)) + "\"}]}";
    }

    /** A token with header {@code {"alg":ALG,"kid":KID,"typ":"JWT"}} and {@code payloadJson}, signed with this set's key. */
    public String sign(String alg, String kid, String payloadJson) {
        String header = "{\"alg\":\"" + alg + "\"" + (kid == null ? "" : ",\"kid\":\"" + kid + "\"") + ",\"typ\":\"JWT\"}";
        String input = b64(header.getBytes(StandardCharsets.UTF_8)) + "."
                + b64(payloadJson.getBytes(StandardCharsets.UTF_8));
        try {
            Signature s;
            if (alg.startsWith("ES")) {
                s = Signature.getInstance("SHA256withECDSAinP1363Format");
                s.initSign(ec.getPrivate());
            } else if (alg.startsWith("PS")) {
                s = Signature.getInstance("RSASSA-PSS");
                s.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
                s.initSign(rsa.getPrivate());
            } else {
                s = Signature.getInstance("SHA" + alg.substring(2) + "withRSA");
                s.initSign(rsa.getPrivate());
            }
            s.update(input.getBytes(StandardCharsets.US_ASCII));
            return input + "." + b64(s.sign());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** An RS256 token for {@code iss}/{@code sub} expiring {@code expInSeconds} from now, audience {@code aud}. */
    public String rs256(String iss, String sub, String aud, long expInSeconds) {
        long now = System.currentTimeMillis() / 1000;
        return sign("RS256", rsaKid, "{\"iss\":\"" + iss + "\",\"sub\":\"" + sub + "\",\"aud\":\"" + aud
                + "\",\"iat\":" + now + ",\"exp\":" + (now + expInSeconds) + ",\"groups\":[\"admins\",\"dev\"]"
                + ",\"scope\":\"read write\",\"azp\":\"cli\"}");
    }

    static String b64(byte[] b) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    static String b64(BigInteger i) {
        byte[] b = i.toByteArray();
        if (b.length > 1 && b[0] == 0) {
            b = java.util.Arrays.copyOfRange(b, 1, b.length);
        }
        return b64(b);
    }

    private static byte[] fixed(BigInteger i, int len) {
        byte[] b = i.toByteArray();
        byte[] out = new byte[len];
        int copy = Math.min(b.length, len);
        System.arraycopy(b, b.length - copy, out, len - copy, copy);
        return out;
    }
}
