package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.Eventually;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.type.v3.Percent;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Outlier detection ({@link OutlierDetector}) through the real {@link ClusterManager} against
 * real backends on loopback, with short times (interval 100 ms, base ejection time 1 s).
 */
class OutlierDetectionTest {

    static final String C = "outbound|9080||reviews.shop.svc.cluster.local";
    static final com.google.protobuf.Duration INTERVAL = com.google.protobuf.Duration.newBuilder()
            .setNanos(100_000_000).build();
    static final com.google.protobuf.Duration BASE = com.google.protobuf.Duration.newBuilder().setSeconds(1).build();

    EventLoopGroup loops;
    final SocketFactory network = SocketFactory.host("waypoint", Transport.EPOLL);
    final MetricsRegistry metrics = MetricsRegistry.create();
    final AtomicReference<WaypointConfig> config = new AtomicReference<>(new TestConfig(1));
    final List<AutoCloseable> closeables = new ArrayList<>();
    ClusterManager manager;

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "outlier-test");
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

    /** A backend answering 200 {@code name}, or 503 while {@code failing}. */
    Backends.Server server(String name, AtomicBoolean failing) {
        Backends.Server s = new Backends.Server(loops, "127.0.0.1", false, (ctx, request) -> {
            if (failing.get()) {
                FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                        HttpResponseStatus.SERVICE_UNAVAILABLE, Unpooled.copiedBuffer("down", StandardCharsets.UTF_8));
                r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 4);
                ctx.writeAndFlush(r);
            } else {
                ctx.writeAndFlush(Backends.text(name));
            }
        });
        closeables.add(s);
        return s;
    }

    static Cluster withOutlier(OutlierDetection.Builder od, Double panicThreshold) {
        Cluster.Builder c = TestConfig.http1(C).toBuilder().setOutlierDetection(od);
        if (panicThreshold != null) {
            c.getCommonLbConfigBuilder().setHealthyPanicThreshold(Percent.newBuilder().setValue(panicThreshold));
        }
        return c.build();
    }

    /** Istio's translation of consecutive5xxErrors 3, interval 100ms, baseEjectionTime 1s, maxEjectionPercent. */
    static OutlierDetection.Builder istio5xx(int consecutive, int maxEjectionPercent) {
        return OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(consecutive))
                .setEnforcingConsecutive5Xx(UInt32Value.of(100)).setEnforcingSuccessRate(UInt32Value.of(0))
                .setInterval(INTERVAL).setBaseEjectionTime(BASE).setMaxEjectionPercent(UInt32Value.of(maxEjectionPercent));
    }

    /** Sends one request; returns the status (0 when the attempt failed) and which endpoint answered. */
    record Answer(int status, InetSocketAddress endpoint, ResponseFlag flag) {}

    Answer request() throws Exception {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/");
        r.headers().set(HttpHeaderNames.HOST, "reviews:9080");
        try {
            UpstreamResponse resp = manager.send(new UpstreamRequest(C, r, Set.of(), Duration.ofSeconds(5)))
                    .toCompletableFuture().get(10, TimeUnit.SECONDS);
            try {
                return new Answer(resp.response().status().code(), resp.endpoint(), null);
            } finally {
                resp.response().release();
            }
        } catch (ExecutionException e) {
            UpstreamException u = (UpstreamException) e.getCause();
            return new Answer(0, u.endpoint(), u.flag());
        }
    }

    /** Sends requests for {@code millis} ms and returns how many went to {@code endpoint}. */
    int requestsFor(long millis, InetSocketAddress endpoint) throws Exception {
        int n = 0;
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (System.nanoTime() < end) {
            Answer a = request();
            if (endpoint.equals(a.endpoint())) {
                n++;
            }
            Thread.sleep(10);
        }
        return n;
    }

    /** Sends requests until {@code bad} is ejected; returns when, in System.nanoTime(). */
    long untilEjected(Backends.Server bad, int expectedFailures) throws Exception {
        int before = bad.seen.size();
        for (int i = 0; i < 100 && bad.seen.size() - before < expectedFailures; i++) {
            request();
        }
        assertThat(bad.seen.size() - before).as("failures before the ejection").isEqualTo(expectedFailures);
        Eventually.eventually(() -> manager.ejected(C, bad.address()));
        return System.nanoTime();
    }

    @Test
    void mustShow3OneOfThreeAlwaysFailingIsEjectedForBaseTimeThenLongerAfterASecondEjection() throws Exception {
        AtomicBoolean never = new AtomicBoolean(false);
        Backends.Server a = server("a", never);
        Backends.Server b = server("b", never);
        Backends.Server bad = server("bad", new AtomicBoolean(true));
        config.set(new TestConfig(1).cluster(withOutlier(istio5xx(3, 50), 0.0), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()), TestConfig.endpoint(bad.address())));

        long t0 = untilEjected(bad, 3);
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS, C, "consecutive_5xx")).isEqualTo(1);
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS_ACTIVE, C)).isEqualTo(1);
        assertThat(dump()).contains("\"ejected\":true", "\"ejection_type\":\"consecutive_5xx\"");
        // For the base ejection time it receives nothing; the others answer everything.
        assertThat(requestsFor(600, bad.address())).as("requests to the ejected endpoint").isZero();
        // Then it is tried again, on the first sweep after 1 s.
        Eventually.eventually(() -> !manager.ejected(C, bad.address()));
        long back = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(back).as("ejected for base_ejection_time × 1").isBetween(850L, 2000L);
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS_ACTIVE, C)).isZero();

        // Still failing: ejected again after three more, now for 2 × base.
        long t1 = untilEjected(bad, 3);
        assertThat(requestsFor(1500, bad.address())).as("second ejection outlasts the base time").isZero();
        assertThat(manager.ejected(C, bad.address())).isTrue();
        Eventually.eventually(() -> !manager.ejected(C, bad.address()));
        long second = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1);
        assertThat(second).as("ejected for base_ejection_time × 2").isBetween(1850L, 3200L);
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS, C, "consecutive_5xx")).isEqualTo(2);
        assertThat(dump()).contains("\"times_ejected\":2");
    }

    @Test
    void maxEjectionPercentHoldsWhenAllFail() throws Exception {
        AtomicBoolean failing = new AtomicBoolean(true);
        Backends.Server a = server("a", failing);
        Backends.Server b = server("b", failing);
        Backends.Server c = server("c", failing);
        config.set(new TestConfig(1).cluster(withOutlier(istio5xx(2, 50), 0.0), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()), TestConfig.endpoint(c.address())));
        int maxActive = 0;
        for (int i = 0; i < 60; i++) {
            Answer answer = request();
            assertThat(answer.status()).as("a backend's 503, never UH: two of three stay in").isEqualTo(503);
            maxActive = Math.max(maxActive, (int) metrics.value(UpstreamMetrics.EJECTIONS_ACTIVE, C));
        }
        // 50% of three: a second ejection would be 67%, so one at a time.
        assertThat(maxActive).isEqualTo(1);
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS_OVERFLOW, C)).isGreaterThan(0);
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS, C, "consecutive_5xx")).isEqualTo(1);
    }

    @Test
    void envoysDefaultTenPercentEjectsNothingOfThreeUnlessAlwaysEjectOneHost() throws Exception {
        AtomicBoolean never = new AtomicBoolean(false);
        Backends.Server a = server("a", never);
        Backends.Server b = server("b", never);
        Backends.Server bad = server("bad", new AtomicBoolean(true));
        OutlierDetection.Builder od = OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(2))
                .setInterval(INTERVAL).setBaseEjectionTime(BASE);
        config.set(new TestConfig(1).cluster(withOutlier(od, 0.0), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()), TestConfig.endpoint(bad.address())));
        for (int i = 0; i < 12; i++) {
            request();
        }
        assertThat(manager.ejected(C, bad.address())).as("1 of 3 is over 10%").isFalse();
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS_OVERFLOW, C)).isGreaterThan(0);

        config.set(new TestConfig(2).cluster(withOutlier(od.setAlwaysEjectOneHost(BoolValue.of(true)), 0.0),
                TestConfig.endpoint(a.address()), TestConfig.endpoint(b.address()), TestConfig.endpoint(bad.address())));
        for (int i = 0; i < 12 && !manager.ejected(C, bad.address()); i++) {
            request();
        }
        Eventually.eventually(() -> manager.ejected(C, bad.address()));
    }

    @Test
    void allEjectedWithoutPanicIsNoHealthyUpstreamAndWithEnvoysPanicTheEjectedStillServe() throws Exception {
        Backends.Server only = server("only", new AtomicBoolean(true));
        config.set(new TestConfig(1).cluster(withOutlier(istio5xx(2, 100), 0.0), TestConfig.endpoint(only.address())));
        assertThat(request().status()).isEqualTo(503);
        assertThat(request().status()).isEqualTo(503);
        Eventually.eventually(() -> manager.ejected(C, only.address()));
        Answer none = request();
        assertThat(none.flag()).as("Istio's minHealthPercent 0: panic off").isEqualTo(ResponseFlag.UH);

        // Envoy's default 50% panic threshold: with every endpoint unhealthy they all take traffic.
        config.set(new TestConfig(2).cluster(withOutlier(istio5xx(2, 100), null), TestConfig.endpoint(only.address())));
        assertThat(manager.ejected(C, only.address())).isTrue();
        assertThat(request().status()).isEqualTo(503);
    }

    @Test
    void splitLocalOriginFailuresEjectAnEndpointThatRefusesConnections() throws Exception {
        Backends.Server a = server("a", new AtomicBoolean(false));
        InetSocketAddress dead;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            dead = new InetSocketAddress("127.0.0.1", s.getLocalPort());
        }
        OutlierDetection.Builder od = istio5xx(5, 100).setSplitExternalLocalOriginErrors(true)
                .setConsecutiveLocalOriginFailure(UInt32Value.of(2))
                .setEnforcingConsecutiveLocalOriginFailure(UInt32Value.of(100));
        config.set(new TestConfig(1).cluster(withOutlier(od, 0.0), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(dead)));
        int refused = 0;
        for (int i = 0; i < 10 && refused < 2; i++) {
            Answer answer = request();
            if (answer.flag() == ResponseFlag.UF) {
                refused++;
            }
        }
        assertThat(refused).isEqualTo(2);
        Eventually.eventually(() -> manager.ejected(C, dead));
        assertThat(metrics.value(UpstreamMetrics.EJECTIONS, C, "consecutive_local_origin_failure")).isEqualTo(1);
        for (int i = 0; i < 5; i++) {
            assertThat(request().status()).as("only the healthy endpoint is picked").isEqualTo(200);
        }
    }

    String dump() {
        JsonWriter json = new JsonWriter();
        manager.dump(json);
        return json.toString();
    }
}
