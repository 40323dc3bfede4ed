package dev.ambit.waypoint.http.jwt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import org.junit.jupiter.api.Test;

class JwtVerifierTest {

    static final TestTokens KEYS = new TestTokens("rsa-1", "ec-1");
    static final String ISS = "https://issuer.example";

    static dev.ambit.waypoint.http.jwt.JwtProvider provider(String jwks, String... audiences) {
        return new dev.ambit.waypoint.http.jwt.JwtProvider("origins-0", JwtProvider.newBuilder().setIssuer(ISS)
                .addAllAudiences(java.util.List.of(audiences))
                .setLocalJwks(DataSource.newBuilder().setInlineString(jwks)).build());
    }

    static long now() {
        return System.currentTimeMillis() / 1000;
    }

    static JwtStatus check(String token, String... audiences) throws Jwt.Invalid {
        return provider(KEYS.jwks(), audiences).verify(Jwt.parse(token), now());
    }

    @Test
    void rsaEcAndPssSignaturesVerify() throws Exception {
        long exp = now() + 600;
        String payload = "{\"iss\":\"" + ISS + "\",\"sub\":\"alice\",\"exp\":" + exp + "}";
        assertThat(check(KEYS.sign("RS256", "rsa-1", payload))).isEqualTo(JwtStatus.OK);
        assertThat(check(KEYS.sign("RS384", "rsa-1", payload))).isEqualTo(JwtStatus.OK);
        assertThat(check(KEYS.sign("RS512", null, payload))).as("no kid: every key that fits is tried").isEqualTo(JwtStatus.OK);
        assertThat(check(KEYS.sign("ES256", "ec-1", payload))).isEqualTo(JwtStatus.OK);
        assertThat(check(KEYS.sign("PS256", "rsa-1", payload))).isEqualTo(JwtStatus.OK);
    }

    @Test
    void aForgedOrTamperedTokenFailsVerification() throws Exception {
        String good = KEYS.rs256(ISS, "alice", "shop", 600);
        String[] parts = good.split("\\.");
        String tampered = parts[0] + "." + TestTokens.b64(("{\"iss\":\"" + ISS + "\",\"sub\":\"root\"}")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8)) + "." + parts[2];
        assertThat(check(tampered)).isEqualTo(JwtStatus.VERIFICATION_FAIL);
        TestTokens other = new TestTokens("rsa-1", "ec-1");
        assertThat(check(other.rs256(ISS, "alice", "shop", 600))).as("signed by another key, same kid")
                .isEqualTo(JwtStatus.VERIFICATION_FAIL);
        assertThat(JwtStatus.VERIFICATION_FAIL.message()).isEqualTo("Jwt verification fails");
    }

    @Test
    void kidOrAlgWithoutAKeyIsEnvoysMismatch() throws Exception {
        String payload = "{\"iss\":\"" + ISS + "\"}";
        assertThat(check(KEYS.sign("RS256", "nope", payload))).isEqualTo(JwtStatus.JWKS_KID_ALG_MISMATCH);
        // The EC key is ES256 only: an RS256 token naming its kid finds no key.
        assertThat(check(KEYS.sign("RS256", "ec-1", payload))).isEqualTo(JwtStatus.JWKS_KID_ALG_MISMATCH);
        assertThat(JwtStatus.JWKS_KID_ALG_MISMATCH.message()).isEqualTo("Jwks doesn't have key to match kid or alg from Jwt");
    }

    @Test
    void expiryAndNotBeforeAllowEnvoysSixtySecondsOfSkew() throws Exception {
        assertThat(check(KEYS.rs256(ISS, "alice", "shop", -30))).as("expired 30 s ago: within skew").isEqualTo(JwtStatus.OK);
        assertThat(check(KEYS.rs256(ISS, "alice", "shop", -120))).isEqualTo(JwtStatus.EXPIRED);
        assertThat(JwtStatus.EXPIRED.message()).isEqualTo("Jwt is expired");
        String future = KEYS.sign("RS256", "rsa-1", "{\"iss\":\"" + ISS + "\",\"nbf\":" + (now() + 300) + "}");
        assertThat(check(future)).isEqualTo(JwtStatus.NOT_YET_VALID);
        // An expired token is reported as expired before its signature is looked at, as in Envoy.
        TestTokens other = new TestTokens("rsa-1", "ec-1");
        assertThat(check(other.rs256(ISS, "alice", "shop", -120))).isEqualTo(JwtStatus.EXPIRED);
    }

    @Test
    void issuerAndAudience() throws Exception {
        assertThat(check(KEYS.rs256("https://other", "alice", "shop", 600))).isEqualTo(JwtStatus.UNKNOWN_ISSUER);
        assertThat(check(KEYS.rs256(ISS, "alice", "shop", 600), "billing")).isEqualTo(JwtStatus.AUDIENCE_NOT_ALLOWED);
        assertThat(JwtStatus.AUDIENCE_NOT_ALLOWED.httpStatus()).isEqualTo(403);
        assertThat(check(KEYS.rs256(ISS, "alice", "shop", 600), "billing", "shop")).isEqualTo(JwtStatus.OK);
    }

    @Test
    void malformedTokensAreRefusedWithEnvoysReasons() {
        assertThatThrownBy(() -> Jwt.parse("abc.def")).extracting(e -> ((Jwt.Invalid) e).status)
                .isEqualTo(JwtStatus.BAD_FORMAT);
        assertThatThrownBy(() -> Jwt.parse("!!!.e30.c2ln")).extracting(e -> ((Jwt.Invalid) e).status)
                .isEqualTo(JwtStatus.HEADER_BAD_BASE64);
        String noneAlg = TestTokens.b64("{\"alg\":\"none\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThatThrownBy(() -> Jwt.parse(noneAlg + ".e30.c2ln")).extracting(e -> ((Jwt.Invalid) e).status)
                .isEqualTo(JwtStatus.HEADER_NOT_IMPLEMENTED_ALG);
        String rs = TestTokens.b64("{\"alg\":\"RS256\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThatThrownBy(() -> Jwt.parse(rs + ".bm90IGpzb24.c2ln")).extracting(e -> ((Jwt.Invalid) e).status)
                .isEqualTo(JwtStatus.PAYLOAD_BAD_JSON);
    }

    @Test
    void aJwksWithoutUsableKeysFailsEveryToken() throws Exception {
        Jwks empty = Jwks.parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
        assertThat(empty.problem()).contains("Jwks doesn't have any valid public key");
        assertThat(Jwks.parse("not json").problem()).isPresent();
        assertThat(provider("{\"keys\":[]}").verify(Jwt.parse(KEYS.rs256(ISS, "a", "b", 600)), now()))
                .isEqualTo(JwtStatus.JWKS_NO_VALID_KEYS);
    }
}
