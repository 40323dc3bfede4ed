package dev.ambit.waypoint.http;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambit.waypoint.config.ResourceValidator;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import java.util.regex.Pattern;

/**
 * Coverage-guided fuzzing (Jazzer) of the waypoint's downstream HTTP/1.1 parsing (the real
 * pipeline: guard, codec, aggregator, handler, router against a scripted upstream) and of its
 * route matching. {@code mvn test} replays the corpus under
 * {@code src/test/resources/dev/ambit/waypoint/http/HttpFuzzTestInputs/}; {@code make fuzz}
 * ({@code JAZZER_FUZZ=1}) searches for new inputs.
 */
class HttpFuzzTest {

    private static final Pattern STATUS_LINE = Pattern.compile("HTTP/1\\.1 [1-5][0-9][0-9] [^\r\n]*\r\n(?s).*");
    private static Harness harness;
    private static DownstreamRejections rejections;

    private static Harness harness() {
        if (harness == null) {
            harness = new Harness();
            harness.config.route(Harness.routes(Harness.prefix("all", "/", Harness.CLUSTER).build()));
            rejections = DownstreamRejections.of(harness.metrics);
        }
        return harness;
    }

    /**
     * Any bytes: nothing escapes the pipeline, every answer is a well-formed status line, and
     * whatever reached the upstream is a request Envoy would have forwarded (origin-form target,
     * no Content-Length beside Transfer-Encoding, no more headers than the limit, no CR/LF in a value).
     */
    @FuzzTest(maxDuration = "2m")
    void http1RequestParsing(byte[] input) {
        Harness h = harness();
        h.upstreams.sent.clear();
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        try {
            HttpConnections.http1(ch.pipeline(), h.downstream(), h.processor(), h.upstreams,
                    Limits.of(h.chain.hcm(), 4096), rejections);
            ch.writeInbound(Unpooled.wrappedBuffer(input));
            for (int i = 0; i < 5; i++) {
                ch.runPendingTasks();
            }
            StringBuilder out = new StringBuilder();
            for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
                out.append(b.toString(ISO_8859_1));
                b.release();
            }
            if (!out.isEmpty()) {
                assertThat(STATUS_LINE.matcher(out).matches()).as(out.toString()).isTrue();
            }
            for (FakeUpstreams.Sent sent : h.upstreams.sent) {
                assertThat(sent.uri()).matches("[/*].*");
                assertThat(sent.headers().contains("transfer-encoding") && sent.headers().contains("content-length"))
                        .isFalse();
                assertThat(sent.headers().size()).isLessThanOrEqualTo(Limits.DEFAULT_MAX_HEADERS_COUNT + 10);
                sent.headers().forEach(e -> assertThat(e.getValue()).doesNotContain("\r", "\n"));
            }
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    /**
     * Any route configuration the validator accepts compiles, and selecting a route for any
     * request neither throws nor picks a route whose matcher refuses the request.
     */
    @FuzzTest(maxDuration = "2m")
    void routeMatching(FuzzedDataProvider data) {
        RouteConfiguration.Builder rc = RouteConfiguration.newBuilder().setName(Harness.ROUTE);
        int hosts = data.consumeInt(1, 3);
        for (int v = 0; v < hosts; v++) {
            VirtualHost.Builder vh = VirtualHost.newBuilder().setName("vh" + v).addDomains(data.consumeString(12));
            int routes = data.consumeInt(0, 4);
            for (int r = 0; r < routes; r++) {
                RouteMatch.Builder m = RouteMatch.newBuilder();
                String s = data.consumeString(16);
                switch (data.consumeInt(0, 2)) {
                    case 0 -> m.setPrefix(s);
                    case 1 -> m.setPath(s);
                    default -> m.setSafeRegex(RegexMatcher.newBuilder().setRegex(s));
                }
                if (data.consumeBoolean()) {
                    m.setCaseSensitive(com.google.protobuf.BoolValue.of(data.consumeBoolean()));
                }
                if (data.consumeBoolean()) {
                    m.addHeaders(HeaderMatcher.newBuilder().setName(data.consumeString(8))
                            .setStringMatch(StringMatcher.newBuilder().setPrefix(data.consumeString(8)))
                            .setInvertMatch(data.consumeBoolean()));
                }
                vh.addRoutes(Route.newBuilder().setName("r" + r).setMatch(m)
                        .setRoute(RouteAction.newBuilder().setCluster(Harness.CLUSTER)));
            }
            rc.addVirtualHosts(vh);
        }
        RouteConfiguration config = rc.build();
        if (!ResourceValidator.validate(Harness.ROUTE, config).isEmpty()) {
            return;
        }
        RouteTable table = RouteTable.of(config);
        DefaultHttpHeaders headers = new DefaultHttpHeaders(false);
        int n = data.consumeInt(0, 3);
        for (int i = 0; i < n; i++) {
            headers.add(data.consumeString(8), data.consumeString(16));
        }
        String path = "/" + data.consumeRemainingAsString();
        var view = new RouteMatcher.RequestView("GET", "reviews", path, "http", headers);
        var selection = table.select(view);
        if (selection != null && selection.entry() != null) {
            assertThat(selection.entry().matcher().matches(view)).isTrue();
        }
    }
}
