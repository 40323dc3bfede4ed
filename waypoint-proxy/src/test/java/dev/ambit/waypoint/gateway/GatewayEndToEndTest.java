package dev.ambit.waypoint.gateway;

import static dev.ambit.waypoint.gateway.GatewayResources.caCertificate;
import static dev.ambit.waypoint.gateway.GatewayResources.certificate;
import static dev.ambit.waypoint.gateway.GatewayResources.cluster;
import static dev.ambit.waypoint.gateway.GatewayResources.endpoints;
import static dev.ambit.waypoint.gateway.GatewayResources.httpChain;
import static dev.ambit.waypoint.gateway.GatewayResources.httpsChain;
import static dev.ambit.waypoint.gateway.GatewayResources.listener;
import static dev.ambit.waypoint.gateway.GatewayResources.passthroughChain;
import static dev.ambit.waypoint.gateway.GatewayResources.routes;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.ResourceHandler;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.WaypointConfigStore;
import dev.ambit.waypoint.http.HttpEngine;
import dev.ambit.waypoint.http.RequestAuthorizer;
import dev.ambit.waypoint.http.WaypointServer;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.math.BigInteger;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The ingress gateway in one JVM, fed its Envoy resources through the config store as xDS
 * would: real sockets on loopback, the real cluster manager, a plaintext HTTP/1.1 backend and a
 * TLS backend for passthrough; clients choose their SNI, TLS version, ALPN and certificate.
 */
class GatewayEndToEndTest {

    static final String APP = "outbound|8080||app.shop.svc.cluster.local";
    static final String TLS_APP = "outbound|8443||secure.shop.svc.cluster.local";

    final MetricsRegistry metrics = MetricsRegistry.create();
    final ProxyState state = ProxyState.create();
    final TestPki pki = new TestPki("gateway-test-ca");
    final WaypointConfigStore store = WaypointConfigStore.builder().gateway(true).build();
    EventLoopGroup loops;
    Channel backend;
    Channel tlsBackend;
    ClusterManager upstreams;
    GatewayServer gateway;
    int httpPort;
    int httpsPort;
    int sparePort;

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        loops = Transport.EPOLL.newEventLoopGroup(2, "gateway-e2e");
        backend = httpServer(null, "backend");
        TestPki.Issued secureCert = pki.server("p.example.com");
        tlsBackend = httpServer(SslContextBuilder.forServer(secureCert.key(), secureCert.certificate()).build(),
                "passthrough");
        upstreams = ClusterManager.builder(store::current, SocketFactory.host("gateway-up", Transport.EPOLL), loops)
                .metrics(metrics).build();
        HttpEngine engine = HttpEngine.of(upstreams, RequestAuthorizer.ALLOW_ALL, state, metrics, store::current,
                WaypointServer.DEFAULT_MAX_REQUEST_BYTES);
        gateway = GatewayServer.builder(SocketFactory.host("gateway", Transport.EPOLL), loops, store::snapshot,
                        upstreams, engine, self(), state, metrics)
                .provider(SslProvider.isAlpnSupported(SslProvider.OPENSSL) ? SslProvider.OPENSSL : SslProvider.JDK)
                .bindAddress(InetAddress.getLoopbackAddress())
                .build();
        store.onChange(gateway::reconcile);
        int[] ports = freePorts(3);
        httpPort = ports[0];
        httpsPort = ports[1];
        sparePort = ports[2];

