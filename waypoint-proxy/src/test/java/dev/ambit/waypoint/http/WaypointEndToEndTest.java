package dev.ambit.waypoint.http;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.StreamBytes;
import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.TestServers;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The waypoint end to end in one JVM: a real HBONE client (mutual TLS with the in-process
 * CA, an HTTP/2 CONNECT) → {@link WaypointServer} → the real {@link ClusterManager} → a
 * plaintext HTTP/1.1 backend (and a TCP echo server for a TCP chain).
 */
class WaypointEndToEndTest {

    static final InetSocketAddress HTTP_VIP = new InetSocketAddress(ip("10.96.0.20"), 9080);
    static final InetSocketAddress H2_VIP = new InetSocketAddress(ip("10.96.0.20"), 8081);
    static final InetSocketAddress TCP_VIP = new InetSocketAddress(ip("10.96.0.21"), 3306);
    static final String HTTP_CLUSTER = "outbound|9080||reviews.shop.svc.cluster.local";
    static final String TCP_CLUSTER = "outbound|3306||mysql.shop.svc.cluster.local";

    @TempDir
    Path dir;
    TestCa ca;
    EventLoopGroup loops;
    Channel backend;
    TestServers.Echo echo;
    ClusterManager upstreams;
    WaypointServer server;
    Channel client;
    final MetricsRegistry metrics = MetricsRegistry.create();
    final TestConfig config = new TestConfig();
    final ProxyState state = ProxyState.create();

    static InetAddress ip(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        ca = new TestCa(dir, Duration.ofHours(1));
        CaClient caClient = ca.client().trustBundle(ca.bundle()).build();
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        loops = Transport.EPOLL.newEventLoopGroup(2, "waypoint-e2e");
        backend = new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest r) {
                                        String body = "backend " + r.method() + " " + r.uri() + " id="
                                                + r.headers().contains("x-request-id") + " "
                                                + r.content().toString(UTF_8);
                                        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.OK, Unpooled.copiedBuffer(body, UTF_8));
                                        HttpUtil.setContentLength(resp, resp.content().readableBytes());
                                        ctx.writeAndFlush(resp);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        echo = new TestServers.Echo(loops, new InetSocketAddress("127.0.0.1", 0));

        config.clusters.put(HTTP_CLUSTER, cluster(HTTP_CLUSTER));
        config.endpoints.put(HTTP_CLUSTER, java.util.List.of(endpoint((InetSocketAddress) backend.localAddress())));
        config.clusters.put(TCP_CLUSTER, cluster(TCP_CLUSTER));
        config.endpoints.put(TCP_CLUSTER, java.util.List.of(endpoint(echo.address())));
        String route = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
        config.chain(HTTP_VIP, new FilterChain(route, FilterChain.Kind.HTTP, route, FilterChain.Codec.AUTO, "", route));
        config.chain(TCP_VIP, new FilterChain("inbound-vip|3306|tcp|mysql.shop.svc.cluster.local",
                FilterChain.Kind.TCP, "", FilterChain.Codec.AUTO, TCP_CLUSTER, "tcp"));
        config.route(Harness.routes(Harness.prefix("default", "/", HTTP_CLUSTER).build()).toBuilder()
                .setName(route).build());

