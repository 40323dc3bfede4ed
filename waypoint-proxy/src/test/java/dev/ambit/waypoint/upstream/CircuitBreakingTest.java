package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.Eventually;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.UpstreamConnectionOptions;
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Circuit breaking ({@link CircuitBreakers}) through the real {@link ClusterManager} against
 * real backends on loopback: over a threshold a request is refused at once with {@code UO}
 * and counted; nothing waits beyond {@code max_pending_requests}.
 */
class CircuitBreakingTest {

    static final String C = "outbound|9080||reviews.shop.svc.cluster.local";
    static final Duration DELAY = Duration.ofMillis(400);

    EventLoopGroup loops;
    final SocketFactory network = SocketFactory.host("waypoint", Transport.EPOLL);
    final MetricsRegistry metrics = MetricsRegistry.create();
    final AtomicReference<WaypointConfig> config = new AtomicReference<>(new TestConfig(1));
    final List<AutoCloseable> closeables = new ArrayList<>();
    ClusterManager manager;

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "breaker-test");
        manager = ClusterManager.builder(config::get, network, loops).metrics(metrics)
                .idleTimeout(Duration.ofSeconds(30)).build();
    }

    @AfterEach
    void tearDown() throws Exception {
        manager.close();
        for (AutoCloseable c : closeables) {
            c.close();
        }
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    /** A backend answering each request {@link #DELAY} later with {@code name path}. */
    Backends.Server slowServer(boolean h2, String name) {
        Backends.Server s = new Backends.Server(loops, "127.0.0.1", h2, (ctx, request) -> {
            String uri = request.uri();
            ctx.executor().schedule(() -> ctx.writeAndFlush(Backends.text(name + " " + uri)), DELAY.toMillis(),
                    TimeUnit.MILLISECONDS);
        });
        closeables.add(s);
        return s;
    }

    static Cluster limited(Cluster base, int maxConnections, int maxPending, int maxRequests) {
        return base.toBuilder().setCircuitBreakers(CircuitBreakers.newBuilder().addThresholds(
                CircuitBreakers.Thresholds.newBuilder()
                        .setMaxConnections(UInt32Value.of(maxConnections))
                        .setMaxPendingRequests(UInt32Value.of(maxPending))
                        .setMaxRequests(UInt32Value.of(maxRequests))
                        .setMaxRetries(UInt32Value.of(0xFFFF_FFFF))
                        .setTrackRemaining(true))).build();
    }

    static FullHttpRequest get(String path) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
        r.headers().set(HttpHeaderNames.HOST, "reviews:9080");
        return r;
    }

    CompletableFuture<UpstreamResponse> send(String path) {
        return manager.send(new UpstreamRequest(C, get(path), Set.of(), Duration.ofSeconds(5))).toCompletableFuture();
    }

    /** One attempt's outcome and when it was known, in ms after {@code start}. */
    record Outcome(int status, String body, ResponseFlag flag, String message, long millis) {}

    static Outcome outcome(CompletableFuture<UpstreamResponse> f, long start) {
        try {
            UpstreamResponse r = f.get(10, TimeUnit.SECONDS);
            try {
                return new Outcome(r.response().status().code(), r.response().content().toString(StandardCharsets.UTF_8),
                        null, null, 0);
            } finally {
                r.response().release();
            }
        } catch (ExecutionException e) {
            UpstreamException u = (UpstreamException) e.getCause();
            return new Outcome(0, null, u.flag(), u.getMessage(), 0);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void mustShow2BurstOfTwentyOverOneConnectionAndOnePendingGetsUoAtOnceTheRestSucceed() throws Exception {
        Backends.Server a = slowServer(false, "a");
        config.set(new TestConfig(1).cluster(limited(TestConfig.http1(C), 1, 1, 1024), TestConfig.endpoint(a.address())));
        // A first request opens the one connection the cluster may have; it is idle when the burst comes.
        assertThat(outcome(send("/warm"), 0).status()).isEqualTo(200);

        long start = System.nanoTime();
        List<CompletableFuture<UpstreamResponse>> burst = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            CompletableFuture<UpstreamResponse> f = send("/b" + i);
            burst.add(f);
        }
        long[] completed = new long[20];
        for (int i = 0; i < 20; i++) {
            int k = i;
            burst.get(i).whenComplete((r, e) -> completed[k] = System.nanoTime());
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<UpstreamResponse> f : burst) {
            outcomes.add(outcome(f, start));
        }
        int ok = 0;
        int overflow = 0;
        for (int i = 0; i < 20; i++) {
            Outcome o = outcomes.get(i);
            long ms = TimeUnit.NANOSECONDS.toMillis(completed[i] - start);
            if (o.status() == 200) {
                ok++;
                assertThat(o.body()).isEqualTo("a /b" + i);
            } else {
                overflow++;
                assertThat(o.flag()).isEqualTo(ResponseFlag.UO);
                assertThat(o.message()).startsWith("upstream connect error or disconnect/reset before headers. "
                        + "reset reason: overflow").contains("max_pending_requests 1");
                assertThat(ms).as("refused at once, not after the backend's %s ms", DELAY.toMillis())
                        .isLessThan(DELAY.toMillis() / 2);
            }
        }
        // One on the connection, one pending for it (served after the first), eighteen refused.
        assertThat(ok).isEqualTo(2);
        assertThat(overflow).isEqualTo(18);
        assertThat(a.accepts.get()).as("max_connections 1").isEqualTo(1);
        assertThat(metrics.value(UpstreamMetrics.OVERFLOW, C, "max_pending_requests")).isEqualTo(18);
        assertThat(metrics.value(UpstreamMetrics.REQUESTS, C, "UO")).isEqualTo(18);
        assertThat(metrics.value(UpstreamMetrics.REMAINING, C, "max_pending_requests")).isEqualTo(1);
        String dump = dump();
        assertThat(dump).contains("\"max_connections\":{\"limit\":1,\"in_use\":1,\"remaining\":0}");
    }

    @Test
    void pendingRequestsWaitForTheBusyConnectionAndTimeOutOfTheQueue() throws Exception {
        Backends.Server a = slowServer(false, "a");
        config.set(new TestConfig(1).cluster(limited(TestConfig.http1(C), 1, 10, 1024), TestConfig.endpoint(a.address())));
        List<CompletableFuture<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            all.add(send("/q" + i));
        }
        // A fourth waits behind them with a deadline shorter than the queue: it leaves the queue at its timeout.
        CompletableFuture<UpstreamResponse> late = manager.send(new UpstreamRequest(C, get("/late"), Set.of(),
                Duration.ofMillis(300))).toCompletableFuture();
        for (int i = 0; i < 3; i++) {
            assertThat(outcome(all.get(i), 0).body()).isEqualTo("a /q" + i);
        }
        assertThat(outcome(late, 0).flag()).isEqualTo(ResponseFlag.UT);
        assertThat(a.accepts.get()).as("queued on the one connection, never a second").isEqualTo(1);
        assertThat(a.seen.stream().map(FullHttpRequest::uri)).doesNotContain("/late");
        Eventually.eventually(() -> metrics.value(UpstreamMetrics.REMAINING, C, "max_pending_requests") == 10);
    }

    @Test
    void maxRequestsRefusesAtOnceOverTheRequestsInFlight() throws Exception {
        Backends.Server a = slowServer(false, "a");
        config.set(new TestConfig(1).cluster(limited(TestConfig.http1(C), 100, 100, 2), TestConfig.endpoint(a.address())));
        List<CompletableFuture<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            all.add(send("/r" + i));
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<UpstreamResponse> f : all) {
            outcomes.add(outcome(f, 0));
        }
        assertThat(outcomes.stream().filter(o -> o.status() == 200)).hasSize(2);
        assertThat(outcomes.stream().filter(o -> o.flag() == ResponseFlag.UO)).hasSize(3)
                .allSatisfy(o -> assertThat(o.message()).contains("max_requests 2"));
        assertThat(metrics.value(UpstreamMetrics.OVERFLOW, C, "max_requests")).isEqualTo(3);
        // The slots come back: the next requests go through.
        assertThat(outcome(send("/after"), 0).body()).isEqualTo("a /after");
    }

    @Test
    void http2PendingOverflowWhileTheConnectionIsOpening() throws Exception {
        Backends.Server h2 = slowServer(true, "h2");
        config.set(new TestConfig(1).cluster(limited(TestConfig.http2(C), 1, 2, 1024), TestConfig.endpoint(h2.address())));
        List<CompletableFuture<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            all.add(send("/s" + i));
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<UpstreamResponse> f : all) {
            outcomes.add(outcome(f, 0));
        }
        assertThat(outcomes.stream().filter(o -> o.status() == 200)).hasSize(2);
        assertThat(outcomes.stream().filter(o -> o.flag() == ResponseFlag.UO)).hasSize(3);
        // Once up, the one connection multiplexes without waiting: nothing is pending any more.
        all.clear();
        for (int i = 0; i < 5; i++) {
            all.add(send("/m" + i));
        }
        for (int i = 0; i < 5; i++) {
            assertThat(outcome(all.get(i), 0).body()).isEqualTo("h2 /m" + i);
        }
        assertThat(h2.accepts.get()).isEqualTo(1);
    }

    @Test
    void http2RequestsOverEveryStreamSlotAtMaxConnectionsWaitAsPendingForAFreedSlot() throws Exception {
        Backends.Server h2 = new Backends.Server(loops, "127.0.0.1", true, 2, (ctx, request) -> {
            String uri = request.uri();
            ctx.executor().schedule(() -> ctx.writeAndFlush(Backends.text("h2 " + uri)), 200, TimeUnit.MILLISECONDS);
        });
        closeables.add(h2);
        config.set(new TestConfig(1).cluster(limited(TestConfig.http2(C), 1, 2, 1024), TestConfig.endpoint(h2.address())));
        assertThat(outcome(send("/warm"), 0).status()).isEqualTo(200);
        List<CompletableFuture<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            all.add(send("/q" + i));
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<UpstreamResponse> f : all) {
            outcomes.add(outcome(f, 0));
        }
        // Two streams (the server's SETTINGS_MAX_CONCURRENT_STREAMS), two pending for a slot, two refused.
        assertThat(outcomes.stream().filter(o -> o.status() == 200)).hasSize(4);
        assertThat(outcomes.stream().filter(o -> o.flag() == ResponseFlag.UO)).hasSize(2)
                .allSatisfy(o -> assertThat(o.message()).contains("max_pending_requests 2"));
        assertThat(h2.accepts.get()).as("max_connections 1").isEqualTo(1);
        Eventually.eventually(() -> metrics.value(UpstreamMetrics.REMAINING, C, "max_pending_requests") == 2);
    }

    @Test
    void maxRequestsPerConnectionAndTheClustersIdleTimeoutEndConnections() throws Exception {
        Backends.Server a = new Backends.Server(loops, "127.0.0.1", false, Backends.ok("a"));
        closeables.add(a);
        Cluster c = TestConfig.http1(C).toBuilder()
                .putTypedExtensionProtocolOptions(ClusterInfo.HTTP_PROTOCOL_OPTIONS, Any.pack(HttpProtocolOptions
                        .newBuilder().setCommonHttpProtocolOptions(io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions
                                .newBuilder().setMaxRequestsPerConnection(UInt32Value.of(2))
                                .setIdleTimeout(com.google.protobuf.Duration.newBuilder().setNanos(300_000_000)))
                        .build()))
                .setUpstreamConnectionOptions(UpstreamConnectionOptions.newBuilder().setTcpKeepalive(TcpKeepalive
                        .newBuilder().setKeepaliveTime(UInt32Value.of(60)).setKeepaliveInterval(UInt32Value.of(5))
                        .setKeepaliveProbes(UInt32Value.of(3))))
                .build();
        config.set(new TestConfig(1).cluster(c, TestConfig.endpoint(a.address())));
        for (int i = 0; i < 6; i++) {
            assertThat(outcome(send("/k" + i), 0).body()).isEqualTo("a /k" + i);
        }
        assertThat(a.accepts.get()).as("two requests per connection").isEqualTo(3);
        assertThat(ClusterInfo.of(c).resilience().keepalive()).isEqualTo(new Resilience.Keepalive(3, 60, 5));
        // The cluster's 300 ms idle timeout, not the manager's 30 s default, closes the idle one.
        Eventually.eventually(() -> a.open.get() == 0);
        assertThat(manager.openConnections(a.address())).isZero();
    }

    @Test
    void tunnelsCountAsConnectionsOfTheCluster() throws Exception {
        Backends.Server a = slowServer(false, "a");
        config.set(new TestConfig(1).cluster(limited(TestConfig.http1(C), 1, 1, 1024), TestConfig.endpoint(a.address())));
        UpstreamTunnel first = manager.open(C, null, Set.of()).toCompletableFuture().get(5, TimeUnit.SECONDS);
        try {
            ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                    () -> manager.open(C, null, Set.of()).toCompletableFuture().get(5, TimeUnit.SECONDS));
            assertThat(((UpstreamException) e.getCause()).flag()).isEqualTo(ResponseFlag.UO);
            assertThat(metrics.value(UpstreamMetrics.TUNNELS, C, "UO")).isEqualTo(1);
        } finally {
            first.channel().close().sync();
        }
        Eventually.eventually(() -> metrics.value(UpstreamMetrics.REMAINING, C, "max_connections") == 1);
        UpstreamTunnel again = manager.open(C, null, Set.of()).toCompletableFuture().get(5, TimeUnit.SECONDS);
        again.channel().close().sync();
    }

    @Test
    void tcpKeepaliveIsSetOnUpstreamSockets() {
        io.netty.channel.epoll.EpollSocketChannel ch = new io.netty.channel.epoll.EpollSocketChannel();
        try {
            Connector.keepalive(ch, new Resilience.Keepalive(4, 90, 7));
            assertThat(ch.config().getOption(io.netty.channel.ChannelOption.SO_KEEPALIVE)).isTrue();
            assertThat(ch.config().getOption(io.netty.channel.epoll.EpollChannelOption.TCP_KEEPIDLE)).isEqualTo(90);
            assertThat(ch.config().getOption(io.netty.channel.epoll.EpollChannelOption.TCP_KEEPINTVL)).isEqualTo(7);
            assertThat(ch.config().getOption(io.netty.channel.epoll.EpollChannelOption.TCP_KEEPCNT)).isEqualTo(4);
        } finally {
            ch.unsafe().closeForcibly();
        }
    }

    @Test
    void envoysDefaultsApplyWithoutThresholds() {
        Resilience r = ClusterInfo.of(TestConfig.http1(C)).resilience();
        assertThat(r.thresholds()).isEqualTo(new Resilience.Thresholds(1024, 1024, 1024, 3, false));
        Resilience istio = ClusterInfo.of(limited(TestConfig.http1(C), 0xFFFF_FFFF, 1, 5)).resilience();
        assertThat(istio.thresholds().maxConnections()).as("unsigned 2^32-1").isEqualTo(4_294_967_295L);
        assertThat(istio.outlier()).isNull();
    }

    String dump() {
        JsonWriter json = new JsonWriter();
        manager.dump(json);
        return json.toString();
    }
}
