package dev.ambit.agent.proxy;

import static dev.ambit.testing.Eventually.eventually;
import static dev.ambit.proxy.identity.TestCa.BACKEND;
import static dev.ambit.proxy.identity.TestCa.ELSEWHERE;
import static dev.ambit.proxy.identity.TestCa.FRONTEND;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneConnectException;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.telemetry.trace.ConnectionSpans;
import dev.ambit.proxy.telemetry.trace.TraceSettings;
import dev.ambit.proxy.telemetry.trace.Tracer;
import dev.ambit.proxy.telemetry.trace.Tracers;
import dev.ambit.proxy.hbone.HboneServer;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.testing.MetricSamples;
import dev.ambit.proxy.identity.TestCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ResourceLeakDetector;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inbound proxy end to end on loopback: certificates from the real istiod-lite CA, a
 * real HBONE client over mutual TLS, the 15008 and 15006 listeners of a "pod" whose address
 * is 127.0.0.2 (every 127/8 address is local), and an echo app bound there.
 */
class InboundProxyTest {

    static final String POD_UID = "Kubernetes//Pod/shop/backend-1";
    static final InetAddress POD_IP = ip("127.0.0.2");
    static final InetAddress FRONTEND_IP = ip("127.0.0.3");
    static final String STRICT = "istio-system/istio_converted_static_strict";

    @TempDir
    static Path dir;
    static TestCa ca;
    static TlsContexts tls;
    static WorkloadCertificate frontendCert;
    static WorkloadCertificate backendCert;
    static WorkloadCertificate paymentsCert;
    static EventLoopGroup group;
    static Channel app;
    static final AtomicInteger appConnections = new AtomicInteger();
    // tracing (issue 19): the listener's spans go through a real pipeline to a Zipkin stand-in.
    static com.sun.net.httpserver.HttpServer zipkin;
    static final List<String> spans = new CopyOnWriteArrayList<>();
    static Tracers tracers;
    static Tracer tracer;

    final java.util.concurrent.atomic.AtomicReference<WorkloadCertificate> podCertificate =
            new java.util.concurrent.atomic.AtomicReference<>();
    ProxyState state;
    MetricsRegistry metrics;
    Hbone15008Listener hbone;
    Plaintext15006Listener plaintext;
    final List<Channel> clients = new ArrayList<>();