        apply(TypeUrls.CLUSTER, Map.of(APP, cluster(APP), TLS_APP, cluster(TLS_APP)));
        apply(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of(APP, endpoints(APP, (InetSocketAddress) backend.localAddress()),
                TLS_APP, endpoints(TLS_APP, (InetSocketAddress) tlsBackend.localAddress())));
        String http = "http." + httpPort;
        RouteConfiguration httpRoutes = routes(http, httpPort, APP, "app.example.com").toBuilder()
                .addVirtualHosts(GatewayResources.redirectHost("secure.example.com", httpPort, APP)).build();
        apply(TypeUrls.ROUTE_CONFIGURATION, Map.of(http, httpRoutes,
                "https.a", routes("https.a", httpsPort, APP, "a.example.com", "x.wild.example.com"),
                "https.m", routes("https.m", httpsPort, APP, "m.example.com"),
                "https.t", routes("https.t", httpsPort, APP, "tls13.example.com")));
        apply(TypeUrls.SECRET, Map.of(
                "kubernetes://a-cert", secret("kubernetes://a-cert", pki.server("a.example.com")),
                "kubernetes://wild-cert", secret("kubernetes://wild-cert", pki.server("*.wild.example.com")),
                "kubernetes://m-cert", secret("kubernetes://m-cert", pki.server("m.example.com")),
                "kubernetes://m-cert-cacert", caCertificate("kubernetes://m-cert-cacert", pki.ca().certificatePem()),
                "kubernetes://t-cert", secret("kubernetes://t-cert", pki.server("tls13.example.com"))));
        apply(TypeUrls.LISTENER, Map.of(
                "0.0.0.0_" + httpPort, listener(httpPort, httpChain(http)),
                "0.0.0.0_" + httpsPort, listener(httpsPort,
                        httpsChain("https.a", List.of("a.example.com"), "kubernetes://a-cert", false, null),
                        httpsChain("https.a", List.of("*.wild.example.com"), "kubernetes://wild-cert", false, null),
                        httpsChain("https.b", List.of("b.example.com"), "kubernetes://missing-cert", false, null),
                        httpsChain("https.m", List.of("m.example.com"), "kubernetes://m-cert", true, null),
                        httpsChain("https.t", List.of("tls13.example.com"), "kubernetes://t-cert", false,
                                GatewayResources.tlsRange(TlsParameters.TlsProtocol.TLSv1_3,
                                        TlsParameters.TlsProtocol.TLS_AUTO)),
                        passthroughChain(List.of("p.example.com"), TLS_APP))));
        assertThat(gateway.boundAddresses()).containsOnlyKeys(httpPort, httpsPort);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (gateway != null) {
            gateway.close();
        }
        if (upstreams != null) {
            upstreams.close();
        }
        for (Channel c : new Channel[] {backend, tlsBackend}) {
            if (c != null) {
                c.close().sync();
            }
        }
        if (loops != null) {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        LeakCheck.assertNoLeaks();
    }

    @Test
    void plainHttpIsRoutedByHostWithTheEdgesHeadersAndReportedAsTheSource() throws Exception {
        List<String> accessLog = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Logger access = java.util.logging.Logger.getLogger("ambit.access");
        java.util.logging.Handler capture = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                accessLog.add(r.getMessage());
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        access.addHandler(capture);
        try {
            edgeRequests();
        } finally {
            access.removeHandler(capture);
        }
        assertThat(accessLog).anySatisfy(line -> assertThat(line).contains("\"reporter\":\"source\"",
                "\"authority\":\"app.example.com\"", "\"path\":\"/orders?id=1\"", "\"response_code\":200",
                "\"upstream_cluster\":\"" + APP + "\"", "\"downstream_remote_address\":\"127.0.0.1:"));
        assertThat(accessLog).anySatisfy(line -> assertThat(line).contains("\"response_code\":404",
                "\"response_flags\":\"NR\""));
    }

    private void edgeRequests() throws Exception {
        var ok = GatewayClient.http1(loops, httpAddress(), null, null, "app.example.com", "/orders?id=1",
                Map.of("x-forwarded-for", "203.0.113.7", "x-envoy-external-address", "10.0.0.66"));
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.body()).contains("backend GET /orders?id=1", "host=app.example.com",
                "xff=203.0.113.7,127.0.0.1", "xfp=http", "external=127.0.0.1", "request-id=true");

        var wrongHost = GatewayClient.http1(loops, httpAddress(), null, null, "other.example.com", "/", Map.of());
        assertThat(wrongHost.status()).as("no virtual host: Envoy's NR").isEqualTo(404);

