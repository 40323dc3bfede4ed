package dev.ambit.waypoint.http.jwt;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * A JWS compact token (RFC 7515/7519) parsed as Envoy's jwt_verify_lib parses it, and its
 * checks in Envoy's order: time constraints, then the signature against a {@link Jwks}.
 * Signature algorithms: RS256/384/512, PS256/384/512, ES256/384/512, with the JDK's providers.
 */
final class Jwt {

    /** A signature algorithm: the JDK's name for it and the key it needs. */
    private enum Alg {
        RS256("SHA256withRSA", "RSA", null), RS384("SHA384withRSA", "RSA", null), RS512("SHA512withRSA", "RSA", null),
        PS256("RSASSA-PSS", "RSA", null), PS384("RSASSA-PSS", "RSA", null), PS512("RSASSA-PSS", "RSA", null),
        ES256("SHA256withECDSAinP1363Format", "EC", "P-256"), ES384("SHA384withECDSAinP1363Format", "EC", "P-384"),
        ES512("SHA512withECDSAinP1363Format", "EC", "P-521");

        final String jdk;
        final String kty;
        final String crv;

        Alg(String jdk, String kty, String crv) {
            this.jdk = jdk;
            this.kty = kty;
            this.crv = crv;
        }

        Signature signature() throws GeneralSecurityException {
            Signature s = Signature.getInstance(jdk);
            if (name().startsWith("PS")) {
                int bits = Integer.parseInt(name().substring(2));
                String digest = "SHA-" + bits;
                s.setParameter(new PSSParameterSpec(digest, "MGF1", new MGF1ParameterSpec(digest), bits / 8, 1));
            }
            return s;
        }
    }

    /** Algorithms jwt_verify_lib knows and the waypoint does not: no key in a parsed set can match them. */
    private static final List<String> KNOWN_UNSUPPORTED = List.of("HS256", "HS384", "HS512", "EdDSA");

    final String token;
    final Map<String, Object> header;
    final Map<String, Object> payload;
    final String alg;
    final String kid;
    final String iss;
    final String sub;
    final List<String> audiences;
    final long exp;
    final long nbf;
    final String payloadBase64;
    private final byte[] signingInput;
    private final byte[] signature;

    private Jwt(String token, Map<String, Object> header, Map<String, Object> payload, String alg, String kid,
                String iss, String sub, List<String> audiences, long exp, long nbf, String payloadBase64,
                byte[] signingInput, byte[] signature) {
        this.token = token;
        this.header = header;
        this.payload = payload;
        this.alg = alg;
        this.kid = kid;
        this.iss = iss;
        this.sub = sub;
        this.audiences = audiences;
        this.exp = exp;
        this.nbf = nbf;
        this.payloadBase64 = payloadBase64;
        this.signingInput = signingInput;
        this.signature = signature;
    }

    /** Thrown by {@link #parse} with the status Envoy reports. */
    static final class Invalid extends Exception {
        final JwtStatus status;

        Invalid(JwtStatus status) {
            super(status.message(), null, false, false);
            this.status = status;
        }
    }

