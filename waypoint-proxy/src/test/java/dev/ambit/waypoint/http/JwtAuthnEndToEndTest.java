package dev.ambit.waypoint.http;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.StreamBytes;
import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.ResourceValidator;
import dev.ambit.waypoint.http.jwt.JwtAuthn;
import dev.ambit.waypoint.http.jwt.TestTokens;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementAndList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
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
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * RequestAuthentication in the waypoint, end to end on loopback: an HBONE client → the
 * {@link WaypointServer} whose chain's HttpConnectionManager carries Istio's jwt_authn config
 * (two providers, Istio's requirement shape) → a backend that echoes what reached it. The
 * authorization slot stands in for the RBAC filter: it reads the metadata jwt_authn wrote and
 * denies {@code /jwt-only} without a request principal, as {@code requestPrincipals: ["*"]} does.
 */
class JwtAuthnEndToEndTest {

    static final InetSocketAddress VIP = WaypointEndToEndTest.HTTP_VIP;
    static final String CLUSTER = WaypointEndToEndTest.HTTP_CLUSTER;
    static final String ISS = "https://issuer.example";
    static final String ISS2 = "https://second.example";
    static final TestTokens KEYS = new TestTokens("rsa-1", "ec-1");
    static final TestTokens KEYS2 = new TestTokens("k2", "k2-ec");

    @TempDir
    Path dir;
    TestCa ca;
    EventLoopGroup loops;
    Channel backend;
    ClusterManager upstreams;
    WaypointServer server;
    Channel client;
    final MetricsRegistry metrics = MetricsRegistry.create();
    final TestConfig config = new TestConfig();
    final ProxyState state = ProxyState.create();
    final BlockingQueue<Map<String, Map<String, Object>>> seenMetadata = new LinkedBlockingQueue<>();

    /** Istio's filter for two RequestAuthentication rules (pilot/pkg/security/authn convertToEnvoyJwtConfig). */
    static JwtAuthentication istioShape() {
        JwtProvider p0 = JwtProvider.newBuilder().setIssuer(ISS).addAudiences("shop").setPayloadInMetadata("payload")
                .setNormalizePayloadInMetadata(JwtProvider.NormalizePayload.newBuilder()
                        .addSpaceDelimitedClaims("permission").addSpaceDelimitedClaims("scope"))
                .setLocalJwks(DataSource.newBuilder().setInlineString(KEYS.jwks())).build();
        JwtProvider p1 = JwtProvider.newBuilder().setIssuer(ISS2).setPayloadInMetadata("payload").setForward(true)
                .addFromHeaders(JwtHeader.newBuilder().setName("x-token"))
                .setForwardPayloadHeader("x-jwt-payload")
                .addClaimToHeaders(JwtClaimToHeader.newBuilder().setHeaderName("x-sub").setClaimName("sub"))
                .setLocalJwks(DataSource.newBuilder().setInlineString(KEYS2.jwks())).build();
        JwtRequirement inner0 = orMissing("origins-0");
        JwtRequirement inner1 = orMissing("origins-1");
        JwtRequirement top = JwtRequirement.newBuilder().setRequiresAny(JwtRequirementOrList.newBuilder()
                .addRequirements(provider("origins-0")).addRequirements(provider("origins-1"))
                .addRequirements(JwtRequirement.newBuilder().setRequiresAll(JwtRequirementAndList.newBuilder()
                        .addRequirements(inner0).addRequirements(inner1)))).build();
        return JwtAuthentication.newBuilder().putProviders("origins-0", p0).putProviders("origins-1", p1)
                .addRules(RequirementRule.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                        .setRequires(top))
                .setBypassCorsPreflight(true).build();
    }

    static JwtRequirement provider(String name) {
        return JwtRequirement.newBuilder().setProviderName(name).build();
    }

    static JwtRequirement orMissing(String name) {
        return JwtRequirement.newBuilder().setRequiresAny(JwtRequirementOrList.newBuilder()
                .addRequirements(provider(name))
                .addRequirements(JwtRequirement.newBuilder().setAllowMissing(Empty.getDefaultInstance()))).build();
    }

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        ca = new TestCa(dir, Duration.ofHours(1));
        CaClient caClient = ca.client().trustBundle(ca.bundle()).build();
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        loops = Transport.EPOLL.newEventLoopGroup(2, "waypoint-jwt");
        backend = new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest r) {
                                        String body = "backend " + r.uri()
                                                + " authorization=" + r.headers().get("authorization", "-")
                                                + " x-token=" + (r.headers().contains("x-token") ? "yes" : "-")
                                                + " x-sub=" + r.headers().get("x-sub", "-")
                                                + " payload=" + (r.headers().contains("x-jwt-payload") ? "yes" : "-");
                                        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.OK, Unpooled.copiedBuffer(body, UTF_8));
                                        HttpUtil.setContentLength(resp, resp.content().readableBytes());
                                        ctx.writeAndFlush(resp);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        config.clusters.put(CLUSTER, WaypointEndToEndTest.cluster(CLUSTER));
        config.endpoints.put(CLUSTER, List.of(WaypointEndToEndTest.endpoint((InetSocketAddress) backend.localAddress())));
        String route = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder().setStatPrefix(route)
                .addHttpFilters(HttpFilter.newBuilder().setName(JwtAuthn.NAME).setTypedConfig(Any.pack(istioShape())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                .build();
        config.chain(VIP, new FilterChain(route, FilterChain.Kind.HTTP, route, FilterChain.Codec.AUTO, "", route, hcm));
        config.route(Harness.routes(Harness.prefix("default", "/", CLUSTER).build()).toBuilder().setName(route).build());

        WorkloadCertificate waypointCert = caClient.issue(TestCa.BACKEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate clientCert = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        upstreams = ClusterManager.builder(() -> config, SocketFactory.host("waypoint-up", Transport.EPOLL), loops)
                .metrics(metrics).build();
        RequestAuthorizer requirePrincipal = exchange -> {
            seenMetadata.add(Map.copyOf(exchange.metadata()));
            boolean principal = exchange.metadata().containsKey(JwtAuthn.ISTIO_AUTHN)
                    && exchange.metadata(JwtAuthn.ISTIO_AUTHN).containsKey(JwtAuthn.PRINCIPAL);
            return exchange.path().startsWith("/jwt-only") && !principal
                    ? CompletableFuture.completedFuture("ns.shop.require-jwt") : null;
        };
        server = WaypointServer.builder(SocketFactory.host("waypoint", Transport.EPOLL), loops, tls,
                        () -> waypointCert, () -> config, upstreams, state, metrics)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0)).authorizer(requirePrincipal)
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
        if (loops != null) {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (ca != null) {
            ca.close();
        }
        LeakCheck.assertNoLeaks();
    }

    private WaypointEndToEndTest.Responses tunnel() throws Exception {
        Future<Http2StreamChannel> f = HboneClient.connect(client, HboneRequest.builder(VIP)
                .forwardedFor(WaypointEndToEndTest.ip("10.244.0.7")).build()).await();
        assertThat(f.isSuccess()).as("CONNECT: %s", f.cause()).isTrue();
        Http2StreamChannel stream = f.getNow();
        WaypointEndToEndTest.Responses responses = new WaypointEndToEndTest.Responses();
        stream.eventLoop().submit(() -> {
            StreamBytes.install(stream);
            stream.config().setAutoRead(true);
            stream.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), responses);
        }).sync();
        this.stream = stream;
        return responses;
    }

    private Http2StreamChannel stream;

    private void send(String uri, String... headers) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri, Unpooled.EMPTY_BUFFER);
        r.headers().set("host", "reviews:9080");
        for (int i = 0; i < headers.length; i += 2) {
            r.headers().add(headers[i], headers[i + 1]);
        }
        HttpUtil.setContentLength(r, 0);
        stream.writeAndFlush(r);
    }

    @Test
    void aValidTokenPassesWithIstiosMetadataAndIsNotForwarded() throws Exception {
        var responses = tunnel();
        send("/jwt-only/orders", "authorization", "Bearer " + KEYS.rs256(ISS, "alice", "shop", 600));
        assertThat(responses.next()).isEqualTo(
                "200 backend /jwt-only/orders authorization=- x-token=- x-sub=- payload=-");
        Map<String, Map<String, Object>> md = seenMetadata.poll(5, TimeUnit.SECONDS);
        Map<String, Object> authn = md.get("istio_authn");
        assertThat(authn).containsEntry("request.auth.principal", ISS + "/alice")
                .containsEntry("request.auth.audiences", List.of("shop"))
                .containsEntry("request.auth.presenter", "cli");
        @SuppressWarnings("unchecked")
        Map<String, Object> claims = (Map<String, Object>) authn.get("request.auth.claims");
        assertThat(claims).containsEntry("groups", List.of("admins", "dev")).containsEntry("scope", "read write")
                .containsEntry("sub", "alice");
        @SuppressWarnings("unchecked")
        Map<String, Object> payload = (Map<String, Object>) md.get("envoy.filters.http.jwt_authn").get("payload");
        assertThat(payload).containsEntry("iss", ISS).containsEntry("scope", List.of("read", "write"));
        assertThat(metrics.scrape()).contains("ambit_waypoint_jwt_authn_total{result=\"allowed\",reason=\"\"} 1");
        stream.close();
    }

    @Test
    void theSecondProvidersTokenIsForwardedWithItsHeaders() throws Exception {
        var responses = tunnel();
        send("/jwt-only", "x-token", KEYS2.rs256(ISS2, "bob", "any", 600));
        assertThat(responses.next()).isEqualTo("200 backend /jwt-only authorization=- x-token=yes x-sub=bob payload=yes");
        assertThat(seenMetadata.poll(5, TimeUnit.SECONDS).get("istio_authn"))
                .containsEntry("request.auth.principal", ISS2 + "/bob");
        stream.close();
    }

    @Test
    void expiredForgedUnknownAndDisallowedTokensAreRefusedAsEnvoyRefusesThem() throws Exception {
        var responses = tunnel();
        send("/jwt-only?x=1", "authorization", "Bearer " + KEYS.rs256(ISS, "alice", "shop", -3600));
        assertThat(responses.next()).isEqualTo("401 Jwt is expired");
        assertThat(responses.headers.poll().get("www-authenticate"))
                .isEqualTo("Bearer realm=\"http://reviews:9080/jwt-only?x=1\", error=\"invalid_token\"");

        TestTokens forger = new TestTokens("rsa-1", "ec-1");
        send("/", "authorization", "Bearer " + forger.rs256(ISS, "alice", "shop", 600));
        assertThat(responses.next()).isEqualTo("401 Jwt verification fails");
        responses.headers.poll();

        send("/", "authorization", "Bearer " + KEYS.rs256("https://evil.example", "alice", "shop", 600));
        assertThat(responses.next()).isEqualTo("401 Jwt issuer is not configured");
        responses.headers.poll();

        send("/", "authorization", "Bearer " + KEYS.sign("RS256", "unknown-kid", "{\"iss\":\"" + ISS
                + "\",\"aud\":\"shop\"}"));
        assertThat(responses.next()).isEqualTo("401 Jwks doesn't have key to match kid or alg from Jwt");
        responses.headers.poll();

        send("/", "authorization", "Bearer " + KEYS.rs256(ISS, "alice", "billing", 600));
        assertThat(responses.next()).isEqualTo("403 Audiences in Jwt are not allowed");
        responses.headers.poll();

        send("/", "authorization", "Bearer not-a-jwt");
        assertThat(responses.next())
                .isEqualTo("401 Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections");
        // None of them reached the authorization slot or the backend; each is counted with its reason.
        assertThat(seenMetadata).isEmpty();
        assertThat(metrics.scrape()).contains("ambit_waypoint_jwt_authn_total{result=\"denied\",reason=\"Jwt is expired\"} 1")
                .contains("result=\"denied\",reason=\"Jwt verification fails\"} 1")
                .contains("result=\"denied\",reason=\"Audiences in Jwt are not allowed\"} 1");
        stream.close();
    }

    @Test
    void aMissingTokenPassesAndOnlyAuthorizationCanRequireOne() throws Exception {
        var responses = tunnel();
        send("/open");
        assertThat(responses.next()).isEqualTo("200 backend /open authorization=- x-token=- x-sub=- payload=-");
        assertThat(seenMetadata.poll(5, TimeUnit.SECONDS)).doesNotContainKey("istio_authn");
        send("/jwt-only");
        assertThat(responses.next()).isEqualTo("403 RBAC: access denied");
        // Not a bearer token (Basic): no JWT, passes jwt_authn.
        send("/open", "authorization", "Basic dXNlcjpwYXNz");
        assertThat(responses.next()).isEqualTo(
                "200 backend /open authorization=Basic dXNlcjpwYXNz x-token=- x-sub=- payload=-");
        stream.close();
    }

    @Test
    void istiosFilterConfigIsAcceptedByTheValidator() {
        HttpConnectionManager hcm = config.chains.get(VIP).hcm().toBuilder()
                .setRds(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds.newBuilder()
                        .setRouteConfigName("r").setConfigSource(io.envoyproxy.envoy.config.core.v3.ConfigSource
                                .newBuilder().setAds(io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource
                                        .getDefaultInstance())))
                .build();
        var listener = io.envoyproxy.envoy.config.listener.v3.Listener.newBuilder().setName("waypoint")
                .addFilterChains(io.envoyproxy.envoy.config.listener.v3.FilterChain.newBuilder().setName("c")
                        .addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
                                .setName("envoy.filters.network.http_connection_manager").setTypedConfig(Any.pack(hcm))))
                .build();
        assertThat(ResourceValidator.validate("waypoint", listener)).isEmpty();
        // A field the waypoint does not implement (remote JWKS) is refused, naming it.
        JwtAuthentication remote = istioShape().toBuilder().putProviders("origins-0", istioShape().getProvidersOrThrow(
                "origins-0").toBuilder().setRemoteJwks(io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3
                        .RemoteJwks.getDefaultInstance()).build()).build();
        var bad = listener.toBuilder().setFilterChains(0, listener.getFilterChains(0).toBuilder().setFilters(0,
                listener.getFilterChains(0).getFilters(0).toBuilder().setTypedConfig(Any.pack(hcm.toBuilder()
                        .setHttpFilters(0, hcm.getHttpFilters(0).toBuilder().setTypedConfig(Any.pack(remote)))
                        .build())))).build();
        assertThat(String.join("\n", ResourceValidator.validate("waypoint", bad))).contains("remote_jwks");
        // A requirement naming no provider would fail every request: NACKed, naming the path.
        JwtAuthentication dangling = istioShape().toBuilder().setRules(0, istioShape().getRules(0).toBuilder()
                .setRequires(provider("origins-9"))).build();
        var nack = listener.toBuilder().setFilterChains(0, listener.getFilterChains(0).toBuilder().setFilters(0,
                listener.getFilterChains(0).getFilters(0).toBuilder().setTypedConfig(Any.pack(hcm.toBuilder()
                        .setHttpFilters(0, hcm.getHttpFilters(0).toBuilder().setTypedConfig(Any.pack(dangling)))
                        .build())))).build();
        assertThat(String.join("\n", ResourceValidator.validate("waypoint", nack)))
                .contains("rules[0].requires.provider_name: \"origins-9\" is not a provider");
    }
}