        WorkloadCertificate waypointCert = caClient.issue(TestCa.BACKEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate clientCert = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        upstreams = ClusterManager.builder(() -> config, SocketFactory.host("waypoint-up", Transport.EPOLL), loops)
                .metrics(metrics).build();
        server = WaypointServer.builder(SocketFactory.host("waypoint", Transport.EPOLL), loops, tls,
                        () -> waypointCert, () -> config, upstreams, state, metrics)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .build().start();

        var ssl = tls.client(clientCert, TestCa.BACKEND);
        client = new Bootstrap().group(loops).channel(EpollSocketChannel.class)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc()), HboneClient.newConnectionHandler());
                    }
                }).connect(server.localAddress()).sync().channel();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close().sync();
        }
        if (server != null) {
            server.close();
        }
        if (upstreams != null) {
            upstreams.close();
        }
        if (backend != null) {
            backend.close().sync();
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
        LeakCheck.assertNoLeaks();
    }

    static Cluster cluster(String name) {
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.EDS)
                .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
                .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2)).build();
    }

    static LbEndpoint endpoint(InetSocketAddress a) {
        return LbEndpoint.newBuilder().setHealthStatus(HealthStatus.HEALTHY).setEndpoint(Endpoint.newBuilder()
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                        .setAddress(a.getAddress().getHostAddress()).setPortValue(a.getPort())))).build();
    }

    private Http2StreamChannel connect(InetSocketAddress vip) throws Exception {
        Future<Http2StreamChannel> f = HboneClient.connect(client, HboneRequest.builder(vip)
                .forwardedFor(ip("10.244.0.7")).build()).await();
        assertThat(f.isSuccess()).as("CONNECT %s: %s", vip, f.cause()).isTrue();
        return f.getNow();
    }

    private static FullHttpRequest request(HttpMethod method, String uri, String body) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, uri,
                Unpooled.copiedBuffer(body, UTF_8));
        r.headers().set("host", "reviews:9080");
        HttpUtil.setContentLength(r, body.length());
        return r;
    }

    /** Collects whole responses as "status body" (and their headers); releases them. */
    static final class Responses extends SimpleChannelInboundHandler<FullHttpResponse> {
        final BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        final BlockingQueue<io.netty.handler.codec.http.HttpHeaders> headers = new LinkedBlockingQueue<>();

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
            headers.add(r.headers().copy());
            seen.add(r.status().code() + " " + r.content().toString(UTF_8));
        }

        String next() throws InterruptedException {
            String s = seen.poll(10, TimeUnit.SECONDS);
            assertThat(s).as("a response within 10 s").isNotNull();
            return s;
        }
    }

    @Test
    void http1KeepAliveAndPipelinedRequestsAreAnsweredInOrder() throws Exception {
        // The client's workload, at the address the CONNECT's Forwarded header names.
        dev.ambit.api.workload.Workload frontend = dev.ambit.api.workload.Workload.newBuilder()
                .setUid("Kubernetes//Pod/shop/frontend-0").setName("frontend-0").setWorkloadName("frontend")
                .setNamespace("shop").setServiceAccount("frontend").setTrustDomain("cluster.local")
                .setCanonicalName("frontend").setCanonicalRevision("v1")
                .addAddresses(com.google.protobuf.ByteString.copyFrom(ip("10.244.0.7").getAddress())).build();
        state.applyAddresses(java.util.Map.of(frontend.getUid(),
                dev.ambit.api.workload.Address.newBuilder().setWorkload(frontend).build()), java.util.List.of());
        Http2StreamChannel stream = connect(HTTP_VIP);
        Responses responses = new Responses();
        stream.eventLoop().submit(() -> {
            StreamBytes.install(stream);
            stream.config().setAutoRead(true);
            stream.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), responses);
        }).sync();
        // Three requests in one write: pipelined.
        stream.write(request(HttpMethod.GET, "/one", ""));
        stream.write(request(HttpMethod.POST, "/two", "payload"));
        stream.writeAndFlush(request(HttpMethod.GET, "/three", ""));
        assertThat(responses.next()).isEqualTo("200 backend GET /one id=true ");
        assertThat(responses.next()).isEqualTo("200 backend POST /two id=true payload");
        assertThat(responses.next()).isEqualTo("200 backend GET /three id=true ");
        // Keep-alive: the same tunnel serves another one later.
        stream.writeAndFlush(request(HttpMethod.GET, "/four", ""));
        assertThat(responses.next()).isEqualTo("200 backend GET /four id=true ");

        String[] ok = {"waypoint", "unknown", "unknown", "spiffe://cluster.local/ns/shop/sa/frontend"};
        assertThat(metrics.scrape()).contains("istio_requests_total{reporter=\"waypoint\"")
                .contains("source_principal=\"" + ok[3] + "\"")
                .contains("source_workload=\"frontend\"").contains("source_canonical_revision=\"v1\"")
                .contains("destination_service=\"reviews.shop.svc.cluster.local\"")
                .contains("response_code=\"200\"");
        stream.close();
    }

    @Test
    void h2cWithPriorKnowledgeIsDetectedAndServed() throws Exception {
        h2cFirstStreamIsStreamOneAndServed(HTTP_VIP, "/h2/0", "200 backend GET /h2/0 id=true ",
                "/h2/1", "200 backend GET /h2/1 id=true ", "/h2/2", "200 backend GET /h2/2 id=true ");
    }

    @Test
    void h2cChainServesAClientsFirstStream() throws Exception {
        // A chain whose codec is HTTP2: the nested connection is set up at once, no sniffing.
        String route = "inbound-vip|8081|http2|reviews.shop.svc.cluster.local";
        config.chain(H2_VIP, new FilterChain(route, FilterChain.Kind.HTTP, route, FilterChain.Codec.HTTP2, "", route));
        config.route(Harness.routes(Harness.prefix("h2", "/h2", HTTP_CLUSTER).build(),
                exact("redirect", "/old").setRedirect(io.envoyproxy.envoy.config.route.v3.RedirectAction.newBuilder()
                        .setPathRedirect("/new")).build()).toBuilder().setName(route).build());
        // As curl --http2-prior-knowledge: no route on the first stream → 404 (a HEADERS frame that ends the stream).
        h2cFirstStreamIsStreamOneAndServed(H2_VIP, "/none", "404 ", "/h2/1", "200 backend GET /h2/1 id=true ",
                "/old", "301 ");
    }

    /**
     * A client without upgrade, as Node's, opens stream 1 first (Netty's own clients start at
     * 3, keeping 1 for an upgrade): the nested connection in the tunnel must serve it as a
     * server's stream, not take it for an h2c upgrade's stream (as Http2MultiplexHandler does
     * when its channel's parent is no ServerChannel, and an HBONE stream's parent is none).
     */
    private void h2cFirstStreamIsStreamOneAndServed(InetSocketAddress vip, String... pathsAndAnswers)
            throws Exception {
        Http2StreamChannel tunnel = connect(vip);
        StreamEvents events = new StreamEvents();
        Responses responses = new Responses();
        tunnel.eventLoop().submit(() -> {
            StreamBytes.install(tunnel);
            var connection = new io.netty.handler.codec.http2.DefaultHttp2Connection(false);
            tunnel.pipeline().addLast(events, new io.netty.handler.codec.http2.HttpToHttp2ConnectionHandlerBuilder()
                    .connection(connection)
                    .frameListener(new io.netty.handler.codec.http2.InboundHttp2ToHttpAdapterBuilder(connection)
                            .maxContentLength(1 << 20).propagateSettings(false).build())
                    .build(), responses);
            // Only now: the server speaks first (its SETTINGS), and what is read before a codec is lost.
            tunnel.config().setAutoRead(true);
        }).sync();
        for (int i = 0; i < pathsAndAnswers.length; i += 2) {
            int id = 1 + i; // 1, 3, 5...
            FullHttpRequest r = request(HttpMethod.GET, pathsAndAnswers[i], "");
            r.headers().set("x-http2-scheme", "http").set("x-http2-stream-id", id);
            tunnel.writeAndFlush(r);
            assertThat(responses.next()).isEqualTo(pathsAndAnswers[i + 1]);
            assertThat(responses.headers.poll().getInt("x-http2-stream-id")).isEqualTo(id);
        }
        assertThat(events.events).as("tunnel events").isEmpty();
        tunnel.close();
    }

    @Test
    void tcpChainRelaysBytesToTheClustersEndpoint() throws Exception {
        Http2StreamChannel stream = pingOverTcpChain();
        assertThat(metrics.scrape()).contains("istio_tcp_connections_opened_total{reporter=\"waypoint\"")
                .contains("destination_service=\"mysql.shop.svc.cluster.local\"");
        stream.close();
    }

    @Test
    void tcpChainAppliesTheTelemetryOverridesOfItsIstioStatsFilter() throws Exception {
        // issue 19: the TCP metrics' tagOverrides (expressions over the connection) and disabled.
        config.chain(TCP_VIP, new FilterChain("inbound-vip|3306|tcp|mysql.shop.svc.cluster.local",
                FilterChain.Kind.TCP, "", FilterChain.Codec.AUTO, TCP_CLUSTER, "tcp",
                io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                        .getDefaultInstance(),
                dev.ambit.api.telemetry.StatsConfig.newBuilder()
                        .addMetrics(dev.ambit.api.telemetry.MetricConfig.newBuilder().setName("")
                                .putDimensions("vip_port", "destination.port")
                                .putDimensions("mesh_tls", "connection.mtls"))
                        .addMetrics(dev.ambit.api.telemetry.MetricConfig.newBuilder()
                                .setName("tcp_received_bytes_total").setDrop(true))
                        .build()));
        Http2StreamChannel stream = pingOverTcpChain();
        stream.close();
        for (int i = 0; i < 100 && !metrics.scrape().contains("istio_tcp_connections_closed_total{"); i++) {
            Thread.sleep(20); // counted when the relay ends
        }
        String scrape = metrics.scrape();
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_tcp_connections_opened_total{")))
                .singleElement().satisfies(l -> assertThat(l).contains("reporter=\"waypoint\"",
                        ",mesh_tls=\"true\",vip_port=\"3306\"}"));
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_tcp_connections_closed_total{")))
                .singleElement().satisfies(l -> assertThat(l).contains(",mesh_tls=\"true\",vip_port=\"3306\"}"));
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_tcp_sent_bytes_total{")))
                .singleElement().satisfies(l -> assertThat(l).endsWith("} 4").contains("vip_port=\"3306\""));
        assertThat(scrape).doesNotContain("istio_tcp_received_bytes_total{");
    }

    @Test
    void aTunnelToAnAddressWithoutFilterChainIsRefused503() throws Exception {
        Future<Http2StreamChannel> f = HboneClient.connect(client,
                HboneRequest.of(new InetSocketAddress(ip("10.96.0.99"), 80))).await();
        assertThat(f.isSuccess()).isFalse();
        assertThat(String.valueOf(f.cause())).contains("503").contains("no filter chain for 10.96.0.99:80");
    }

    /** What a tunnel's stream saw besides bytes: the peer's RST_STREAM, its END_STREAM, its close. */
    static final class StreamEvents extends ChannelInboundHandlerAdapter {
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.handler.codec.http2.Http2ResetFrame reset) {
                events.add("reset " + reset.errorCode());
            } else if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                events.add("end");
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            events.add("closed");
            ctx.fireChannelInactive();
        }
    }

    /** An HTTP/1.1 client (as curl) on a new tunnel to {@code vip}; its events go to {@code events}. */
    private Http2StreamChannel http1Client(InetSocketAddress vip, Responses responses, StreamEvents events)
            throws Exception {
        Http2StreamChannel stream = connect(vip);
        stream.eventLoop().submit(() -> {
            StreamBytes.install(stream);
            stream.pipeline().addLast(events, new HttpClientCodec(), new HttpObjectAggregator(1 << 20), responses);
            stream.config().setAutoRead(true);
        }).sync();
        return stream;
    }

    private void routes(io.envoyproxy.envoy.config.route.v3.Route... routes) {
        config.route(Harness.routes(routes).toBuilder()
                .setName("inbound-vip|9080|http|reviews.shop.svc.cluster.local").build());
    }

    private static io.envoyproxy.envoy.config.route.v3.Route.Builder exact(String name, String path) {
        return io.envoyproxy.envoy.config.route.v3.Route.newBuilder().setName(name)
                .setMatch(io.envoyproxy.envoy.config.route.v3.RouteMatch.newBuilder().setPath(path));
    }

    @Test
    void http1LocalRepliesWithoutBodyReachTheClientOnAKeptAliveTunnel() throws Exception {
        routes(exact("redirect", "/old/page").setRedirect(io.envoyproxy.envoy.config.route.v3.RedirectAction
                        .newBuilder().setPathRedirect("/new").setResponseCode(
                                io.envoyproxy.envoy.config.route.v3.RedirectAction.RedirectResponseCode
                                        .MOVED_PERMANENTLY)).build(),
                exact("direct-empty", "/empty").setDirectResponse(io.envoyproxy.envoy.config.route.v3
                        .DirectResponseAction.newBuilder().setStatus(204)).build(),
                exact("direct", "/direct").setDirectResponse(io.envoyproxy.envoy.config.route.v3
                        .DirectResponseAction.newBuilder().setStatus(200).setBody(
                                io.envoyproxy.envoy.config.core.v3.DataSource.newBuilder()
                                        .setInlineString("direct body"))).build(),
                Harness.prefix("default", "/app", HTTP_CLUSTER).build());
        Responses responses = new Responses();
        StreamEvents events = new StreamEvents();
        Http2StreamChannel stream = http1Client(HTTP_VIP, responses, events);

        stream.writeAndFlush(request(HttpMethod.GET, "/old/page", ""));
        assertThat(responses.next()).isEqualTo("301 ");
        assertThat(responses.headers.poll().get("location")).isEqualTo("http://reviews:9080/new");
        // Kept alive: the same tunnel answers the next ones, nothing reset.
        stream.writeAndFlush(request(HttpMethod.GET, "/nowhere", ""));
        assertThat(responses.next()).isEqualTo("404 ");
        stream.writeAndFlush(request(HttpMethod.GET, "/empty", ""));
        assertThat(responses.next()).isEqualTo("204 ");
        stream.writeAndFlush(request(HttpMethod.GET, "/direct", ""));
        assertThat(responses.next()).isEqualTo("200 direct body");
        stream.writeAndFlush(request(HttpMethod.GET, "/app/x", ""));
        assertThat(responses.next()).isEqualTo("200 backend GET /app/x id=true ");
        Thread.sleep(200);
        assertThat(events.events).as("stream events").isEmpty();
        assertThat(stream.isActive()).isTrue();
        stream.close();
    }

    /**
     * A node agent's outbound in small: each accepted TCP connection gets an HBONE tunnel to
     * {@code vip} and a {@link dev.ambit.proxy.net.Relay} (RST to the client when the stream fails).
     */
    private Channel agent(InetSocketAddress vip, BlockingQueue<dev.ambit.proxy.net.RelayResult> ended)
            throws Exception {
        return new ServerBootstrap().group(loops, client.eventLoop()).channel(EpollServerSocketChannel.class)
                .childOption(io.netty.channel.ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel tcp) {
                        HboneClient.connect(client, HboneRequest.builder(vip).forwardedFor(ip("10.244.0.7")).build())
                                .addListener(f -> {
                                    if (!f.isSuccess()) {
                                        tcp.close();
                                        return;
                                    }
                                    dev.ambit.proxy.net.Relay.start((io.netty.channel.socket.DuplexChannel) tcp,
                                            (Http2StreamChannel) f.getNow(), ended::add);
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    /** Reads one HTTP/1.1 response with a Content-Length from a blocking socket: head and body. */
    private static String readResponse(java.io.InputStream in) throws java.io.IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                throw new java.io.EOFException("end of stream after " + head);
            }
            head.append((char) c);
        }
        int length = 0;
        for (String line : head.toString().split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        return head + new String(in.readNBytes(length), UTF_8);
    }

    @Test
    void localRepliesWithoutBodyReachAClientBehindARelayingAgent() throws Exception {
        routes(exact("redirect", "/old/page").setRedirect(io.envoyproxy.envoy.config.route.v3.RedirectAction
                        .newBuilder().setPathRedirect("/new").setResponseCode(
                                io.envoyproxy.envoy.config.route.v3.RedirectAction.RedirectResponseCode
                                        .MOVED_PERMANENTLY)).build(),
                Harness.prefix("default", "/app", HTTP_CLUSTER).build());
        BlockingQueue<dev.ambit.proxy.net.RelayResult> ended = new LinkedBlockingQueue<>();
        Channel agent = agent(HTTP_VIP, ended);
        try (java.net.Socket curl = new java.net.Socket()) {
            curl.connect(agent.localAddress(), 5000);
            curl.setSoTimeout(5000);
            var out = curl.getOutputStream();
            var in = curl.getInputStream();
            String get = "GET %s HTTP/1.1\r\nHost: reviews:9080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
            out.write(get.formatted("/old/page").getBytes(UTF_8));
            out.flush();
            String first = readResponse(in);
            assertThat(first).startsWith("HTTP/1.1 301 Moved Permanently\r\n")
                    .contains("location: http://reviews:9080/new\r\n").contains("content-length: 0\r\n");
            out.write(get.formatted("/nowhere").getBytes(UTF_8));
            out.flush();
            assertThat(readResponse(in)).startsWith("HTTP/1.1 404 Not Found\r\n");
            out.write(get.formatted("/app/y").getBytes(UTF_8));
            out.flush();
            assertThat(readResponse(in)).startsWith("HTTP/1.1 200 OK\r\n").endsWith("backend GET /app/y id=true ");
            assertThat(ended).as("relays ended while the client keeps its connection").isEmpty();
        } finally {
            agent.close().sync();
        }
    }

    /** A tunnel to the TCP chain's VIP that has carried "ping" there and back (the echo backend); still open. */
    private Http2StreamChannel pingOverTcpChain() throws Exception {
        Http2StreamChannel stream = connect(TCP_VIP);
        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        stream.eventLoop().submit(() -> {
            StreamBytes.install(stream);
            stream.config().setAutoRead(true);
            stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    if (msg instanceof ByteBuf b) {
                        got.add(b.toString(UTF_8));
                    }
                    ReferenceCountUtil.release(msg);
                }
            });
        }).sync();
        stream.writeAndFlush(Unpooled.copiedBuffer("ping", UTF_8));
        assertThat(got.poll(10, TimeUnit.SECONDS)).isEqualTo("ping");
        return stream;
    }
}
