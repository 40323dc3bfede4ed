package dev.ambit.proxy.net;

import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.identity.TestCa;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link HbonePool} on its own: keys, certificate renewal, idle close. */
class HbonePoolTest {

    @TempDir
    Path dir;
    TestCa ca;
    CaClient caClient;
    TlsContexts tls;
    EventLoopGroup loops;
    TestServers.Echo echo;
    TestServers.HbonePeer peer;
    HbonePool pool;
    final MetricsRegistry metrics = MetricsRegistry.create();
    final SocketFactory network = SocketFactory.host("frontend-pod", Transport.EPOLL);
    InetSocketAddress hboneAddress;

    @BeforeEach
    void setUp() throws Exception {
        ca = new TestCa(dir, Duration.ofHours(1));
        caClient = ca.client().trustBundle(ca.bundle()).build();
        tls = TlsContexts.builder(ca.bundle()).build();
        loops = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.2"))) {
            port = probe.getLocalPort();
        }
        hboneAddress = new InetSocketAddress("127.0.0.2", port);
        echo = new TestServers.Echo(loops, new InetSocketAddress("127.0.0.1", 0));
        peer = new TestServers.HbonePeer(loops, hboneAddress, tls,
                caClient.issue(TestCa.BACKEND).get(10, TimeUnit.SECONDS), echo.address(), 100);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (pool != null) {
            pool.close();
        }
        if (peer != null) {
            peer.close();
        }
        if (echo != null) {
            echo.close();
        }
        if (loops != null) {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (ca != null) {
            ca.close();
        }
    }

    @Test
    void aRenewedCertificateGetsANewConnection() throws Exception {
        pool = HbonePool.builder(tls).metrics(metrics).build();
        WorkloadCertificate first = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate renewed = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        assertThat(renewed.serialNumber()).isNotEqualTo(first.serialNumber());

        Http2StreamChannel a = open(first);
        Http2StreamChannel b = open(first);
        assertThat(b.parent()).isSameAs(a.parent());
        assertThat(peer.accepts).hasValue(1);

        Http2StreamChannel c = open(renewed);
        assertThat(c.parent()).isNotSameAs(a.parent());
        assertThat(peer.accepts).hasValue(2);
        assertThat(peer.seen).hasSize(3).allSatisfy(s -> assertThat(s.client()).isEqualTo(TestCa.FRONTEND));
        assertThat(metrics.value(HbonePool.OPENED)).isEqualTo(2.0);
        assertThat(metrics.value(HbonePool.STREAMS)).isEqualTo(3.0);
        a.close().sync();
        b.close().sync();
        c.close().sync();
    }

    @Test
    void idleConnectionsAreClosed() throws Exception {
        pool = HbonePool.builder(tls).metrics(metrics).idleTimeout(Duration.ofMillis(200)).build();
        WorkloadCertificate cert = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);

        Http2StreamChannel stream = open(cert);
        assertThat(pool.connectionCount()).isEqualTo(1);
        Thread.sleep(400);
        assertThat(stream.parent().isActive()).as("busy connections stay").isTrue();

        stream.close().sync();
        eventually(() -> pool.connectionCount() == 0);
        assertThat(stream.parent().isActive()).isFalse();