    @BeforeAll
    static void startCaAndApp() throws Exception {
        LeakCheck.reset();
        ca = new TestCa(dir, Duration.ofHours(1));
        ca.placeOnNode(FRONTEND, BACKEND, ELSEWHERE);
        tls = TlsContexts.builder(ca.bundle()).build();
        frontendCert = ca.issue(FRONTEND);
        backendCert = ca.issue(BACKEND);
        paymentsCert = ca.issue(ELSEWHERE);
        group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        app = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        appConnections.incrementAndGet();
                        ch.pipeline().addLast(new Echo());
                    }
                })
                .bind(new InetSocketAddress(POD_IP, 0)).sync().channel();
        zipkin = com.sun.net.httpserver.HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        zipkin.createContext("/api/v2/spans", ex -> {
            spans.add(new String(ex.getRequestBody().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
            ex.sendResponseHeaders(202, -1);
            ex.close();
        });
        zipkin.start();
        tracers = Tracers.builder(MetricsRegistry.create(), cluster -> zipkin.getAddress()).build();
        tracer = tracers.tracer(new TraceSettings(0, List.of(), TraceSettings.DEFAULT_MAX_PATH_TAG_LENGTH,
                new dev.ambit.proxy.telemetry.trace.Collector.Zipkin("outbound|9411||zipkin", null),
                "ztunnel.istio-system"));
    }

    @AfterAll
    static void stop() throws Exception {
        app.close().sync();
        tracers.close();
        zipkin.stop(0);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        ca.close();
    }

    @BeforeEach
    void startListeners() {
        state = ProxyState.create();
        metrics = MetricsRegistry.create();
        setWorkloads();
        InboundContext inbound = InboundContext.builder(PodNetwork.host(POD_UID), state)
                .podAddresses(List.of(POD_IP)).eventLoopGroup(group).metrics(metrics)
                .spans(ConnectionSpans.of(() -> tracer, "ztunnel~test")).build();
        podCertificate.set(backendCert);
        hbone = Hbone15008Listener.builder(inbound, tls, podCertificate::get)
                .bindAddress(new InetSocketAddress(POD_IP, 0)).build().start();
        // No sk_lookup here: the test connects to the listener itself and names the app as the
        // original destination, as the steered socket's local address would.
        plaintext = Plaintext15006Listener.builder(inbound)
                .bindAddress(new InetSocketAddress(POD_IP, 0))
                .originalDestination(ch -> appAddress())
                .build().start();
    }

    @AfterEach
    void stopListeners() throws Exception {
        for (Channel c : clients) {
            c.close().sync();
        }
        hbone.close();
        plaintext.close();
        LeakCheck.assertNoLeaks();
    }

    // ---------------------------------------------------------------- HBONE

    @Test
    void mtlsTunnelReachesTheAppWithIdentitiesVerifiedBothWays() throws Exception {
        Channel conn = connect(frontendCert, BACKEND);
        // The client's context accepts only BACKEND: the handshake itself verified the server.
        assertThat(TlsContexts.peerIdentity(conn)).isEqualTo(BACKEND);
        int before = appConnections.get();

        assertThat(exchange(conn, request(appAddress()), "hello through hbone")).isEqualTo("hello through hbone");

        assertThat(appConnections.get()).isEqualTo(before + 1);
        String[] labels = {"reporter", "destination",
            "source_principal", FRONTEND.uri(), "source_workload", "frontend",
            "destination_principal", BACKEND.uri(), "destination_workload", "backend-1",
            "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(metric("istio_tcp_connections_closed_total", labels)).isEqualTo(1));
        assertThat(metric("istio_tcp_connections_opened_total", labels)).isEqualTo(1);
        assertThat(metric("istio_tcp_received_bytes_total", labels)).isEqualTo(19);
        assertThat(metric("istio_tcp_sent_bytes_total", labels)).isEqualTo(19);
        assertThat(metrics.scrape()).doesNotContain(InboundRefusals.METRIC + "{");
    }

    @Test
    void denyPolicyForTheClientAnswers403AndNothingReachesTheApp() throws Exception {
        setPolicies(policy("deny-frontend", Action.DENY, principal(FRONTEND)));
        Channel conn = connect(frontendCert, BACKEND);
        int before = appConnections.get();

        assertThatThrownBy(() -> exchange(conn, request(appAddress()), "x"))
                .hasRootCauseInstanceOf(HboneConnectException.class)
                .rootCause().satisfies(e -> {
                    assertThat(((HboneConnectException) e).status()).isEqualTo(403);
                    assertThat(e.getMessage()).contains("shop/deny-frontend");
                });
        assertThat(appConnections.get()).isEqualTo(before);
        assertThat(refused("policy_denied")).isEqualTo(1);
        assertThat(metric("istio_tcp_connections_closed_total", "source_principal", FRONTEND.uri(),
                "connection_security_policy", "mutual_tls")).isEqualTo(1);
        // The mesh view's ring: the denial with the policy and the rule that matched.
        assertThat(state.denials().snapshot()).singleElement().satisfies(d -> {
            assertThat(d.reason()).isEqualTo("policy_denied");
            assertThat(d.policy()).endsWith("/deny-frontend");
            assertThat(d.rule()).isZero();
            assertThat("spiffe://" + d.sourcePrincipal()).isEqualTo(FRONTEND.uri());
        });
    }

    @Test
    void aTunnelWhoseConnectCarriesASampledContextIsOneSpanUnderItAndADenialToo() throws Exception {
        spans.clear();
        String parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-";
        Channel conn = connect(frontendCert, BACKEND);
        assertThat(exchange(conn, HboneRequest.builder(appAddress()).forwardedFor(FRONTEND_IP)
                .traceparent(parent + "01").build(), "traced")).isEqualTo("traced");
        assertThat(exchange(conn, HboneRequest.builder(appAddress()).forwardedFor(FRONTEND_IP)
                .traceparent(parent + "00").build(), "not sampled")).isEqualTo("not sampled");
        assertThat(exchange(conn, request(appAddress()), "no context")).isEqualTo("no context");
        setPolicies(policy("deny-frontend", Action.DENY, principal(FRONTEND)));
        assertThatThrownBy(() -> exchange(conn, HboneRequest.builder(appAddress()).forwardedFor(FRONTEND_IP)
                .traceparent(parent + "01").build(), "x")).rootCause().isInstanceOf(HboneConnectException.class);
        eventually(() -> assertThat(metric("istio_tcp_connections_closed_total", "source_principal", FRONTEND.uri()))
                .isEqualTo(4));
        tracers.flush(Duration.ofSeconds(5));
        String json = String.join("\n", spans);
        // Two spans (the traced tunnel, the denied one): none for the unsampled or context-less tunnels.
        assertThat(json.split("\"name\":\"inbound\\|" + appAddress().getPort() + "\\|\\|\"", -1))
                .as("spans: %s", json).hasSize(3);
        assertThat(json).contains("\"parentId\":\"00f067aa0ba902b7\"", "\"kind\":\"SERVER\"",
                "\"src.identity\":\"" + FRONTEND.uri() + "\"", "\"dst.identity\":\"" + BACKEND.uri() + "\"",
                "\"dst.workload\":\"backend-1\"", "\"src.addr\":\"" + FRONTEND_IP.getHostAddress() + "\"",
                "\"bytes_recv\":\"6\"", "\"bytes_sent\":\"6\"", "\"connection_security_policy\":\"mutual_tls\"",
                "\"close_reason\":\"", "deny-frontend", "\"error\":\"true\"");
    }

    @Test
    void allowOnlyFrontendDeniesAnotherIdentity() throws Exception {
        setPolicies(policy("allow-frontend", Action.ALLOW, principal(FRONTEND)));

        Channel payments = connect(paymentsCert, BACKEND);
        assertThatThrownBy(() -> exchange(payments, request(appAddress()), "x"))
                .rootCause().isInstanceOf(HboneConnectException.class).hasMessageContaining("403");
        assertThat(refused("no_allow_match")).isEqualTo(1);

        Channel frontend = connect(frontendCert, BACKEND);
        assertThat(exchange(frontend, request(appAddress()), "allowed")).isEqualTo("allowed");
    }

    @Test
    void authorityThatIsNotThisPodIsRefused() throws Exception {
        Channel conn = connect(frontendCert, BACKEND);
        int before = appConnections.get();
        assertThatThrownBy(() -> exchange(conn, request(new InetSocketAddress(ip("127.0.0.9"), 80)), "x"))
                .rootCause().isInstanceOf(HboneConnectException.class)
                .hasMessageContaining("403").hasMessageContaining("not a local workload");
        assertThat(refused(InboundRefusals.NOT_LOCAL)).isEqualTo(1);
        assertThat(appConnections.get()).isEqualTo(before);
        // The same connection still opens tunnels.
        assertThat(exchange(conn, request(appAddress()), "still fine")).isEqualTo("still fine");
    }

    @Test
    void rawBytesThatAreNotTlsAreRefusedAndCounted() throws Exception {
        try (Socket s = new Socket(POD_IP, hbone.localAddress().getPort())) {
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(US_ASCII));
            drain(s);
        }
        eventually(() -> assertThat(refused(InboundRefusals.NOT_TLS)).isEqualTo(1));
        assertValidClientStillWorks();
    }

    @Test
    void tlsWithoutClientCertificateIsRefusedAndCounted() throws Exception {
        SslContext anonymous = SslContextBuilder.forClient().sslProvider(SslProvider.JDK).protocols("TLSv1.3")
                .trustManager(InsecureTrustManagerFactory.INSTANCE)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"))
                .build();
        Channel ch = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        c.pipeline().addLast(anonymous.newHandler(c.alloc()), new Discard());
                    }
                })
                .connect(hbone.localAddress()).sync().channel();
        assertThat(ch.closeFuture().await(10, TimeUnit.SECONDS)).as("server closed the connection").isTrue();
        eventually(() -> assertThat(refused(InboundRefusals.NO_CLIENT_CERTIFICATE)).isEqualTo(1));
        assertValidClientStillWorks();
    }

    @Test
    void getInsteadOfConnectIsRefusedWith400() throws Exception {
        Channel conn = connect(frontendCert, BACKEND);
        Http2Headers get = new DefaultHttp2Headers().method("GET").scheme("https").path("/")
                .authority(authority(appAddress()));
        assertThat(rawRequest(conn, get)).isEqualTo("400");
        eventually(() -> assertThat(refused(InboundRefusals.BAD_REQUEST)).isEqualTo(1));
        assertThat(exchange(conn, request(appAddress()), "after GET")).isEqualTo("after GET");
    }

    @Test
    void connectWithoutAuthorityIsRefusedWith400() throws Exception {
        Channel conn = connect(frontendCert, BACKEND);
        assertThat(rawRequest(conn, new DefaultHttp2Headers().method("CONNECT"))).isEqualTo("400");
        eventually(() -> assertThat(refused(InboundRefusals.BAD_REQUEST)).isEqualTo(1));
        assertThat(exchange(conn, request(appAddress()), "after")).isEqualTo("after");
    }

    @Test
    void oversizedHeadersAreRefusedAndCounted() throws Exception {
        // Netty's client would refuse to send headers above the server's advertised limit, so
        // this client writes the HTTP/2 frames itself after the TLS handshake.
        SslContext client = tls.client(frontendCert, BACKEND);
        CompletableFuture<Void> ready = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        SslHandler ssl = client.newHandler(c.alloc());
                        c.pipeline().addLast(ssl, new Discard());
                        ssl.handshakeFuture().addListener(f -> {
                            if (f.isSuccess()) {
                                ready.complete(null);
                            } else {
                                ready.completeExceptionally(f.cause());
                            }
                        });
                    }
                })
                .connect(hbone.localAddress()).sync().channel();
        clients.add(ch);
        ready.get(10, TimeUnit.SECONDS);
        // Between the limit (16 KiB) and the codec's GOAWAY threshold (limit + 1/4): a stream error.
        Http2Headers big = new DefaultHttp2Headers().method("CONNECT").authority(authority(appAddress()))
                .set("x-filler", "a".repeat(17_500));
        ch.writeAndFlush(rawFrames(big)).sync();
        eventually(() -> assertThat(refused(InboundRefusals.HEADERS_TOO_LARGE)).isEqualTo(1));
        assertValidClientStillWorks();
    }

    @Test
    void largeTransfersKeepEveryByteInOrder() throws Exception {
        String payload = pattern(1 << 20);
        Channel conn = connect(frontendCert, BACKEND);
        assertThat(exchange(conn, request(appAddress()), payload)).isEqualTo(payload);
        String[] labels = {"connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(metric("istio_tcp_received_bytes_total", labels)).isEqualTo(1 << 20));
        assertThat(metric("istio_tcp_sent_bytes_total", labels)).isEqualTo(1 << 20);
    }

    @Test
    void everyConnectionUsesThePodsCurrentCertificate() throws Exception {
        Channel before = connect(frontendCert, BACKEND);
        WorkloadCertificate renewed = ca.issue(BACKEND);
        podCertificate.set(renewed);
        Channel after = connect(frontendCert, BACKEND);

        assertThat(serverSerial(before)).isEqualTo(backendCert.serialNumber());
        assertThat(serverSerial(after)).isEqualTo(renewed.serialNumber()).isNotEqualTo(backendCert.serialNumber());
        // The connection made before the renewal keeps working.
        assertThat(exchange(before, request(appAddress()), "old")).isEqualTo("old");
        assertThat(exchange(after, request(appAddress()), "new")).isEqualTo("new");
    }

    @Test
    void noCertificateYetRefusesTheConnection() throws Exception {
        podCertificate.set(null);
        assertThatThrownBy(() -> connect(frontendCert, BACKEND)).isInstanceOf(ExecutionException.class);
        assertThat(refused(InboundRefusals.NO_CERTIFICATE)).isEqualTo(1);
        podCertificate.set(backendCert);
        assertValidClientStillWorks();
    }

    // ---------------------------------------------------------------- 15006

    @Test
    void plaintextLargeTransferWithBackpressure() throws Exception {
        String payload = pattern(4 << 20);
        String echoed;
        try (Socket s = new Socket(POD_IP, plaintext.localAddress().getPort())) {
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    s.getOutputStream().write(payload.getBytes(US_ASCII));
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            echoed = new String(s.getInputStream().readAllBytes(), US_ASCII);
            writer.join();
        }
        assertThat(echoed).isEqualTo(payload);
    }

    @Test
    void strictPeerAuthenticationRefusesPlaintext() throws Exception {
        setPolicies(strictPolicy());
        int before = appConnections.get();
        try (Socket s = new Socket(POD_IP, plaintext.localAddress().getPort())) {
            assertThatThrownBy(() -> drainStrict(s)).isInstanceOf(IOException.class)
                    .hasMessageContaining("reset");
        }
        assertThat(appConnections.get()).isEqualTo(before);
        assertThat(refused("policy_denied")).isEqualTo(1);
        assertThat(metric("istio_tcp_connections_closed_total", "connection_security_policy", "none")).isEqualTo(1);
        // mTLS still passes: STRICT only denies connections without identity.
        assertValidClientStillWorks();
    }

    @Test
    void permissivePlaintextIsRelayedWithTelemetry() throws Exception {
        int before = appConnections.get();
        String echoed;
        try (Socket s = new Socket(POD_IP, plaintext.localAddress().getPort())) {
            s.getOutputStream().write("plain text".getBytes(US_ASCII));
            s.shutdownOutput(); // the FIN must travel to the app, whose FIN ends the echo
            echoed = new String(s.getInputStream().readAllBytes(), US_ASCII);
        }
        assertThat(echoed).isEqualTo("plain text");
        assertThat(appConnections.get()).isEqualTo(before + 1);
        String[] labels = {"reporter", "destination", "connection_security_policy", "none",
            "destination_principal", BACKEND.uri(), "source_principal", "unknown"};
        eventually(() -> assertThat(metric("istio_tcp_connections_closed_total", labels)).isEqualTo(1));
        assertThat(metric("istio_tcp_received_bytes_total", labels)).isEqualTo(10);
        assertThat(metric("istio_tcp_sent_bytes_total", labels)).isEqualTo(10);
    }

    @Test
    void plaintextDeniedByAllowPolicyThatNeedsAnIdentity() throws Exception {
        setPolicies(policy("allow-frontend", Action.ALLOW, principal(FRONTEND)));
        try (Socket s = new Socket(POD_IP, plaintext.localAddress().getPort())) {
            assertThatThrownBy(() -> drainStrict(s)).isInstanceOf(IOException.class);
        }
        assertThat(refused("no_allow_match")).isEqualTo(1);
        assertThat(state.denials().snapshot()).singleElement().satisfies(d -> {
            assertThat(d.reason()).isEqualTo("no_allow_match");
            assertThat(d.policy()).isNull();
            assertThat(d.allowPolicies()).singleElement().asString().endsWith("/allow-frontend");
            assertThat(d.sourcePrincipal()).isNull();
        });
    }

    // ---------------------------------------------------------------- fixtures

    private static String pattern(int length) {
        StringBuilder b = new StringBuilder(length);
        for (int i = 0; b.length() < length; i++) {
            b.append(i).append(',');
        }
        b.setLength(length);
        return b.toString();
    }

    private static java.math.BigInteger serverSerial(Channel conn) throws Exception {
        SslHandler ssl = conn.pipeline().get(SslHandler.class);
        return ((java.security.cert.X509Certificate) ssl.engine().getSession().getPeerCertificates()[0])
                .getSerialNumber();
    }

    private void assertValidClientStillWorks() throws Exception {
        Channel conn = connect(frontendCert, BACKEND);
        assertThat(exchange(conn, request(appAddress()), "valid")).isEqualTo("valid");
    }

    private void setWorkloads(String... policies) {
        Workload.Builder backend = workload("backend-1", "backend", POD_IP);
        for (String p : policies) {
            backend.addAuthorizationPolicies(p);
        }
        Workload frontend = workload("frontend", "frontend", FRONTEND_IP).build();
        state.applyAddresses(Map.of(
                POD_UID, Address.newBuilder().setWorkload(backend).build(),
                frontend.getUid(), Address.newBuilder().setWorkload(frontend).build()), List.of());
    }

    private void setPolicies(Authorization policy) {
        String key = policy.getNamespace() + "/" + policy.getName();
        state.applyAuthorizations(Map.of(key, policy), List.of());
        setWorkloads(key);
    }

    private static Workload.Builder workload(String name, String serviceAccount, InetAddress ip) {
        return Workload.newBuilder().setUid("Kubernetes//Pod/shop/" + name).setName(name).setNamespace("shop")
                .setServiceAccount(serviceAccount).setTrustDomain("cluster.local").setNode("node-1")
                .setTunnelProtocol(TunnelProtocol.HBONE).addAddresses(ByteString.copyFrom(ip.getAddress()));
    }

    private static Match.Builder principal(SpiffeId id) {
        return Match.newBuilder().addPrincipals(StringMatch.newBuilder().setExact(id.principal()));
    }

    private static Authorization policy(String name, Action action, Match.Builder match) {
        return Authorization.newBuilder().setNamespace("shop").setName(name).setScope(Scope.WORKLOAD_SELECTOR)
                .setAction(action).addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(match)))
                .build();
    }

    /** What istiod-lite sends for PeerAuthentication STRICT: DENY anything without an identity. */
    private static Authorization strictPolicy() {
        return Authorization.newBuilder().setNamespace("istio-system").setName("istio_converted_static_strict")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance())))))
                .build();
    }

    private static InetSocketAddress appAddress() {
        return (InetSocketAddress) app.localAddress();
    }

    private static HboneRequest request(InetSocketAddress destination) {
        return HboneRequest.builder(destination).forwardedFor(FRONTEND_IP).build();
    }

    private static String authority(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    /** An HTTP/2 connection over mTLS presenting {@code cert} and accepting only {@code expected}. */
    private Channel connect(WorkloadCertificate cert, SpiffeId expected) throws Exception {
        SslContext context = tls.client(cert, expected);
        CompletableFuture<Channel> ready = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        SslHandler ssl = context.newHandler(c.alloc());
                        c.pipeline().addLast(ssl);
                        ssl.handshakeFuture().addListener(f -> {
                            if (!f.isSuccess()) {
                                ready.completeExceptionally(f.cause());
                                return;
                            }
                            try {
                                TlsContexts.checkNegotiated(ssl);
                            } catch (Exception e) {
                                ready.completeExceptionally(e);
                                return;
                            }
                            c.pipeline().addLast(HboneClient.newConnectionHandler());
                            ready.complete(c);
                        });
                    }
                })
                .connect(hbone.localAddress()).sync().channel();
        clients.add(ch);
        return ready.get(10, TimeUnit.SECONDS);
    }

    /** Opens a tunnel, sends {@code payload} and END_STREAM, returns what came back before END_STREAM. */
    private static String exchange(Channel conn, HboneRequest request, String payload) throws Exception {
        Http2StreamChannel stream = HboneClient.connect(conn, request).get(10, TimeUnit.SECONDS);
        Collector collector = new Collector();
        stream.eventLoop().execute(() -> {
            stream.pipeline().addLast(collector);
            stream.config().setAutoRead(true);
            stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(payload, US_ASCII), true));
        });
        return collector.result.get(10, TimeUnit.SECONDS);
    }

    /** Sends {@code headers} on a new stream and returns the response's {@code :status}. */
    private static String rawRequest(Channel conn, Http2Headers headers) throws Exception {
        CompletableFuture<String> status = new CompletableFuture<>();
        Http2StreamChannel stream = new Http2StreamChannelBootstrap(conn).handler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof Http2HeadersFrame h) {
                    status.complete(String.valueOf(h.headers().status()));
                }
                ReferenceCountUtil.release(msg);
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                ReferenceCountUtil.release(evt);
                status.complete("reset");
            }
        }).open().get(10, TimeUnit.SECONDS);
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false)).sync();
        try {
            return status.get(10, TimeUnit.SECONDS);
        } finally {
            stream.close();
        }
    }

    /** Client preface, empty SETTINGS, then {@code headers} as HEADERS + CONTINUATION on stream 1. */
    private static ByteBuf rawFrames(Http2Headers headers) throws Exception {
        DefaultHttp2HeadersEncoder encoder = new DefaultHttp2HeadersEncoder();
        encoder.configuration().maxHeaderListSize(0xFFFFFFFFL);
        ByteBuf block = Unpooled.buffer();
        encoder.encodeHeaders(1, headers, block);
        ByteBuf out = ByteBufAllocator.DEFAULT.buffer();
        out.writeBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(US_ASCII));
        frameHeader(out, 0, 0x4, 0, 0); // SETTINGS, no parameters
        boolean first = true;
        while (block.isReadable()) {
            int n = Math.min(16_384, block.readableBytes());
            boolean last = n == block.readableBytes();
            frameHeader(out, n, first ? 0x1 : 0x9, last ? 0x4 : 0, 1); // HEADERS / CONTINUATION, END_HEADERS
            out.writeBytes(block, n);
            first = false;
        }
        block.release();
        return out;
    }

    private static void frameHeader(ByteBuf out, int length, int type, int flags, int streamId) {
        out.writeMedium(length).writeByte(type).writeByte(flags).writeInt(streamId);
    }

    private static void drain(Socket s) throws IOException {
        s.setSoTimeout(10_000);
        try (InputStream in = s.getInputStream()) {
            while (in.read() >= 0) {
                // until the server closes
            }
        } catch (IOException e) {
            // a reset is a close too
        }
    }

    /** Reads until EOF; a reset propagates. Fails on any byte received. */
    private static void drainStrict(Socket s) throws IOException {
        s.setSoTimeout(10_000);
        int b = s.getInputStream().read();
        assertThat(b).as("bytes from a refused connection").isEqualTo(-1);
        throw new IOException("closed without a reset");
    }

    private double refused(String reason) {
        return metrics.value(InboundRefusals.METRIC, reason);
    }

    /** The sum of the samples of {@code name} whose labels include every given pair. */
    private double metric(String name, String... pairs) {
        return MetricSamples.sum(metrics, name, pairs);
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    /** The echo app: writes back what it reads, half-closes after the client's FIN. */
    static final class Echo extends ChannelInboundHandlerAdapter {
        private ChannelFuture lastWrite;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            lastWrite = ctx.writeAndFlush(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                DuplexChannel ch = (DuplexChannel) ctx.channel();
                if (lastWrite == null) {
                    ch.shutdownOutput();
                } else {
                    lastWrite.addListener(f -> ch.shutdownOutput());
                }
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Swallows whatever arrives (the server's refusals), releasing it. */
    static final class Discard extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Collects a tunnel's DATA until END_STREAM; fails on a reset or close. */
    static final class Collector extends ChannelInboundHandlerAdapter {
        final CompletableFuture<String> result = new CompletableFuture<>();
        private final StringBuilder received = new StringBuilder();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2DataFrame data) {
                    received.append(data.content().toString(US_ASCII));
                    if (data.isEndStream()) {
                        result.complete(received.toString());
                    }
                } else if (msg instanceof Http2HeadersFrame h && h.isEndStream()) {
                    result.complete(received.toString());
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            result.completeExceptionally(new IOException("tunnel event " + evt));
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            result.completeExceptionally(new IOException("tunnel closed after " + received));
        }
    }
}