    static Jwt parse(String token) throws Invalid {
        String[] parts = token.split("\\.", -1);
        if (parts.length != 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new Invalid(JwtStatus.BAD_FORMAT);
        }
        Map<String, Object> header = json(parts[0], JwtStatus.HEADER_BAD_BASE64, JwtStatus.HEADER_BAD_JSON);
        if (!(header.get("alg") instanceof String alg)) {
            throw new Invalid(JwtStatus.HEADER_BAD_ALG);
        }
        if (!KNOWN_UNSUPPORTED.contains(alg) && !isSupported(alg)) {
            throw new Invalid(JwtStatus.HEADER_NOT_IMPLEMENTED_ALG);
        }
        Object kidValue = header.get("kid");
        if (kidValue != null && !(kidValue instanceof String)) {
            throw new Invalid(JwtStatus.HEADER_BAD_KID);
        }
        Map<String, Object> payload = json(parts[1], JwtStatus.PAYLOAD_BAD_BASE64, JwtStatus.PAYLOAD_BAD_JSON);
        Object iss = payload.get("iss");
        if (iss != null && !(iss instanceof String)) {
            throw new Invalid(JwtStatus.PAYLOAD_ISS_NOT_STRING);
        }
        Object sub = payload.get("sub");
        if (sub != null && !(sub instanceof String)) {
            throw new Invalid(JwtStatus.PAYLOAD_SUB_NOT_STRING);
        }
        List<String> audiences = new ArrayList<>();
        Object aud = payload.get("aud");
        if (aud instanceof String s) {
            audiences.add(s);
        } else if (aud instanceof List<?> l) {
            for (Object o : l) {
                if (!(o instanceof String s)) {
                    throw new Invalid(JwtStatus.PAYLOAD_AUD_BAD);
                }
                audiences.add(s);
            }
        } else if (aud != null) {
            throw new Invalid(JwtStatus.PAYLOAD_AUD_BAD);
        }
        long exp = seconds(payload.get("exp"), JwtStatus.PAYLOAD_EXP_BAD);
        long nbf = seconds(payload.get("nbf"), JwtStatus.PAYLOAD_NBF_BAD);
        byte[] signature;
        try {
            signature = Base64.getUrlDecoder().decode(parts[2]);
        } catch (IllegalArgumentException e) {
            throw new Invalid(JwtStatus.SIGNATURE_BAD_BASE64);
        }
        if (signature.length == 0) {
            throw new Invalid(JwtStatus.BAD_FORMAT);
        }
        byte[] input = (parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII);
        return new Jwt(token, header, payload, alg, (String) kidValue, (String) iss, (String) sub,
                List.copyOf(audiences), exp, nbf, parts[1], input, signature);
    }

    private static boolean isSupported(String alg) {
        for (Alg a : Alg.values()) {
            if (a.name().equals(alg)) {
                return true;
            }
        }
        return false;
    }

    private static Map<String, Object> json(String b64, JwtStatus badBase64, JwtStatus badJson) throws Invalid {
        byte[] bytes;
        try {
            bytes = Base64.getUrlDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw new Invalid(badBase64);
        }
        try {
            return Json.parseObject(new String(bytes, StandardCharsets.UTF_8));
        } catch (Exception e) {
            throw new Invalid(badJson);
        }
    }

    /** A NumericDate: absent is 0; else a non-negative whole number of seconds. */
    private static long seconds(Object v, JwtStatus bad) throws Invalid {
        if (v == null) {
            return 0;
        }
        if (v instanceof Double d && d >= 0 && d == Math.rint(d) && d < 9.2e18) {
            return d.longValue();
        }
        throw new Invalid(bad);
    }

    /** {@code nbf} and {@code exp} against {@code nowSeconds}, each with {@code skewSeconds} of slack (Envoy: 60). */
    JwtStatus checkTime(long nowSeconds, long skewSeconds) {
        if (nbf != 0 && nowSeconds + skewSeconds < nbf) {
            return JwtStatus.NOT_YET_VALID;
        }
        if (exp != 0 && nowSeconds > exp + skewSeconds) {
            return JwtStatus.EXPIRED;
        }
        return JwtStatus.OK;
    }

    /**
     * The signature against {@code jwks}: keys whose {@code kid} (when both have one) and
     * {@code alg} (when the key names one) and type fit the token are tried in order.
     */
    JwtStatus verify(Jwks jwks) {
        if (jwks.keys().isEmpty()) {
            return JwtStatus.JWKS_NO_VALID_KEYS;
        }
        Alg a;
        try {
            a = Alg.valueOf(alg);
        } catch (IllegalArgumentException e) {
            return JwtStatus.JWKS_KID_ALG_MISMATCH;
        }
        boolean matched = false;
        for (Jwks.Key k : jwks.keys()) {
            if (kid != null && k.kid() != null && !kid.equals(k.kid())) {
                continue;
            }
            if (k.alg() != null && !k.alg().equals(alg)) {
                continue;
            }
            if (!a.kty.equals(k.kty()) || (a.crv != null && !a.crv.equals(k.crv()))) {
                continue;
            }
            if (!(k.key() instanceof RSAPublicKey) && !(k.key() instanceof ECPublicKey)) {
                continue;
            }
            matched = true;
            try {
                Signature s = a.signature();
                s.initVerify(k.key());
                s.update(signingInput);
                if (s.verify(signature)) {
                    return JwtStatus.OK;
                }
            } catch (GeneralSecurityException | RuntimeException e) {
                // A malformed signature is a failed verification, as in Envoy.
            }
        }
        return matched ? JwtStatus.VERIFICATION_FAIL : JwtStatus.JWKS_KID_ALG_MISMATCH;
    }
}
