package dev.ambit.waypoint.http.jwt;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ObjectDecoder;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.waypoint.config.ResourceValidator;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * What istiod-lite emits for a RequestAuthentication is what the waypoint accepts and
 * enforces: its Listener passes the waypoint's validator, and the compiled jwt_authn config
 * verifies a token of the policy's issuer and refuses one of another.
 */
class IstiodJwtContractTest {

    @Test
    void istiodsJwtAuthnIsAcceptedAndVerifiesTokens() throws Exception {
        TestTokens keys = new TestTokens("k1", "k1-ec");
        String ra = """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: shop}
                spec:
                  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}]
                  jwtRules:
                  - issuer: https://issuer.example
                    audiences: [shop]
                    jwks: '%s'
                    outputClaimToHeaders: [{header: x-user, claim: sub}]
                    fromHeaders: [{name: authorization, prefix: "Bearer "}, {name: x-jwt}]
                  - issuer: https://other.example
                    jwks: '%s'
                """.formatted(keys.jwks(), keys.jwks());
        String base = Files.readString(Path.of("../istiod-lite/src/test/resources/l7/base/mesh.yaml"));
        ConfigSnapshot.Builder snapshot = ConfigSnapshot.builder();
        ObjectDecoder decoder = new ObjectDecoder();
        for (String yaml : new String[] {base, ra}) {
            for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(yaml)) {
                if (doc instanceof Map<?, ?> m) {
                    ObjectDecoder.Result r = decoder.decode("test.yaml", m, "default");
                    assertThat(r.errors()).isEmpty();
                    if (r.kind() != null) {
                        snapshot.put(r.kind(), r.object(), "test.yaml");
                    }
                }
            }
        }
        L7Resources resources = L7Translator.of(MeshConfig.defaults()).translate(snapshot.build());
        Listener listener = (Listener) resources.forWaypoint("shop", "waypoint").get(TypeUrls.LISTENER).get("waypoint");
        assertThat(ResourceValidator.validate("waypoint", listener)).isEmpty();

        FilterChain reviews = listener.getFilterChainsList().stream()
                .filter(c -> c.getName().equals("inbound-vip|9080|http|reviews.shop.svc.cluster.local")).findFirst()
                .orElseThrow();
        HttpConnectionManager hcm = reviews.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        assertThat(hcm.getHttpFilters(0).getName()).isEqualTo(JwtAuthn.NAME);
        JwtAuthnConfig config = new JwtAuthnConfig(hcm.getHttpFilters(0).getTypedConfig().unpack(JwtAuthentication.class));
        JwtProvider issuer = config.providers.get("origins-0");
        assertThat(issuer.issuer).isEqualTo("https://issuer.example");
        long now = System.currentTimeMillis() / 1000;
        assertThat(issuer.verify(Jwt.parse(keys.rs256("https://issuer.example", "alice", "shop", 600)), now))
                .isEqualTo(JwtStatus.OK);
        assertThat(issuer.verify(Jwt.parse(keys.rs256("https://issuer.example", "alice", "shop", -600)), now))
                .isEqualTo(JwtStatus.EXPIRED);
        assertThat(issuer.verify(Jwt.parse(new TestTokens("k1", "x").rs256("https://issuer.example", "a", "shop", 60)),
                now)).isEqualTo(JwtStatus.VERIFICATION_FAIL);
        assertThat(config.rules).hasSize(1);
        assertThat(config.allLocations).extracting(JwtProvider.Location::name)
                .contains("authorization", "x-jwt", "access_token");
    }
}
