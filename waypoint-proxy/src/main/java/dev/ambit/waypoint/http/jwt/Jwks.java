package dev.ambit.waypoint.http.jwt;

import static java.util.Objects.requireNonNull;

import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A JSON Web Key Set (RFC 7517) as a provider's {@code local_jwks} inlines it: its RSA and EC
 * public keys. Keys that cannot be used (an unknown {@code kty}, a bad modulus, a private-only
 * entry) are skipped as Envoy skips them; a set with no usable key makes every token fail with
 * {@link JwtStatus#JWKS_NO_VALID_KEYS}.
 */
public final class Jwks {

    /** One usable key: its {@code kid} and {@code alg} (either may be null), its type and the key. */
    record Key(String kid, String alg, String kty, String crv, PublicKey key) {}

    private final List<Key> keys;
    private final String problem;

    private Jwks(List<Key> keys, String problem) {
        this.keys = List.copyOf(keys);
        this.problem = problem;
    }

    /** Parses {@code json}; never throws (a set that does not parse has no keys, {@link #problem()} says why). */
    public static Jwks parse(String json) {
        requireNonNull(json, "json");
        Map<String, Object> root;
        try {
            root = Json.parseObject(json);
        } catch (Exception e) {
            return new Jwks(List.of(), "Jwks is an invalid JSON");
        }
        if (!(root.get("keys") instanceof List<?> list)) {
            return new Jwks(List.of(), root.containsKey("keys") ? "[keys] in Jwks is not an array"
                    : "Jwks does not have [keys] field");
        }
        List<Key> keys = new ArrayList<>();
        for (Object o : list) {
            if (o instanceof Map<?, ?> m) {
                key(m).ifPresent(keys::add);
            }
        }
        return new Jwks(keys, keys.isEmpty() ? JwtStatus.JWKS_NO_VALID_KEYS.message() : null);
    }

    List<Key> keys() {
        return keys;
    }

    /** Why this set has no keys, or empty. */
    public Optional<String> problem() {
        return Optional.ofNullable(problem);
    }

    private static Optional<Key> key(Map<?, ?> m) {
        String kty = string(m.get("kty"));
        String kid = string(m.get("kid"));
        String alg = string(m.get("alg"));
        try {
            if ("RSA".equals(kty)) {
                BigInteger n = unsigned(string(m.get("n")));
                BigInteger e = unsigned(string(m.get("e")));
                if (n == null || e == null || (alg != null && !alg.startsWith("RS") && !alg.startsWith("PS"))) {
                    return Optional.empty();
                }
                PublicKey k = KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(n, e));
                return Optional.of(new Key(kid, alg, kty, null, k));
            }
            if ("EC".equals(kty)) {
                String crv = string(m.get("crv"));
                String curve = switch (crv == null ? "" : crv) {
                    case "P-256" -> "secp256r1";
                    case "P-384" -> "secp384r1";
                    case "P-521" -> "secp521r1";
                    default -> null;
                };
                BigInteger x = unsigned(string(m.get("x")));
                BigInteger y = unsigned(string(m.get("y")));
                if (curve == null || x == null || y == null) {
                    return Optional.empty();
                }
                AlgorithmParameters p = AlgorithmParameters.getInstance("EC");
                p.init(new ECGenParameterSpec(curve));
                ECParameterSpec spec = p.getParameterSpec(ECParameterSpec.class);
                PublicKey k = KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(new ECPoint(x, y), spec));
                return Optional.of(new Key(kid, alg, kty, crv, k));
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            // An unusable key is skipped, as Envoy skips it.
        }
        return Optional.empty();
    }

    private static String string(Object o) {
        return o instanceof String s ? s : null;
    }

    private static BigInteger unsigned(String b64url) {
        if (b64url == null || b64url.isEmpty()) {
            return null;
        }
        return new BigInteger(1, Base64.getUrlDecoder().decode(b64url));
    }
}
