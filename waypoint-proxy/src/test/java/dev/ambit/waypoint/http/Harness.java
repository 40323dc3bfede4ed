package dev.ambit.waypoint.http;

import com.google.protobuf.UInt32Value;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.waypoint.config.FilterChain;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletionStage;

/** Runs requests through the waypoint's filter chain on an EmbeddedChannel's event loop. */
final class Harness implements AutoCloseable {

    static final String ROUTE = "inbound-vip|9080|http|reviews.default.svc.cluster.local";
    static final String CLUSTER = "outbound|9080||reviews.default.svc.cluster.local";
    static final InetSocketAddress VIP = new InetSocketAddress("10.96.0.20", 9080);
    static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/productpage");

    final EmbeddedChannel loop = new EmbeddedChannel();
    final TestConfig config = new TestConfig().clusters(CLUSTER);
    final FakeUpstreams upstreams = new FakeUpstreams();
    final MetricsRegistry metrics = MetricsRegistry.create();
    final ProxyState state = ProxyState.create();
    RequestAuthorizer authorizer = RequestAuthorizer.ALLOW_ALL;
    /** tracing (issue 19): the processor's spans; the chain's HCM decides whether there are any. */
    HttpTracing tracing = HttpTracing.NONE;
    FilterChain chain = new FilterChain(ROUTE, FilterChain.Kind.HTTP, ROUTE, FilterChain.Codec.AUTO, "", ROUTE);

    /** One request's outcome: the response (released by close()) and its exchange. */
    record Result(FullHttpResponse response, HttpExchange exchange) {
        int status() {
            return response.status().code();
        }

        String body() {
            return response.content().toString(StandardCharsets.UTF_8);
        }

        String header(String name) {
            return response.headers().get(name);
        }
    }

    private final java.util.List<FullHttpResponse> toRelease = new java.util.ArrayList<>();

    RequestProcessor processor() {
        return processor(() -> false);
    }

    RequestProcessor processor(java.util.function.BooleanSupplier draining) {
        return processor(draining, () -> null);
    }

    RequestProcessor processor(java.util.function.BooleanSupplier draining,
                               java.util.function.Supplier<dev.ambit.waypoint.config.WaypointConfig> configs) {
        return new RequestProcessor(new HttpFilterChain(List.of(new Authorization(authorizer),
                new Faults(HTTPFault.getDefaultInstance()), new Cors(), new Router(upstreams))),
                HttpTelemetry.of(metrics, state), draining, configs, tracing);
    }

    Downstream downstream() {
        return new Downstream(CLIENT, new InetSocketAddress("10.244.0.7", 0), null, VIP, chain, config,
                HboneRequest.of(VIP));
    }

    static FullHttpRequest get(String uri, String... headers) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri, Unpooled.buffer(0));
        r.headers().set("host", "reviews:9080");
        for (int i = 0; i < headers.length; i += 2) {
            r.headers().add(headers[i], headers[i + 1]);
        }
        return r;
    }

    Result run(FullHttpRequest request) {
        RequestProcessor p = processor();
        HttpExchange ex = p.exchange(request, downstream(), loop.eventLoop(), "HTTP/1.1");
        CompletionStage<FullHttpResponse> stage = p.process(ex);
        FullHttpResponse r = await(stage);
        toRelease.add(r);
        p.completed(ex, RequestProcessor.Sent.of(r));
        return new Result(r, ex);
    }

    /**
     * Pumps the event loop (tasks, timers) until {@code stage} completes; at most 5 s. A
     * streamed response ({@link dev.ambit.waypoint.upstream.StreamingResponse}) is collected
     * into a whole one first, so tests read its body as they read a local reply's.
     */
    @SuppressWarnings("unchecked")
    <T> T await(CompletionStage<T> stage) {
        T v = awaitRaw(stage);
        if (v instanceof dev.ambit.waypoint.upstream.StreamingResponse s) {
            var whole = awaitRaw(s.body().aggregate(Integer.MAX_VALUE, io.netty.buffer.ByteBufAllocator.DEFAULT,
                    loop.eventLoop()));
            s.release();
            var full = new io.netty.handler.codec.http.DefaultFullHttpResponse(s.protocolVersion(), s.status(),
                    whole.content(), s.headers(), whole.trailers());
            return (T) full;
        }
        return v;
    }

    private <T> T awaitRaw(CompletionStage<T> stage) {
        var f = stage.toCompletableFuture();
        long end = System.nanoTime() + 5_000_000_000L;
        while (!f.isDone()) {
            loop.runPendingTasks();
            loop.runScheduledPendingTasks();
            if (f.isDone()) {
                break;
            }
            if (System.nanoTime() > end) {
                throw new AssertionError("no response within 5 s");
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        return f.join();
    }

    @Override
    public void close() {
        toRelease.forEach(FullHttpResponse::release);
        loop.finishAndReleaseAll();
    }

    // ---- route configuration builders

    static RouteConfiguration routes(Route... routes) {
        return RouteConfiguration.newBuilder().setName(ROUTE).addVirtualHosts(VirtualHost.newBuilder()
                .setName("reviews.default.svc.cluster.local:9080").addDomains("*").addAllRoutes(List.of(routes)))
                .build();
    }

    static Route.Builder prefix(String name, String prefix, String cluster) {
        return Route.newBuilder().setName(name).setMatch(RouteMatch.newBuilder().setPrefix(prefix))
                .setRoute(RouteAction.newBuilder().setCluster(cluster));
    }

    static Route.Builder weighted(String name, Object... clusterWeights) {
        WeightedCluster.Builder w = WeightedCluster.newBuilder();
        for (int i = 0; i < clusterWeights.length; i += 2) {
            w.addClusters(WeightedCluster.ClusterWeight.newBuilder().setName((String) clusterWeights[i])
                    .setWeight(UInt32Value.of((Integer) clusterWeights[i + 1])));
        }
        return Route.newBuilder().setName(name).setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setWeightedClusters(w));
    }
}
