package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.LeakCheck;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Where {@link ClusterManager} puts a request's upstream connection when every request comes
 * from one event loop, as all streams of one HBONE connection do: on the caller's loop while
 * it has the fewest requests in flight (light load: no hand-off between threads), on the
 * other loops as concurrent requests pile up there (one busy node's agent must not keep one
 * waypoint core busy, istio/istio #43443).
 */
class ClusterManagerLoopsTest {

    static final String C = ClusterManagerTest.C;

    EventLoopGroup loops;
    EventLoopGroup backendLoops;
    ClusterManager manager;
    Backends.Server backend;

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "loops-test");
        backendLoops = Transport.EPOLL.newEventLoopGroup(1, "loops-backend");
        manager = ClusterManager.builder(() -> config(), SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .metrics(MetricsRegistry.create()).build();
        backend = new Backends.Server(backendLoops, "127.0.0.1", false, (ctx, request) -> {
            int n = holdUntil;
            if (n == 0) {
                ctx.executor().schedule(() -> ctx.writeAndFlush(Backends.text("ok")), 100, TimeUnit.MILLISECONDS);
                return;
            }
            // Concurrent for sure: no answer until n requests are in (on a busy machine 100 ms may
            // pass before the last is sent, and a finished connection then changes the count).
            held.add(ctx);
            if (held.size() >= n) {
                held.forEach(c -> c.writeAndFlush(Backends.text("ok")));
                held.clear();
            }
        });
    }

    /** With n > 0, the backend answers only once n requests are waiting (its one loop keeps {@code held}). */
    private volatile int holdUntil;
    private final List<io.netty.channel.ChannelHandlerContext> held = new ArrayList<>();

    private TestConfig config;

    private TestConfig config() {
        return config;
    }

    @AfterEach
    void tearDown() throws Exception {
        manager.close();
        backend.close();
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        backendLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    private EventLoop first() {
        return (EventLoop) loops.iterator().next();
    }

    /** Sends {@code n} requests at once from the first loop; the names of the threads their stages completed on. */
    private Set<String> sendFromFirstLoop(int n) throws Exception {
        Set<String> completedOn = ConcurrentHashMap.newKeySet();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        first().submit(() -> {
            for (int i = 0; i < n; i++) {
                all.add(manager.send(new UpstreamRequest(C, ClusterManagerTest.get("/" + i), Set.of(), Duration.ZERO))
                        .thenAccept(r -> {
                            completedOn.add(Thread.currentThread().getName());
                            try {
                                assertThat(r.response().status()).isEqualTo(HttpResponseStatus.OK);
                            } finally {
                                r.response().release();
                            }
                        }).toCompletableFuture());
            }
        }).sync();
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(5, TimeUnit.SECONDS);
        return completedOn;
    }

    @Test
    void concurrentRequestsFromOneLoopUseEveryLoop() throws Exception {
        config = new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(backend.address()));

        holdUntil = 8;
        Set<String> threads = sendFromFirstLoop(8);

        assertThat(backend.accepts.get()).as("one connection per concurrent request").isEqualTo(8);
        assertThat(threads).as("upstream connections on both loops").hasSize(2)
                .allSatisfy(t -> assertThat(t).startsWith("loops-test"));
    }

    /**
     * A gateway's clients arrive spread over the loops: each loop's requests must stay on it,
     * on keep-alive connections of its own (Envoy's per-worker pools), not take whichever
     * connection went idle last, whose thread then has to be woken for the request and again
     * for the response (ambit-ingress stalled on those hops on a busy machine).
     */
    @Test
    void requestsFromEveryLoopStayOnTheirOwnLoopsConnections() throws Exception {
        config = new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(backend.address()));
        List<CompletableFuture<List<String>>> perLoop = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (var e : loops) {
            names.add(e.submit(() -> Thread.currentThread().getName()).get());
            CompletableFuture<List<String>> done = new CompletableFuture<>();
            e.execute(() -> sendInTurn((EventLoop) e, 8, new ArrayList<>(), done));
            perLoop.add(done);
        }
        for (int i = 0; i < perLoop.size(); i++) {
            assertThat(perLoop.get(i).get(10, TimeUnit.SECONDS)).as("where loop %s's responses arrived", names.get(i))
                    .hasSize(8).containsOnly(names.get(i));
        }
        assertThat(backend.accepts.get()).as("one keep-alive connection per loop").isEqualTo(2);
    }

    /** Sends {@code left} requests from {@code loop}, one after the other; {@code seen}: the threads their responses came on. */
    private void sendInTurn(EventLoop loop, int left, List<String> seen, CompletableFuture<List<String>> done) {
        if (left == 0) {
            done.complete(seen);
            return;
        }
        manager.send(new UpstreamRequest(C, ClusterManagerTest.get("/" + left), Set.of(), Duration.ZERO))
                .whenComplete((r, t) -> {
                    seen.add(Thread.currentThread().getName());
                    if (t != null) {
                        done.completeExceptionally(t);
                        return;
                    }
                    r.response().release();
                    loop.execute(() -> sendInTurn(loop, left - 1, seen, done));
                });
    }

    @Test
    void oneRequestAtATimeStaysOnTheCallersLoop() throws Exception {
        config = new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(backend.address()));
        String caller = first().submit(() -> Thread.currentThread().getName()).get();

        for (int i = 0; i < 3; i++) {
            assertThat(sendFromFirstLoop(1)).containsExactly(caller);
        }
        assertThat(backend.accepts.get()).as("the keep-alive connection reused").isEqualTo(1);
    }
}
