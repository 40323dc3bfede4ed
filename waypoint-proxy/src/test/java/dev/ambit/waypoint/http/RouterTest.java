package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.get;
import static dev.ambit.waypoint.http.Harness.prefix;
import static dev.ambit.waypoint.http.Harness.routes;
import static dev.ambit.waypoint.http.Harness.weighted;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.BoolValue;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.handler.codec.http.HttpMethod;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class RouterTest {

    private static final String V1 = "outbound|9080|v1|reviews.default.svc.cluster.local";
    private static final String V2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    private Harness h;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.clusters(V1, V2);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        h.close();
        LeakCheck.assertNoLeaks();
    }

    @Test
    void noMatchingRouteIs404WithFlagNr() {
        h.config.route(routes(prefix("only-api", "/api", CLUSTER).build()));
        Harness.Result r = h.run(get("/other"));
        assertThat(r.status()).isEqualTo(404);
        assertThat(r.exchange().flagsString()).isEqualTo("NR");
        assertThat(h.upstreams.sent).isEmpty();
    }

    @Test
    void firstMatchingRouteWinsAndItsClusterGetsTheRequest() {
        h.config.route(routes(
                Route.newBuilder().setName("exact").setMatch(RouteMatch.newBuilder().setPath("/reviews/1"))
                        .setRoute(RouteAction.newBuilder().setCluster(V1)).build(),
                prefix("prefix", "/reviews", V2).build(),
                prefix("default", "/", CLUSTER).build()));
        assertThat(h.run(get("/reviews/1?x=1")).exchange().upstreamCluster()).isEqualTo(V1);
        assertThat(h.run(get("/reviews/2")).exchange().upstreamCluster()).isEqualTo(V2);
        assertThat(h.run(get("/ratings")).exchange().routeName()).isEqualTo("default");
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::cluster).containsExactly(V1, V2, CLUSTER);
    }

    @Test
    void caseInsensitivePrefixAndRegex() {
        h.config.route(routes(
                Route.newBuilder().setName("ci").setMatch(RouteMatch.newBuilder().setPrefix("/API")
                        .setCaseSensitive(BoolValue.of(false))).setRoute(RouteAction.newBuilder().setCluster(V1)).build(),
                Route.newBuilder().setName("re").setMatch(RouteMatch.newBuilder()
                        .setSafeRegex(RegexMatcher.newBuilder().setRegex("/items/[0-9]+")))
                        .setRoute(RouteAction.newBuilder().setCluster(V2)).build()));
        assertThat(h.run(get("/api/x")).exchange().upstreamCluster()).isEqualTo(V1);
        assertThat(h.run(get("/items/42?q")).exchange().upstreamCluster()).isEqualTo(V2);
        assertThat(h.run(get("/items/abc")).status()).isEqualTo(404);
    }

    @Test
    void headersMethodAndQueryParametersMatch() {
        h.config.route(routes(
                Route.newBuilder().setName("jason").setMatch(RouteMatch.newBuilder().setPrefix("/")
                        .addHeaders(HeaderMatcher.newBuilder().setName("end-user")
                                .setStringMatch(StringMatcher.newBuilder().setExact("jason")))
                        .addHeaders(HeaderMatcher.newBuilder().setName(":method")
                                .setStringMatch(StringMatcher.newBuilder().setExact("GET"))))
                        .setRoute(RouteAction.newBuilder().setCluster(V2)).build(),
                Route.newBuilder().setName("no-debug").setMatch(RouteMatch.newBuilder().setPrefix("/")
                        .addHeaders(HeaderMatcher.newBuilder().setName("x-debug").setPresentMatch(true)
                                .setInvertMatch(true))
                        .addQueryParameters(QueryParameterMatcher.newBuilder().setName("v")
                                .setStringMatch(StringMatcher.newBuilder().setPrefix("1"))))
                        .setRoute(RouteAction.newBuilder().setCluster(V1)).build()));
        assertThat(h.run(get("/", "end-user", "jason")).exchange().upstreamCluster()).isEqualTo(V2);
        var post = get("/", "end-user", "jason");
        post.setMethod(HttpMethod.POST);
        assertThat(h.run(post).status()).isEqualTo(404);
        assertThat(h.run(get("/?v=10")).exchange().upstreamCluster()).isEqualTo(V1);
        assertThat(h.run(get("/?v=10", "x-debug", "1")).status()).isEqualTo(404);
        assertThat(h.run(get("/?v=2")).status()).isEqualTo(404);
    }

    @Test
    void virtualHostsAreChosenByDomain() {
        h.config.route(RouteConfiguration.newBuilder().setName(Harness.ROUTE)
                .addVirtualHosts(VirtualHost.newBuilder().setName("any").addDomains("*")
                        .addRoutes(prefix("any", "/", CLUSTER)))
                .addVirtualHosts(VirtualHost.newBuilder().setName("reviews").addDomains("reviews")
                        .addDomains("*.reviews.example").addRoutes(prefix("reviews", "/", V1)))
                .build());
        assertThat(h.run(get("/")).exchange().routeName()).isEqualTo("reviews"); // Host reviews:9080, port dropped
        var other = get("/");
        other.headers().set("host", "a.reviews.example");
        assertThat(h.run(other).exchange().routeName()).isEqualTo("reviews");
        var none = get("/");
        none.headers().set("host", "ratings");
        assertThat(h.run(none).exchange().routeName()).isEqualTo("any");
    }

    @Test
    void weightedClustersSplitByWeight() {
        h.config.route(routes(weighted("canary", V1, 90, V2, 10).build()));
        int v2 = 0;
        for (int i = 0; i < 1000; i++) {
            if (h.run(get("/")).exchange().upstreamCluster().equals(V2)) {
                v2++;
            }
        }
        assertThat(v2).isBetween(60, 140);
    }

    @Test
    void redirectBuildsEnvoysLocation() {
        h.config.route(routes(
                Route.newBuilder().setName("moved").setMatch(RouteMatch.newBuilder().setPrefix("/old"))
                        .setRedirect(RedirectAction.newBuilder().setPrefixRewrite("/new")).build(),
                Route.newBuilder().setName("elsewhere").setMatch(RouteMatch.newBuilder().setPrefix("/x"))
                        .setRedirect(RedirectAction.newBuilder().setSchemeRedirect("https").setHostRedirect("example.com")
                                .setPathRedirect("/y").setResponseCode(RedirectAction.RedirectResponseCode.FOUND))
                        .build(),
                Route.newBuilder().setName("port").setMatch(RouteMatch.newBuilder().setPrefix("/p"))
                        .setRedirect(RedirectAction.newBuilder().setPortRedirect(8443).setStripQuery(true)).build()));
        Harness.Result moved = h.run(get("/old/page?a=1"));
        assertThat(moved.status()).isEqualTo(301);
        assertThat(moved.header("location")).isEqualTo("http://reviews:9080/new/page?a=1");
        Harness.Result elsewhere = h.run(get("/x?q=2"));
        assertThat(elsewhere.status()).isEqualTo(302);
        assertThat(elsewhere.header("location")).isEqualTo("https://example.com/y?q=2");
        assertThat(h.run(get("/p/1?z")).header("location")).isEqualTo("http://reviews:8443/p/1");
        assertThat(h.upstreams.sent).isEmpty();
    }

    @Test
    void directResponse() {
        h.config.route(routes(Route.newBuilder().setName("teapot").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setDirectResponse(DirectResponseAction.newBuilder().setStatus(418)
                        .setBody(DataSource.newBuilder().setInlineString("short and stout"))).build()));
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(418);
        assertThat(r.body()).isEqualTo("short and stout");
    }

    @Test
    void rewritesAndHeaderMutations() {
        h.config.route(routes(
                prefix("rw", "/v1/api", V1).setRoute(RouteAction.newBuilder().setCluster(V1).setPrefixRewrite("/api")
                                .setHostRewriteLiteral("reviews.internal"))
                        .addRequestHeadersToAdd(option("x-added", "a", HeaderValueOption.HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD))
                        .addRequestHeadersToAdd(option("x-set", "new", HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
                        .addRequestHeadersToRemove("x-secret")
                        .addResponseHeadersToAdd(option("x-served-by", "waypoint", HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
                        .addResponseHeadersToRemove("x-internal")
                        .build(),
                Route.newBuilder().setName("re").setMatch(RouteMatch.newBuilder().setPrefix("/users/"))
                        .setRoute(RouteAction.newBuilder().setCluster(V2).setRegexRewrite(RegexMatchAndSubstitute
                                .newBuilder().setPattern(RegexMatcher.newBuilder().setRegex("^/users/([0-9]+)/profile$"))
                                .setSubstitution("/profiles/\\1"))).build()));
        h.upstreams.then(r -> {
            var s = FakeUpstreams.ok(200, "x", FakeUpstreams.HOST_A);
            s.toCompletableFuture().join().response().headers().set("x-internal", "1").set("connection", "keep-alive");
            return s;
        });
        Harness.Result r = h.run(get("/v1/api/items?id=3", "x-added", "orig", "x-set", "old", "x-secret", "s",
                "connection", "keep-alive"));
        FakeUpstreams.Sent sent = h.upstreams.sent.get(0);
        assertThat(sent.uri()).isEqualTo("/api/items?id=3");
        assertThat(sent.headers().get("host")).isEqualTo("reviews.internal");
        assertThat(sent.headers().getAll("x-added")).containsExactly("orig", "a");
        assertThat(sent.headers().getAll("x-set")).containsExactly("new");
        assertThat(sent.headers().contains("x-secret")).isFalse();
        assertThat(sent.headers().contains("connection")).isFalse();
        assertThat(sent.headers().get("x-request-id")).matches("[0-9a-f-]{36}");
        assertThat(r.header("x-served-by")).isEqualTo("waypoint");
        assertThat(r.header("x-internal")).isNull();
        assertThat(r.header("connection")).isNull();
        assertThat(r.header("x-envoy-upstream-service-time")).isNotNull();

        h.run(get("/users/42/profile"));
        assertThat(h.upstreams.sent.get(1).uri()).isEqualTo("/profiles/42");
    }

    @Test
    void existingRequestIdIsKept() {
        h.config.route(routes(prefix("all", "/", CLUSTER).build()));
        h.run(get("/", "x-request-id", "abc"));
        assertThat(h.upstreams.sent.get(0).headers().get("x-request-id")).isEqualTo("abc");
    }

    @Test
    void unknownClusterIs503Nc() {
        h.config.route(routes(prefix("all", "/", "outbound|1||missing").build()));
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(503);
        assertThat(r.exchange().flags()).containsExactly(ResponseFlag.NC);
    }

    @Test
    void anInvalidBackendsWeightedShareAnswersTheRoutesClusterNotFoundCode() {
        // Gateway API: the share of requests for a backend that does not resolve gets 500, the rest is served.
        var route = weighted("partial", CLUSTER, 1, "outbound|80||invalid-backend.missing.shop", 1);
        route.getRouteBuilder().setClusterNotFoundResponseCode(
                io.envoyproxy.envoy.config.route.v3.RouteAction.ClusterNotFoundResponseCode.INTERNAL_SERVER_ERROR);
        h.config.route(routes(route.build()));
        java.util.Map<Integer, Integer> statuses = new java.util.TreeMap<>();
        for (int i = 0; i < 200; i++) {
            Harness.Result r = h.run(get("/"));
            statuses.merge(r.status(), 1, Integer::sum);
            if (r.status() == 500) {
                assertThat(r.exchange().flags()).containsExactly(ResponseFlag.NC);
            }
        }
        assertThat(statuses).containsOnlyKeys(200, 500);
        assertThat(statuses.get(500)).isBetween(60, 140);
    }

    static HeaderValueOption option(String name, String value, HeaderValueOption.HeaderAppendAction action) {
        return HeaderValueOption.newBuilder().setHeader(HeaderValue.newBuilder().setKey(name).setValue(value))
                .setAppendAction(action).build();
    }
}