        // The next tunnel opens a fresh connection.
        Http2StreamChannel next = open(cert);
        assertThat(next.parent()).isNotSameAs(stream.parent());
        assertThat(peer.accepts).hasValue(2);
        next.close().sync();
    }

    /**
     * Pod churn (found by the integration tests): a pod goes away without its connections being
     * closed, and a new pod of the same identity gets its address. The new pod must not inherit
     * the old one's (dead) connections, and those close as the old pod leaves the mesh's view.
     */
    @Test
    void aWorkloadThatLeftLosesItsConnectionsAndOneReusingItsAddressGetsItsOwn() throws Exception {
        pool = HbonePool.builder(tls).metrics(metrics).build();
        WorkloadCertificate cert = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        String gone = "Kubernetes//Pod/shop/backend-1";
        String successor = "Kubernetes//Pod/shop/backend-2";
        Http2StreamChannel old = open(cert, gone);
        old.close().sync(); // idle: it would otherwise stay for the idle timeout (a minute)

        Http2StreamChannel fresh = open(cert, successor);
        assertThat(fresh.parent()).as("same address and identity, another workload").isNotSameAs(old.parent());
        assertThat(peer.accepts).hasValue(2);
        Http2StreamChannel unknown = open(cert); // no destination uid: never released by uid
        assertThat(pool.connectionCount()).isEqualTo(3);

        pool.retainDestinations(uid -> !uid.equals(gone));
        assertThat(old.parent().closeFuture().await(10, TimeUnit.SECONDS)).as("the gone workload's connection")
                .isTrue();
        eventually(() -> pool.connectionCount() == 2);

        // Now the successor leaves too, while it carries a tunnel: that one goes on, then the connection closes.
        pool.retainDestinations(uid -> false);
        Thread.sleep(100);
        assertThat(fresh.isActive()).as("an open tunnel goes on").isTrue();
        assertThat(unknown.parent().isActive()).as("unknown destinations are kept").isTrue();
        Http2StreamChannel next = open(cert, successor);
        assertThat(next.parent()).as("no new tunnel on a released connection").isNotSameAs(fresh.parent());
        fresh.close().sync();
        assertThat(fresh.parent().closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
        next.close().sync();
        unknown.close().sync();
    }

    @Test
    void drainClosesIdleConnectionsAtOnceAndBusyOnesAfterTheirLastTunnel() throws Exception {
        pool = HbonePool.builder(tls).metrics(metrics).build();
        WorkloadCertificate first = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate renewed = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        Http2StreamChannel busy = open(first);
        Http2StreamChannel idle = open(renewed); // another key: another connection
        idle.close().sync();
        assertThat(pool.connectionCount()).isEqualTo(2);

        CompletableFuture<Integer> drained = pool.drain(Duration.ofSeconds(30));

        assertThat(idle.parent().closeFuture().await(10, TimeUnit.SECONDS)).as("idle: closed at once").isTrue();
        assertThat(busy.parent().isActive()).as("busy: its tunnel goes on").isTrue();
        assertThat(busy.isActive()).isTrue();
        assertThat(drained).isNotDone();
        assertThatThrownBy(() -> open(first)).hasRootCauseInstanceOf(IllegalStateException.class)
                .rootCause().hasMessageContaining("closed");
        assertThat(pool.drain(Duration.ZERO)).as("the same drain").isSameAs(drained);

        busy.close().sync();
        assertThat(drained.get(10, TimeUnit.SECONDS)).as("force-closed").isZero();
        assertThat(busy.parent().isActive()).isFalse();
        assertThat(pool.connectionCount()).isZero();
    }

    @Test
    void drainResetsConnectionsWhoseTunnelsOutliveTheDeadline() throws Exception {
        pool = HbonePool.builder(tls).metrics(metrics).build();
        Http2StreamChannel busy = open(caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS));

        assertThat(pool.drain(Duration.ofMillis(200)).get(10, TimeUnit.SECONDS)).isEqualTo(1);

        assertThat(busy.parent().isActive()).isFalse();
        assertThat(busy.closeFuture().await(10, TimeUnit.SECONDS)).as("the tunnel ends with it").isTrue();
        eventually(() -> pool.connectionCount() == 0);
    }

    @Test
    void releasingAPodClosesItsConnectionsAfterTheirLastTunnelAndKeepsOthers() throws Exception {
        pool = HbonePool.builder(tls).metrics(metrics).build();
        WorkloadCertificate cert = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        Http2StreamChannel busy = open(cert);
        Http2StreamChannel other = pool.connect(SocketFactory.host("Kubernetes//Pod/shop/other", Transport.EPOLL), cert, TestCa.BACKEND,
                hboneAddress, HboneRequest.of(new InetSocketAddress("127.0.0.2", 9080)), loops.next())
                .get(10, TimeUnit.SECONDS);
        assertThat(pool.connectionCount()).isEqualTo(2);

        pool.release(network.owner());

        assertThat(busy.isActive()).as("an open tunnel of the released pod goes on").isTrue();
        busy.close().sync();
        assertThat(busy.parent().closeFuture().await(10, TimeUnit.SECONDS))
                .as("its connection closes after its last tunnel").isTrue();
        assertThat(other.parent().isActive()).as("another pod's connection stays").isTrue();
        eventually(() -> pool.connectionCount() == 1);
        Http2StreamChannel again = open(cert);
        assertThat(again.parent()).as("a new connection for the pod").isNotSameAs(busy.parent());
        again.close().sync();
        other.close().sync();
    }

    private Http2StreamChannel open(WorkloadCertificate cert) throws Exception {
        EventLoop loop = loops.next();
        return pool.connect(network, cert, TestCa.BACKEND, hboneAddress,
                HboneRequest.of(new InetSocketAddress("127.0.0.2", 9080)), loop).get(10, TimeUnit.SECONDS);
    }

    private Http2StreamChannel open(WorkloadCertificate cert, String destinationUid) throws Exception {
        EventLoop loop = loops.next();
        return pool.connect(network, cert, TestCa.BACKEND, destinationUid, hboneAddress,
                HboneRequest.of(new InetSocketAddress("127.0.0.2", 9080)), loop).get(10, TimeUnit.SECONDS);
    }

}
