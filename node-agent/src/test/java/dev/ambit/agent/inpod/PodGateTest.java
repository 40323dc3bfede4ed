package dev.ambit.agent.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateIssuer;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bounded wait of a pod's listeners ({@link PodGate}) on loopback: a real epoll
 * listener whose server channel comes from the gate's network, and a served connection
 * greets with "served".
 */
class PodGateTest {

    private static final String WORKLOAD = "Kubernetes//Pod/shop/web";
    private static final SpiffeId ID = SpiffeId.of("cluster.local", "shop", "web");
    /** Outbound and HBONE on ports nobody uses here: the test's listener is an "inbound" one. */
    private static final PodProxy.Ports PORTS = new PodProxy.Ports(1, 2, 3);

    private final ProxyState state = ProxyState.create();
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final AtomicBoolean synced = new AtomicBoolean(true);
    private EventLoopGroup group;
    private CertificateManager certificates;
    private Channel server;

    @BeforeEach
    void setUp() {
        group = Transport.EPOLL.newEventLoopGroup(1, "gate-test");
        CertificateIssuer never = id -> new CompletableFuture<>();
        certificates = CertificateManager.builder(never).metrics(metrics).build();
    }

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        certificates.close();
        group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }

    private PodGate gate(Duration wait) {
        PodGate gate = new PodGate("shop/web", state, certificates, PORTS, wait, synced::get, metrics);
        PodNetwork network = gate.network(PodNetwork.host("pod-uid"));
        server = new ServerBootstrap().group(group)
                .channelFactory(network::newServerChannel)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.writeAndFlush(Unpooled.copiedBuffer("served", StandardCharsets.US_ASCII))
                                .addListener(ChannelFutureListener.CLOSE);
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
        return gate;
    }

    private Socket connect() throws IOException {
        Socket s = new Socket();
        s.connect(server.localAddress(), 2000);
        s.setSoTimeout(10_000);
        return s;
    }

    private void addWorkload(String... policies) {
        Workload w = Workload.newBuilder().setUid(WORKLOAD).setName("web").setNamespace("shop")
                .addAllAuthorizationPolicies(List.of(policies)).build();
        state.applyAddresses(Map.of(WORKLOAD, Address.newBuilder().setWorkload(w).build()), List.of());
    }

    private static String readAll(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    }

    private double held(String outcome) {
        return metrics.scrape().lines()
                .filter(l -> l.startsWith(PodGate.HELD + "{") && l.contains("outcome=\"" + outcome + "\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    void unboundPodHoldsTheConnectionThenResetsIt() throws Exception {
        gate(Duration.ofMillis(400));
        try (Socket s = connect()) {
            long start = System.nanoTime();
            // Nothing served, nothing read: then a reset (SO_LINGER 0), not a FIN.
            assertThatThrownBy(() -> readAll(s)).isInstanceOf(SocketException.class)
                    .hasMessageContaining("reset");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(350));
        }
        assertThat(held("reset")).isEqualTo(1.0);
        assertThat(held("released")).isZero();
    }

    @Test
    void boundPodWhoseWorkloadIsUnknownStillWaits() throws Exception {
        PodGate gate = gate(Duration.ofMillis(300));
        gate.bind(WORKLOAD, ID); // bound, but xDS does not have the workload: its policy is unknown
        try (Socket s = connect()) {
            assertThatThrownBy(() -> readAll(s)).isInstanceOf(SocketException.class);
        }
        assertThat(gate.inboundReady()).isFalse();
    }

    @Test
    void connectionHeldUntilTheWorkloadArrivesIsThenServed() throws Exception {
        PodGate gate = gate(Duration.ofSeconds(10));
        try (Socket s = connect()) {
            Thread.sleep(300); // accepted and held
            assertThat(s.getInputStream().available()).isZero();
            gate.bind(WORKLOAD, ID);
            addWorkload();
            assertThat(readAll(s)).isEqualTo("served");
        }
        assertThat(held("released")).isEqualTo(1.0);
        assertThat(gate.workloadUid()).isEqualTo(WORKLOAD);
    }

    @Test
    void readyGateServesAtOnce() throws Exception {
        PodGate gate = gate(Duration.ofSeconds(10));
        gate.bind(WORKLOAD, ID);
        addWorkload();
        try (Socket s = connect()) {
            assertThat(readAll(s)).isEqualTo("served");
        }
        assertThat(held("released") + held("reset")).isZero();
    }

    @Test
    void outboundAndHboneAlsoNeedTheCertificate() {
        PodGate gate = new PodGate("shop/web", state, certificates, PORTS, Duration.ofSeconds(1), synced::get, metrics);
        assertThat(gate.workloadUid()).contains("shop/web").isNotEqualTo(WORKLOAD);
        gate.bind(WORKLOAD, ID);
        addWorkload();
        assertThat(gate.inboundReady()).isTrue();
        // The issuer never answers: no certificate, so neither may serve.
        assertThat(gate.outboundReady()).isFalse();
        assertThat(gate.hboneReady()).isFalse();
        assertThat(gate.certificate()).isNull();
    }

    @Test
    void closingTheListenerResetsWhatItHolds() throws Exception {
        gate(Duration.ofSeconds(30));
        try (Socket s = connect()) {
            Thread.sleep(200);
            server.close().syncUninterruptibly();
            server = null;
            assertThatThrownBy(() -> readAll(s)).isInstanceOf(SocketException.class);
        }
    }

    private void addPolicy(String name) {
        state.applyAuthorizations(Map.of("shop/" + name, Authorization.newBuilder().setName(name).setNamespace("shop")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY).build()), List.of());
    }

    @Test
    void inboundWaitsForThePolicyItsWorkloadNamesThenServes() throws Exception {
        PodGate gate = gate(Duration.ofSeconds(10));
        gate.bind(WORKLOAD, ID);
        addWorkload("shop/deny-all"); // the Address came before the Authorization it names
        assertThat(gate.inboundReady()).isFalse();
        try (Socket s = connect()) {
            Thread.sleep(300); // held: the Authorizer would skip the unknown policy (fail open)
            assertThat(s.getInputStream().available()).isZero();
            addPolicy("deny-all");
            assertThat(readAll(s)).isEqualTo("served");
        }
        assertThat(gate.inboundReady()).isTrue();
        assertThat(held("released")).isEqualTo(1.0);
    }

    @Test
    void namedPolicyThatNeverArrivesResetsTheConnection() throws Exception {
        PodGate gate = gate(Duration.ofMillis(300));
        gate.bind(WORKLOAD, ID);
        addWorkload("shop/deny-all");
        try (Socket s = connect()) {
            assertThatThrownBy(() -> readAll(s)).isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
        assertThat(held("reset")).isEqualTo(1.0);
        assertThat(gate.hboneReady()).isFalse();
    }

    @Test
    void inboundWaitsForTheFirstSync() {
        // Namespace and mesh-wide policies are not named by the workload: only a complete
        // first sync says they are all there.
        PodGate gate = new PodGate("shop/web", state, certificates, PORTS, Duration.ofSeconds(1), synced::get, metrics);
        gate.bind(WORKLOAD, ID);
        addWorkload();
        synced.set(false);
        assertThat(gate.inboundReady()).isFalse();
        synced.set(true);
        assertThat(gate.inboundReady()).isTrue();
    }

    @Test
    void connectionsBeyondTheCapAreResetAtOnce() throws Exception {
        PodGate gate = gate(Duration.ofSeconds(30));
        gate.maxHeld(2);
        try (Socket a = connect(); Socket b = connect()) {
            long start = System.nanoTime();
            // The third is reset at once, long before the 30 s wait (so fast that setting up the
            // client socket may already see it); the first two stay held.
            assertThatThrownBy(() -> {
                try (Socket c = connect()) {
                    readAll(c);
                }
            }).isInstanceOf(SocketException.class).hasMessageContaining("reset");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
            assertThat(held("overflow")).isEqualTo(1.0);
            gate.bind(WORKLOAD, ID);
            addWorkload();
            assertThat(readAll(a)).isEqualTo("served");
            assertThat(readAll(b)).isEqualTo("served");
        }
        assertThat(held("released")).isEqualTo(2.0);
        assertThat(PodGate.MAX_HELD).isEqualTo(1024);
    }

    @Test
    void negativeWaitIsRefused() {
        assertThatThrownBy(() -> new PodGate("shop/web", state, certificates, PORTS, Duration.ofMillis(-1), synced::get, metrics))
                .hasMessage("wait: PT-0.001S (expected: >= 0)");
    }
}