        // A request is counted once its response is written (as Envoy's stats at stream end): the
        // client may read the 404 a moment before.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!metrics.scrape().contains("response_flags=\"NR\"") && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        String scrape = metrics.scrape();
        assertThat(scrape).contains("istio_requests_total{reporter=\"source\",source_workload=\"istio-ingressgateway\","
                + "source_workload_namespace=\"istio-system\",source_principal=\"spiffe://cluster.local/ns/istio-system/"
                + "sa/istio-ingressgateway-service-account\"");
        assertThat(scrape).contains("destination_service=\"app.shop.svc.cluster.local\"", "response_code=\"200\"",
                "response_code=\"404\"", "response_flags=\"NR\"");
    }

    @Test
    void httpsRedirectAnswers301ToHttps() throws Exception {
        var r = GatewayClient.http1(loops, httpAddress(), null, null, "secure.example.com", "/login?next=%2F", Map.of());
        assertThat(r.status()).isEqualTo(301);
        assertThat(r.headers().get("location")).isEqualTo("https://secure.example.com/login?next=%2F");
        assertThat(r.body()).doesNotContain("backend");
    }

    @Test
    void sniPicksTheCertificateExactThenWildcardAndAChainWithoutItsSecretRefusesHandshakes() throws Exception {
        SslContext client = client(null, null);
        var a = GatewayClient.http1(loops, httpsAddress(), client, "a.example.com", "a.example.com", "/a", Map.of());
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).contains("backend GET /a", "xfp=https", "xff=127.0.0.1");
        var wild = GatewayClient.http1(loops, httpsAddress(), client, "x.wild.example.com", "x.wild.example.com", "/w",
                Map.of());
        assertThat(wild.status()).isEqualTo(200);
        assertThat(wild.serverSerial()).isNotEqualTo(a.serverSerial());

        // Hostname verification (the client checks the name against the certificate) proves which was presented.
        assertThatThrownBy(() -> GatewayClient.http1(loops, httpsAddress(), client, "b.example.com", "b.example.com",
                "/", Map.of())).as("b's Secret never arrived").isNotNull();
        assertThatThrownBy(() -> GatewayClient.http1(loops, httpsAddress(), client, "unknown.example.com",
                "unknown.example.com", "/", Map.of())).as("no chain for that name").isNotNull();
        assertThat(GatewayClient.http1(loops, httpsAddress(), client, "a.example.com", "a.example.com", "/", Map.of())
                .status()).as("the other chains keep serving").isEqualTo(200);
    }

    @Test
    void tls12Tls13AndAlpnH2() throws Exception {
        var v12 = GatewayClient.http1(loops, httpsAddress(), client("TLSv1.2", null), "a.example.com",
                "a.example.com", "/", Map.of());
        assertThat(v12.tlsProtocol()).isEqualTo("TLSv1.2");
        assertThat(v12.status()).isEqualTo(200);
        var v13 = GatewayClient.http1(loops, httpsAddress(), client("TLSv1.3", null), "a.example.com",
                "a.example.com", "/", Map.of());
        assertThat(v13.tlsProtocol()).isEqualTo("TLSv1.3");
        assertThat(v13.alpn()).isEqualTo("http/1.1");

        SslContext h2 = SslContextBuilder.forClient().trustManager(pki.ca().certificate())
                .endpointIdentificationAlgorithm("HTTPS")
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1)).build();
        var viaH2 = GatewayClient.http2(loops, httpsAddress(), h2, "a.example.com", "a.example.com", "/h2");
        assertThat(viaH2.alpn()).isEqualTo("h2");
        assertThat(viaH2.status()).isEqualTo(200);
        assertThat(viaH2.body()).contains("backend GET /h2", "xfp=https");

        // tls_params minimum TLSv1_3 on that chain: a TLS 1.2 client is refused.
        assertThatThrownBy(() -> GatewayClient.http1(loops, httpsAddress(), client("TLSv1.2", null),
                "tls13.example.com", "tls13.example.com", "/", Map.of())).isNotNull();
        assertThat(GatewayClient.http1(loops, httpsAddress(), client("TLSv1.3", null), "tls13.example.com",
                "tls13.example.com", "/", Map.of()).status()).isEqualTo(200);
    }

    @Test
    void mutualTlsRequiresAClientCertificateFromTheSecretsCa() throws Exception {
        assertThatThrownBy(() -> GatewayClient.http1(loops, httpsAddress(), client(null, null), "m.example.com",
                "m.example.com", "/", Map.of())).as("no client certificate").isNotNull();
        TestPki other = new TestPki("another-ca");
        assertThatThrownBy(() -> GatewayClient.http1(loops, httpsAddress(), client(null, other.client("mallory")),
                "m.example.com", "m.example.com", "/", Map.of())).as("a certificate of another CA").isNotNull();
        var ok = GatewayClient.http1(loops, httpsAddress(), client(null, pki.client("alice")), "m.example.com",
                "m.example.com", "/m", Map.of());
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.body()).contains("backend GET /m");
    }

    @Test
    void passthroughRelaysTheTlsBytesToTheBackendChosenBySni() throws Exception {
        var r = GatewayClient.http1(loops, httpsAddress(), client(null, null), "p.example.com", "p.example.com",
                "/secret", Map.of());
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).as("the backend terminated TLS itself: no gateway headers")
                .contains("passthrough GET /secret", "xff=null", "xfp=null");
        assertThat(metrics.scrape()).contains("istio_tcp_connections_opened_total{reporter=\"source\","
                + "source_workload=\"istio-ingressgateway\"");
    }

    @Test
    void telemetryOverridesOfTheTcpMetricsApplyToAPassthroughChain() throws Exception {
        // Istio's istio.stats network filter before tcp_proxy (issue 19): a label added from an
        // expression, a standard label removed, one TCP metric dropped.
        var stats = dev.ambit.api.telemetry.StatsConfig.newBuilder()
                .addMetrics(dev.ambit.api.telemetry.MetricConfig.newBuilder().setName("tcp_connections_opened_total")
                        .putDimensions("sni", "connection.requested_server_name | 'none'")
                        .addTagsToRemove("source_principal"))
                .addMetrics(dev.ambit.api.telemetry.MetricConfig.newBuilder().setName("tcp_sent_bytes_total")
                        .setDrop(true))
                .build();
        var chain = passthroughChain(List.of("p.example.com"), TLS_APP);
        chain = chain.toBuilder().clearFilters().addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
                .setName("istio.stats").setTypedConfig(com.google.protobuf.Any.pack(stats)))
                .addAllFilters(chain.getFiltersList()).build();
        apply(TypeUrls.LISTENER, Map.of("0.0.0.0_" + sparePort, listener(sparePort, chain)));
        var r = GatewayClient.http1(loops, new InetSocketAddress(InetAddress.getLoopbackAddress(), sparePort),
                client(null, null), "p.example.com", "p.example.com", "/secret", Map.of());
        assertThat(r.status()).isEqualTo(200);
        String opened = null;
        for (int i = 0; i < 100 && !metrics.scrape().contains("istio_tcp_connections_closed_total{"); i++) {
            Thread.sleep(20); // the connection's close is counted once the relay ends
        }
        String scrape = metrics.scrape();
        opened = scrape.lines().filter(l -> l.startsWith("istio_tcp_connections_opened_total{")).findFirst()
                .orElseThrow();
        assertThat(opened).contains("reporter=\"source\"", "source_principal=\"\"", ",sni=\"p.example.com\"}");
        assertThat(scrape).contains("istio_tcp_connections_closed_total{reporter=\"source\"")
                .contains("istio_tcp_received_bytes_total{reporter=\"source\"")
                .doesNotContain("istio_tcp_sent_bytes_total{");
        // Other metrics keep Istio's labels: no sni on the closed count.
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_tcp_connections_closed_total{")))
                .noneSatisfy(l -> assertThat(l).contains("sni="));
    }

    @Test
    void aRotatedCertificateServesNewConnectionsWhileAClientKeepsCalling() throws Exception {
        SslContext client = client(null, null);
        TestPki.Issued next = pki.server("a.example.com");
        Set<BigInteger> serials = ConcurrentHashMap.newKeySet();
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            if (i == 10) {
                apply(TypeUrls.SECRET, Map.of("kubernetes://a-cert", secret("kubernetes://a-cert", next)));
            }
            var r = GatewayClient.http1(loops, httpsAddress(), client, "a.example.com", "a.example.com", "/r" + i,
                    Map.of());
            statuses.add(r.status());
            serials.add(r.serverSerial());
            if (i >= 10) {
                assertThat(r.serverSerial()).as("after the update, new connections get the new certificate")
                        .isEqualTo(next.serial());
            }
        }
        assertThat(statuses).hasSize(30).containsOnly(200);
        assertThat(serials).hasSize(2).contains(next.serial());
    }

    @Test
    void listenersAreBoundAndUnboundAsLdsChanges() throws Exception {
        int port = sparePort;
        String route = "http." + port;
        apply(TypeUrls.ROUTE_CONFIGURATION, Map.of(route, routes(route, port, APP, "*")));
        apply(TypeUrls.LISTENER, Map.of("0.0.0.0_" + port, listener(port, httpChain(route))));
        InetSocketAddress added = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        assertThat(GatewayClient.http1(loops, added, null, null, "anything.example.com", "/new", Map.of()).body())
                .contains("backend GET /new");

        apply(TypeUrls.LISTENER, Map.of(), List.of("0.0.0.0_" + port));
        assertThat(gateway.boundAddresses()).containsOnlyKeys(httpPort, httpsPort);
        assertThat(refused(added)).as("the port is closed").isTrue();
        assertThat(GatewayClient.http1(loops, httpAddress(), null, null, "app.example.com", "/", Map.of()).status())
                .as("the other listeners stay").isEqualTo(200);
        assertThat(GatewayClient.http1(loops, httpsAddress(), client(null, null), "a.example.com", "a.example.com",
                "/", Map.of()).status()).isEqualTo(200);
    }

    // ---------------------------------------------------------------- helpers

    private SslContext client(String protocol, TestPki.Issued certificate) throws Exception {
        SslContextBuilder b = SslContextBuilder.forClient().trustManager(pki.ca().certificate())
                .endpointIdentificationAlgorithm("HTTPS")
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_1_1));
        if (protocol != null) {
            b.protocols(protocol);
        }
        if (certificate != null) {
            b.keyManager(certificate.key(), certificate.certificate());
        }
        return b.build();
    }

    private static io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret secret(String name,
                                                                                         TestPki.Issued issued) {
        return certificate(name, issued.certificatePem(), issued.keyPem());
    }

    static Workload self() {
        return Workload.newBuilder().setName("istio-ingressgateway-7c9f-abcde").setWorkloadName("istio-ingressgateway")
                .setNamespace("istio-system").setServiceAccount("istio-ingressgateway-service-account")
                .setTrustDomain("cluster.local").setCanonicalName("istio-ingressgateway").build();
    }

    private InetSocketAddress httpAddress() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), httpPort);
    }

    private InetSocketAddress httpsAddress() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), httpsPort);
    }

    private void apply(String type, Map<String, ? extends Message> updates) {
        apply(type, updates, List.of());
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void apply(String type, Map<String, ? extends Message> updates, List<String> removes) {
        ResourceHandler h = store.handlers().stream().filter(x -> x.typeUrl().equals(type)).findFirst().orElseThrow();
        List<Rejection> rejected = h.apply(updates, removes);
        assertThat(rejected).as("config accepted").isEmpty();
    }

    /** Whether connecting to {@code address} is refused (the listener unbound), within two seconds. */
    private boolean refused(InetSocketAddress address) throws Exception {
        for (int i = 0; i < 20; i++) {
            try {
                GatewayClient.http1(loops, address, null, null, "anything.example.com", "/", Map.of());
            } catch (Exception e) {
                Throwable root = e;
                while (root.getCause() != null) {
                    root = root.getCause();
                }
                if (root instanceof ConnectException) {
                    return true;
                }
            }
            Thread.sleep(100);
        }
        return false;
    }

    /** {@code n} distinct ports free now (held open together, so none is handed out twice). */
    static int[] freePorts(int n) throws Exception {
        ServerSocket[] held = new ServerSocket[n];
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                held[i] = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ports[i] = held[i].getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket s : held) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }

    /** An HTTP/1.1 server (TLS with {@code tls}) answering with what it saw of the request. */
    private Channel httpServer(SslContext tls, String name) throws Exception {
        return httpServer(loops, tls, name);
    }

    static Channel httpServer(EventLoopGroup loops, SslContext tls, String name) throws Exception {
        return new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (tls != null) {
                            ch.pipeline().addLast(tls.newHandler(ch.alloc()));
                        }
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest r) {
                                        String body = name + " " + r.method() + " " + r.uri()
                                                + " host=" + r.headers().get("host")
                                                + " xff=" + r.headers().get("x-forwarded-for")
                                                + " xfp=" + r.headers().get("x-forwarded-proto")
                                                + " external=" + r.headers().get("x-envoy-external-address")
                                                + " request-id=" + r.headers().contains("x-request-id");
                                        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.OK, Unpooled.copiedBuffer(body, UTF_8));
                                        HttpUtil.setContentLength(resp, resp.content().readableBytes());
                                        ctx.writeAndFlush(resp);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
    }
}
