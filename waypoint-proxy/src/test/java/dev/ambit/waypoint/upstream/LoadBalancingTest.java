package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.netty.channel.EventLoopGroup;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 "Must show 1": each load-balancing policy's distribution over 1,000 requests,
 * measured at real HTTP/1.1 backends on loopback through the {@link ClusterManager}.
 * (Consistent hashing driven by the route's hash policy: {@code http.HashPolicyEndToEndTest}.)
 */
class LoadBalancingTest {

    static final String C = "outbound|9080||reviews.shop.svc.cluster.local";
    static final int N = 1000;

    EventLoopGroup loops;
    final AtomicReference<WaypointConfig> config = new AtomicReference<>(new TestConfig(1));
    final AtomicLong clock = new AtomicLong();
    final List<AutoCloseable> closeables = new ArrayList<>();
    ClusterManager manager;

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "lb-test");
        manager = ClusterManager.builder(config::get, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .picker(new EndpointPicker(clock::get)).idleTimeout(Duration.ofSeconds(30)).build();
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

    Backends.Server server(String name) {
        return server(name, Backends.ok(name));
    }

    Backends.Server server(String name, Backends.Behaviour behaviour) {
        Backends.Server s = new Backends.Server(loops, "127.0.0.1", false, behaviour);
        closeables.add(s);
        return s;
    }

    /** Which backend answered each of {@code n} sequential requests: name → count. */
    Map<String, Integer> sequential(int n) throws Exception {
        Map<String, Integer> counts = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            UpstreamResponse r = manager.send(new UpstreamRequest(C, ClusterManagerTest.get("/"), Set.of(),
                    Duration.ofSeconds(5))).toCompletableFuture().get(5, TimeUnit.SECONDS);
            try {
                String body = r.response().content().toString(StandardCharsets.UTF_8);
                counts.merge(body.substring(0, body.indexOf(' ')), 1, Integer::sum);
            } finally {
                r.response().release();
            }
        }
        return counts;
    }

    static Cluster cluster(Cluster.LbPolicy policy) {
        return TestConfig.http1(C).toBuilder().setLbPolicy(policy).build();
    }

    void configure(Cluster cluster, LbEndpoint... endpoints) {
        config.set(new TestConfig(config.get().version() + 1).cluster(cluster, endpoints));
    }

    @Test
    void roundRobinIsEvenWithinFivePercent() throws Exception {
        Backends.Server a = server("a");
        Backends.Server b = server("b");
        Backends.Server c = server("c");
        configure(cluster(Cluster.LbPolicy.ROUND_ROBIN), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()), TestConfig.endpoint(c.address()));
        Map<String, Integer> counts = sequential(N);
        assertThat(counts).containsOnlyKeys("a", "b", "c");
        counts.values().forEach(n -> assertThat(n).as("share of %s", counts).isBetween(317, 350));
    }

    @Test
    void weightedRoundRobinFollowsEdsWeights() throws Exception {
        Backends.Server a = server("a");
        Backends.Server b = server("b");
        configure(cluster(Cluster.LbPolicy.ROUND_ROBIN), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()).toBuilder().setLoadBalancingWeight(UInt32Value.of(3)).build());
        Map<String, Integer> counts = sequential(N);
        assertThat(counts.get("a")).as("weight 1 of 4: %s", counts).isBetween(238, 263);
        assertThat(counts.get("b")).as("weight 3 of 4: %s", counts).isBetween(713, 788);
    }

    @Test
    void randomIsRoughlyEven() throws Exception {
        Backends.Server a = server("a");
        Backends.Server b = server("b");
        Backends.Server c = server("c");
        configure(cluster(Cluster.LbPolicy.RANDOM), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()), TestConfig.endpoint(c.address()));
        Map<String, Integer> counts = sequential(N);
        assertThat(counts).containsOnlyKeys("a", "b", "c");
        // Binomial(1000, 1/3): sd 15; 5 sd either side.
        counts.values().forEach(n -> assertThat(n).as("share of %s", counts).isBetween(258, 408));
    }

    @Test
    void leastRequestAvoidsASlowEndpoint() throws Exception {
        Backends.Server a = server("a");
        Backends.Server b = server("b");
        Backends.Server slow = server("slow", (ctx, request) -> ctx.executor().schedule(
                () -> ctx.writeAndFlush(Backends.text("slow " + request.uri())), 30, TimeUnit.MILLISECONDS));
        configure(cluster(Cluster.LbPolicy.LEAST_REQUEST), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address()), TestConfig.endpoint(slow.address()));
        Map<String, Integer> counts = concurrent(N, 8);
        assertThat(counts.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(N);
        // Round robin would send it a third (333); power of two choices sees its outstanding requests.
        assertThat(counts.getOrDefault("slow", 0)).as("requests to the slow endpoint: %s", counts).isLessThan(100);
        assertThat(counts.get("a")).as("%s", counts).isGreaterThan(350);
        assertThat(counts.get("b")).as("%s", counts).isGreaterThan(350);
    }

    /** {@code n} requests keeping {@code concurrency} in flight; name → count. */
    Map<String, Integer> concurrent(int n, int concurrency) throws Exception {
        Map<String, Integer> counts = new ConcurrentHashMap<>();
        Semaphore slots = new Semaphore(concurrency);
        CountDownLatch done = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            assertThat(slots.tryAcquire(5, TimeUnit.SECONDS)).isTrue();
            manager.send(new UpstreamRequest(C, ClusterManagerTest.get("/"), Set.of(), Duration.ofSeconds(5)))
                    .whenComplete((r, e) -> {
                        if (r != null) {
                            String body = r.response().content().toString(StandardCharsets.UTF_8);
                            counts.merge(body.substring(0, body.indexOf(' ')), 1, Integer::sum);
                            r.response().release();
                        }
                        slots.release();
                        done.countDown();
                    });
        }
        assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
        return new TreeMap<>(counts);
    }

    @Test
    void slowStartRampsANewEndpointUpOverTheWindow() throws Exception {
        Backends.Server old = server("old");
        Backends.Server fresh = server("new");
        Cluster rr = cluster(Cluster.LbPolicy.ROUND_ROBIN).toBuilder().setRoundRobinLbConfig(
                Cluster.RoundRobinLbConfig.newBuilder().setSlowStartConfig(Cluster.SlowStartConfig.newBuilder()
                        .setSlowStartWindow(com.google.protobuf.Duration.newBuilder().setSeconds(60)))).build();
        configure(rr, TestConfig.endpoint(old.address()));
        assertThat(sequential(1)).containsOnlyKeys("old");
        clock.set(TimeUnit.SECONDS.toNanos(600)); // "old" is long past its window
        configure(rr, TestConfig.endpoint(old.address()), TestConfig.endpoint(fresh.address()));
        assertThat(sequential(1)).hasSize(1); // "new" joins now (t = 600 s)
        // Envoy: weight * max(10%, (age / window) ^ (1 / aggression)), aggression 1.0: linear.
        clock.set(TimeUnit.SECONDS.toNanos(603)); // 3 s of 60: the 10% floor → 0.1 / 1.1
        assertThat(sequential(N).getOrDefault("new", 0)).isBetween(80, 102);
        clock.set(TimeUnit.SECONDS.toNanos(630)); // 30 s of 60: 0.5 / 1.5
        assertThat(sequential(N).get("new")).isBetween(317, 350);
        clock.set(TimeUnit.SECONDS.toNanos(654)); // 54 s of 60: 0.9 / 1.9
        assertThat(sequential(N).get("new")).isBetween(450, 497);
        clock.set(TimeUnit.SECONDS.toNanos(661)); // past the window: even
        assertThat(sequential(N).get("new")).isBetween(475, 525);
    }
}
