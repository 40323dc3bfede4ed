package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.model.MeshConfig;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** RequestAuthentication → jwt_authn: which chains get it, its requirement shape, and JWKS fetching over loopback. */
class JwtFiltersTest {

    static final String JWKS = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}";

    HttpServer idp;
    final AtomicInteger jwksHits = new AtomicInteger();
    final AtomicReference<String> jwksBody = new AtomicReference<>(JWKS);
    final AtomicInteger jwksStatus = new AtomicInteger(200);
    final AtomicInteger delayMillis = new AtomicInteger();

    @BeforeEach
    void startIdp() throws IOException {
        idp = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        idp.createContext("/jwks.json", ex -> {
            jwksHits.incrementAndGet();
            try {
                Thread.sleep(delayMillis.get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            byte[] b = jwksBody.get().getBytes(StandardCharsets.UTF_8);
            try {
                ex.sendResponseHeaders(jwksStatus.get(), b.length);
                ex.getResponseBody().write(b);
            } catch (IOException e) {
                // the client gave up (timeout test)
            }
            ex.close();
        });
        idp.createContext("/.well-known/openid-configuration", ex -> {
            byte[] b = ("{\"issuer\":\"" + base() + "\",\"jwks_uri\":\"" + base() + "/jwks.json\"}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        idp.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        idp.start();
    }

    @AfterEach
    void stopIdp() {
        idp.stop(0);
    }

    String base() {
        return "http://127.0.0.1:" + idp.getAddress().getPort();
    }

    String policy(String name, String target, String rules) {
        return """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: %s, namespace: shop}
                spec:
                %s
                  jwtRules:
                %s
                """.formatted(name, target, rules);
    }

    static final String TO_WAYPOINT = "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}]";

    static HttpConnectionManager hcm(L7Resources r, String chainName) throws Exception {
        Listener l = (Listener) r.forWaypoint("shop", "waypoint").get(TypeUrls.LISTENER).get("waypoint");
        for (FilterChain c : l.getFilterChainsList()) {
            if (c.getName().equals(chainName)) {
                return c.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
            }
        }
        throw new AssertionError("no chain " + chainName);
    }

    static JwtAuthentication jwt(HttpConnectionManager h) throws Exception {
        assertThat(h.getHttpFilters(0).getName()).isEqualTo(JwtFilters.NAME);
        return h.getHttpFilters(0).getTypedConfig().unpack(JwtAuthentication.class);
    }

    static final String REVIEWS = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
    static final String RATINGS_WEB = "inbound-vip|8080|http|ratings.shop.svc.cluster.local";

    @Test
    void aJwksUriIsFetchedOnceAndInlinedFirstInEveryChainOfTheWaypoint() throws Exception {
        L7Translator t = L7Translator.of(MeshConfig.defaults(), JwksFetcher.create());
        var snapshot = Snapshots.of(Snapshots.base(), policy("jwt", TO_WAYPOINT,
                "  - {issuer: https://idp.example, jwksUri: " + base() + "/jwks.json}"));
        L7Resources r = t.translate(snapshot);
        for (String chain : List.of(REVIEWS, RATINGS_WEB)) {
            HttpConnectionManager h = hcm(r, chain);
            JwtAuthentication j = jwt(h);
            assertThat(j.getProvidersMap()).containsOnlyKeys("origins-0");
            assertThat(j.getProvidersOrThrow("origins-0").getLocalJwks().getInlineString()).isEqualTo(JWKS);
            assertThat(j.getProvidersOrThrow("origins-0").getPayloadInMetadata()).isEqualTo("payload");
            // One provider: provider OR allow_missing.
            var any = j.getRules(0).getRequires().getRequiresAny();
            assertThat(any.getRequirements(0).getProviderName()).isEqualTo("origins-0");
            assertThat(any.getRequirements(1).hasAllowMissing()).isTrue();
            assertThat(h.getHttpFiltersList()).extracting(f -> f.getName()).containsExactly(JwtFilters.NAME,
                    "envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router");
        }
        assertThat(r.warnings()).isEmpty();
        t.translate(snapshot);
        assertThat(jwksHits).as("cached across chains and translations").hasValue(1);
    }

    @Test
    void withoutJwksUriTheIssuersOpenIdDiscoveryIsFollowed() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults(), JwksFetcher.create()).translate(Snapshots.of(
                Snapshots.base(), policy("jwt", TO_WAYPOINT, "  - {issuer: \"" + base() + "\"}")));
        assertThat(jwt(hcm(r, REVIEWS)).getProvidersOrThrow("origins-0").getLocalJwks().getInlineString())
                .isEqualTo(JWKS);
    }

    @Test
    void aFailedFetchInlinesAJwksThatFailsEveryTokenWarnsAndIsRetriedLater() throws Exception {
        jwksStatus.set(500);
        AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));
        Clock clock = new Clock() {
            public java.time.ZoneId getZone() {
                return ZoneOffset.UTC;
            }

            public Clock withZone(java.time.ZoneId z) {
                return this;
            }

            public Instant instant() {
                return now.get();
            }
        };
        L7Translator t = L7Translator.of(MeshConfig.defaults(),
                JwksFetcher.create(clock, Duration.ofMinutes(20), Duration.ofMinutes(1)));
        var snapshot = Snapshots.of(Snapshots.base(), policy("jwt", TO_WAYPOINT,
                "  - {issuer: https://idp.example, jwksUri: " + base() + "/jwks.json}"));
        L7Resources r = t.translate(snapshot);
        assertThat(jwt(hcm(r, REVIEWS)).getProvidersOrThrow("origins-0").getLocalJwks().getInlineString())
                .isEqualTo(JwksFetcher.FAIL_CLOSED_JWKS);
        assertThat(r.warnings()).anySatisfy(w -> assertThat(w).contains("RequestAuthentication shop/jwt")
                .contains("HTTP 500").contains("every token of this issuer is rejected"));
        // Within the retry interval the failure is reused: a dead provider does not stall translations.
        jwksStatus.set(200);
        t.translate(snapshot);
        assertThat(jwksHits).hasValue(1);
        now.set(now.get().plus(Duration.ofSeconds(61)));
        r = t.translate(snapshot);
        assertThat(jwksHits).hasValue(2);
        assertThat(jwt(hcm(r, REVIEWS)).getProvidersOrThrow("origins-0").getLocalJwks().getInlineString())
                .isEqualTo(JWKS);
        assertThat(r.warnings()).isEmpty();
    }

    @Test
    void theBackgroundRefreshFetchesDueKeysAndSaysWhenTheyChanged() throws Exception {
        AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));
        JwksFetcher f = JwksFetcher.create(new Clock() {
            public java.time.ZoneId getZone() {
                return ZoneOffset.UTC;
            }

            public Clock withZone(java.time.ZoneId z) {
                return this;
            }

            public Instant instant() {
                return now.get();
            }
        }, Duration.ofMinutes(20), Duration.ofMinutes(1));
        assertThat(f.jwks("https://idp.example", base() + "/jwks.json", null).jwks()).isEqualTo(JWKS);
        assertThat(f.refreshDue()).as("nothing due yet").isFalse();
        assertThat(jwksHits).hasValue(1);
        now.set(now.get().plus(Duration.ofMinutes(21)));
        assertThat(f.refreshDue()).as("due, same keys").isFalse();
        assertThat(jwksHits).hasValue(2);
        String rotated = JWKS.replace("k1", "k2");
        jwksBody.set(rotated);
        now.set(now.get().plus(Duration.ofMinutes(21)));
        assertThat(f.refreshDue()).as("rotated keys").isTrue();
        assertThat(f.jwks("https://idp.example", base() + "/jwks.json", null).jwks()).isEqualTo(rotated);
        assertThat(jwksHits).as("the translation reads the refreshed entry").hasValue(3);
        now.set(now.get().plus(Duration.ofHours(25)));
        f.refreshDue();
        assertThat(f.cached()).as("unused for a day: evicted").isEmpty();
    }

    @Test
    void slowOversizedAndNonJwksAnswersFailWithinTheTimeout() {
        JwksFetcher f = JwksFetcher.create();
        delayMillis.set(3000);
        long start = System.nanoTime();
        var slow = f.jwks("https://idp.example", base() + "/jwks.json", Duration.ofMillis(300));
        assertThat(slow.failed()).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(2500));
        delayMillis.set(0);
        jwksBody.set("{\"keys\":[\"" + "x".repeat(JwksFetcher.MAX_BODY_BYTES) + "\"]}");
        assertThat(f.jwks("https://big.example", base() + "/jwks.json?big", null).problem())
                .contains("over " + JwksFetcher.MAX_BODY_BYTES);
        jwksBody.set("<html>login</html>");
        assertThat(f.jwks("https://html.example", base() + "/jwks.json?html", null).problem())
                .contains("the response is not a JWKS");
        assertThat(f.jwks("https://html.example", base() + "/jwks.json?html", null).jwks())
                .isEqualTo(JwksFetcher.FAIL_CLOSED_JWKS);
    }

    @Test
    void severalIssuersAreSortedAndRequiredAsIstioDoes() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(),
                policy("b", TO_WAYPOINT, "  - {issuer: https://b.example, jwks: '" + JWKS + "'}"),
                policy("a", "  targetRefs: [{kind: Service, group: \"\", name: reviews}]",
                        "  - {issuer: https://a.example, jwks: '" + JWKS + "'}")));
        JwtAuthentication j = jwt(hcm(r, REVIEWS));
        assertThat(j.getProvidersOrThrow("origins-0").getIssuer()).isEqualTo("https://a.example");
        assertThat(j.getProvidersOrThrow("origins-1").getIssuer()).isEqualTo("https://b.example");
        var any = j.getRules(0).getRequires().getRequiresAny().getRequirementsList();
        assertThat(any).hasSize(3);
        assertThat(any.get(0).getProviderName()).isEqualTo("origins-0");
        assertThat(any.get(1).getProviderName()).isEqualTo("origins-1");
        assertThat(any.get(2).getRequiresAll().getRequirementsList()).hasSize(2)
                .allSatisfy(req -> assertThat(req.getRequiresAny().getRequirements(1).hasAllowMissing()).isTrue());
        assertThat(j.getBypassCorsPreflight()).isTrue();
        // The Service-bound policy stays on the reviews chain.
        assertThat(jwt(hcm(r, RATINGS_WEB)).getProvidersMap()).containsOnlyKeys("origins-0");
    }

    @Test
    void whichPoliciesApplyToAWaypointChain() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(),
                policy("selector", "  selector: {matchLabels: {app: reviews}}",
                        "  - {issuer: https://s.example, jwks: '" + JWKS + "'}"),
                policy("other-gw", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: east}]",
                        "  - {issuer: https://o.example, jwks: '" + JWKS + "'}")));
        assertThat(hcm(r, REVIEWS).getHttpFiltersList()).extracting(f -> f.getName())
                .doesNotContain(JwtFilters.NAME);
        r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(),
                policy("namespace-wide", "", "  - {issuer: https://n.example, jwks: '" + JWKS + "'}"),
                """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: mesh-wide, namespace: istio-system}
                spec:
                  targetRefs: [{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}]
                  jwtRules: [{issuer: https://m.example, jwks: '%s'}]
                """.formatted(JWKS)));
        assertThat(jwt(hcm(r, REVIEWS)).getProvidersMap().values()).extracting(p -> p.getIssuer())
                .containsExactly("https://m.example", "https://n.example");
    }

    @Test
    void invalidRulesAreRefusedNamingTheField() {
        List<ConfigError> errors = Snapshots.errors(policy("bad", TO_WAYPOINT, """
                  - issuer: ""
                    audiences: [""]
                    jwksUri: ftp://keys.example/jwks
                    jwks: 'not json'
                    fromHeaders: [{name: ""}]
                    fromParams: [""]
                    outputPayloadToHeader: "bad header"
                    outputClaimToHeaders: [{header: x-sub, claim: ""}]
                    timeout: soon
                    jwksURI: https://typo.example
                """));
        assertThat(errors).extracting(ConfigError::message).anySatisfy(m -> assertThat(m).contains("jwtRules[0].jwksUri")
                .contains("invalid scheme ftp"));
        String all = errors.stream().map(ConfigError::message).reduce("", (a, b) -> a + "\n" + b);
        assertThat(all).contains("jwtRules[0].audiences[0]").contains("jwtRules[0].jwks").contains("jwks parse error")
                .contains("jwtRules[0].fromHeaders[0].name").contains("jwtRules[0].fromParams[0]")
                .contains("jwtRules[0].outputPayloadToHeader").contains("jwtRules[0].outputClaimToHeaders[0]")
                .contains("jwtRules[0].timeout").contains("jwtRules[0].jwksURI");
        assertThat(Snapshots.errors(policy("neither", TO_WAYPOINT, "  - {audiences: [a]}")))
                .extracting(ConfigError::message).anySatisfy(m -> assertThat(m)
                        .contains("issuer or jwksUri must be non-empty string"));
        assertThat(Snapshots.errors(policy("target", "  targetRefs: [{kind: Deployment, name: x}]",
                "  - {issuer: https://i.example}"))).extracting(ConfigError::message)
                .anySatisfy(m -> assertThat(m).contains("spec.targetRefs[0]").contains("Deployment"));
    }
}
