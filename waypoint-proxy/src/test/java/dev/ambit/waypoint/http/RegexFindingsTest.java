package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import dev.ambit.waypoint.config.ResourceValidator;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * What HttpFuzzTest#routeMatching found: the validator accepts a {@code safe_regex} as RE2
 * accepts it, but the engine compiled it with java.util.regex, which refuses some of them
 * ({@code HHHzz{zzzzzzzzz}: the route table failed on every request) and backtracks
 * exponentially on others (a hostile path could stall an event loop). Both now run on RE2/J.
 */
class RegexFindingsTest {

    private static RouteTable table(RouteMatch.Builder match) {
        var config = Harness.routes(Route.newBuilder().setName("r").setMatch(match)
                .setRoute(RouteAction.newBuilder().setCluster(Harness.CLUSTER)).build());
        assertThat(ResourceValidator.validate(Harness.ROUTE, config)).isEmpty();
        return RouteTable.of(config);
    }

    private static RouteMatcher.RequestView request(String path, String header) {
        DefaultHttpHeaders h = new DefaultHttpHeaders();
        if (header != null) {
            h.set("x-user", header);
        }
        return new RouteMatcher.RequestView("GET", "reviews", path, "http", h);
    }

    @Test
    void aPatternRe2AcceptsCompiles() {
        RouteTable t = table(RouteMatch.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex("/HHHzz{zzz")));
        assertThat(t.select(request("/HHHzz{zzz", null)).entry()).isNotNull();
    }

    @Test
    void aHostilePathCannotMakeARegexBacktrack() {
        RouteTable t = table(RouteMatch.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex("/(a+)+"))
                .addHeaders(HeaderMatcher.newBuilder().setName("x-user").setStringMatch(
                        StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex("(b|bb)+c")))));
        String evil = "a".repeat(5000) + "!";
        assertThatCode(() -> {
            long t0 = System.nanoTime();
            var s = t.select(request("/" + evil, "b".repeat(5000) + "!"));
            assertThat(s == null || s.entry() == null).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(2));
        }).doesNotThrowAnyException();
    }
}
