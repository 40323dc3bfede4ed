package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.rbac.IstioShapes.and;
import static dev.ambit.waypoint.http.rbac.IstioShapes.anyPrincipal;
import static dev.ambit.waypoint.http.rbac.IstioShapes.header;
import static dev.ambit.waypoint.http.rbac.IstioShapes.method;
import static dev.ambit.waypoint.http.rbac.IstioShapes.or;
import static dev.ambit.waypoint.http.rbac.IstioShapes.path;
import static dev.ambit.waypoint.http.rbac.IstioShapes.policy;
import static dev.ambit.waypoint.http.rbac.IstioShapes.rbac;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
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
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.HttpUri;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.HttpService;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.ListStringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
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
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * L7 AuthorizationPolicy in the waypoint, end to end on loopback (issue 15, Must show 4 but
 * JWT): a real HBONE client → {@link WaypointServer} → {@link ClusterManager} → a backend,
 * the chain's HCM carrying the filters istiod-lite sends for Istio policies (CUSTOM's shadow
 * RBAC and ext_authz, DENY, ALLOW, AUDIT) and Istio's DECODE_AND_MERGE_SLASHES normalization.
 */
class AuthorizationEndToEndTest {

    static final InetSocketAddress VIP = new InetSocketAddress(WaypointEndToEndTest.ip("10.96.0.20"), 9080);
    static final InetSocketAddress OPEN_VIP = new InetSocketAddress(WaypointEndToEndTest.ip("10.96.0.20"), 9081);
    static final String CLUSTER = "outbound|9080||reviews.shop.svc.cluster.local";
    static final String AUTHZ_CLUSTER = "outbound|8000||ext-authz.shop.svc.cluster.local";
    static final String DENY_ADMIN = "ns[shop]-policy[deny-admin]-rule[0]";
    static final String DENY_BLOCKED = "ns[shop]-policy[deny-blocked]-rule[0]";
    static final String AUDIT = "ns[shop]-policy[audit]-rule[0]";

    @TempDir
    Path dir;
    TestCa ca;
    EventLoopGroup loops;
    Channel backend;
    Channel authz;
    ClusterManager upstreams;
    WaypointServer server;
    Channel client;
    final Queue<String> backendSaw = new ConcurrentLinkedQueue<>();
    final Queue<String> authzSaw = new ConcurrentLinkedQueue<>();
    final MetricsRegistry metrics = MetricsRegistry.create();
    final TestConfig config = new TestConfig();

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        ca = new TestCa(dir, Duration.ofHours(1));
        CaClient caClient = ca.client().trustBundle(ca.bundle()).build();
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        loops = Transport.EPOLL.newEventLoopGroup(2, "authz-e2e");
        backend = httpServer(r -> {
            String line = r.method() + " " + r.uri() + " check=" + r.headers().get("x-ext-authz-check-result");
            backendSaw.add(line);
            return response(HttpResponseStatus.OK, "backend " + line);
        });
        // An ext_authz HTTP service as Istio's sample: allow when x-ext-authz: allow.
        authz = httpServer(r -> {
            authzSaw.add(r.method() + " " + r.uri() + " len=" + r.headers().get("content-length"));
            boolean allow = "allow".equals(r.headers().get("x-ext-authz"));
            FullHttpResponse resp = response(allow ? HttpResponseStatus.OK : HttpResponseStatus.FORBIDDEN,
                    allow ? "" : "denied by ext_authz");
            resp.headers().set("x-ext-authz-check-result", allow ? "allowed" : "denied");
            return resp;
        });
        config.clusters.put(CLUSTER, WaypointEndToEndTest.cluster(CLUSTER));
        config.endpoints.put(CLUSTER, List.of(WaypointEndToEndTest.endpoint((InetSocketAddress) backend.localAddress())));
        config.clusters.put(AUTHZ_CLUSTER, WaypointEndToEndTest.cluster(AUTHZ_CLUSTER));
        config.endpoints.put(AUTHZ_CLUSTER, List.of(WaypointEndToEndTest.endpoint((InetSocketAddress) authz.localAddress())));
        String route = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
        config.route(Harness.routes(Harness.prefix("default", "/", CLUSTER).build()).toBuilder().setName(route).build());
        config.chain(VIP, chain(route, false));
        config.chain(OPEN_VIP, chain(route, true));

        WorkloadCertificate waypointCert = caClient.issue(TestCa.BACKEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate clientCert = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        upstreams = ClusterManager.builder(() -> config, SocketFactory.host("authz-up", Transport.EPOLL), loops)
                .metrics(metrics).build();
        server = WaypointServer.builder(SocketFactory.host("authz", Transport.EPOLL), loops, tls,
                        () -> waypointCert, () -> config, upstreams, ProxyState.create(), metrics)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0)).build().start();
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
        for (AutoCloseable c : new AutoCloseable[] {
            () -> client.close().sync(), server::close, upstreams::close, () -> backend.close().sync(),
            () -> authz.close().sync(), () -> loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync(), ca::close}) {
            try {
                c.close();
            } catch (NullPointerException ignored) {
                // set-up failed before this part existed
            }
        }
        LeakCheck.assertNoLeaks();
    }

    /** The HCM istiod-lite sends for the test's policies (see AuthorizationFilters there). */
    static FilterChain chain(String route, boolean failOpen) {
        ExtAuthz extAuthz = ExtAuthz.newBuilder()
                .setHttpService(HttpService.newBuilder()
                        .setServerUri(HttpUri.newBuilder().setUri("http://ext-authz.shop.svc.cluster.local:8000")
                                .setCluster(AUTHZ_CLUSTER).setTimeout(com.google.protobuf.Duration.newBuilder()
                                        .setSeconds(2)))
                        .setPathPrefix("/check")
                        .setAuthorizationRequest(AuthorizationRequest.newBuilder().setAllowedHeaders(
                                headers("x-ext-authz")))
                        .setAuthorizationResponse(AuthorizationResponse.newBuilder()
                                .setAllowedUpstreamHeaders(headers("x-ext-authz-check-result"))
                                .setAllowedClientHeaders(headers("x-ext-authz-check-result"))))
                .setFailureModeAllow(failOpen)
                .setTransportApiVersion(ApiVersion.V3)
                .setFilterEnabledMetadata(MetadataMatcher.newBuilder().setFilter("envoy.filters.http.rbac")
                        .addPath(MetadataMatcher.PathSegment.newBuilder()
                                .setKey("istio_ext_authz_shadow_effective_policy_id"))
                        .setValue(ValueMatcher.newBuilder().setStringMatch(StringMatcher.newBuilder()
                                .setPrefix("istio-ext-authz"))))
                .build();
        var custom = io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                .setShadowRules(rbac(RBAC.Action.DENY, "istio-ext-authz-ns[shop]-policy[ext]-rule[0]",
                        policy(List.of(and(or(path("/custom*")))), List.of(and(anyPrincipal())))))
                .setShadowRulesStatPrefix("istio_ext_authz_").build();
        var deny = rbacFilter(rbac(RBAC.Action.DENY,
                DENY_ADMIN, policy(List.of(and(or(path("/admin*")))), List.of(and(anyPrincipal()))),
                DENY_BLOCKED, policy(List.of(and(dev.ambit.waypoint.http.rbac.IstioShapes.anyPermission())),
                        List.of(and(or(header("x-user", "blocked")))))));
        // ALLOW-with-positive-matching, Istio's advice: only GET, only the paths the service has.
        var allow = rbacFilter(rbac(RBAC.Action.ALLOW, "ns[shop]-policy[allow-get]-rule[0]",
                policy(List.of(and(or(method("GET")), or(path("/public*"), path("/admin*"), path("/custom*"),
                        path("/audited*")))), List.of(and(anyPrincipal())))));
        var audit = rbacFilter(rbac(RBAC.Action.LOG, AUDIT,
                policy(List.of(and(or(path("/audited*"), path("/admin*")))), List.of(and(anyPrincipal())))));
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder().setStatPrefix(route)
                .setRds(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds.newBuilder()
                        .setRouteConfigName(route).setConfigSource(io.envoyproxy.envoy.config.core.v3.ConfigSource
                                .newBuilder().setAds(io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource
                                        .getDefaultInstance())))
                .setNormalizePath(BoolValue.of(true)).setMergeSlashes(true)
                .setPathWithEscapedSlashesAction(HttpConnectionManager.PathWithEscapedSlashesAction.UNESCAPE_AND_FORWARD)
                .addHttpFilters(entry("envoy.filters.http.rbac", custom))
                .addHttpFilters(entry("envoy.filters.http.ext_authz", extAuthz))
                .addHttpFilters(entry("envoy.filters.http.rbac", deny))
                .addHttpFilters(entry("envoy.filters.http.rbac", allow))
                .addHttpFilters(entry("envoy.filters.http.rbac", audit))
                .addHttpFilters(entry(Faults.NAME, io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault
                        .getDefaultInstance()))
                .addHttpFilters(entry(Cors.NAME, io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors
                        .getDefaultInstance()))
                .addHttpFilters(entry(Router.NAME, io.envoyproxy.envoy.extensions.filters.http.router.v3.Router
                        .getDefaultInstance()))
                .build();
        return new FilterChain(route, FilterChain.Kind.HTTP, route, FilterChain.Codec.AUTO, "", route, hcm);
    }

    private static io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC rbacFilter(RBAC rules) {
        return io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder().setRules(rules).build();
    }

    private static ListStringMatcher headers(String name) {
        return ListStringMatcher.newBuilder().addPatterns(StringMatcher.newBuilder().setExact(name).setIgnoreCase(true))
                .build();
    }

    private static HttpFilter entry(String name, Message config) {
        return HttpFilter.newBuilder().setName(name).setTypedConfig(Any.pack(config)).build();
    }

    @Test
    void theChainsConfigIsWhatTheValidatorAccepts() {
        var listener = io.envoyproxy.envoy.config.listener.v3.Listener.newBuilder().setName("waypoint")
                .addFilterChains(io.envoyproxy.envoy.config.listener.v3.FilterChain.newBuilder().setName("c")
                        .addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
                                .setName("envoy.filters.network.http_connection_manager")
                                .setTypedConfig(Any.pack(chain("r", false).hcm()))))
                .build();
        assertThat(ResourceValidator.validate("waypoint", listener)).isEmpty();
    }

    @Test
    void anRbacOrExtAuthzConfigEnvoyWouldRefuseIsNacked() {
        var emptyPermission = io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                .setRules(rbac(RBAC.Action.DENY, "p", io.envoyproxy.envoy.config.rbac.v3.Policy.newBuilder()
                        .addPermissions(io.envoyproxy.envoy.config.rbac.v3.Permission.getDefaultInstance())
                        .addPrincipals(anyPrincipal()).build())).build();
        HttpConnectionManager hcm = chain("r", false).hcm().toBuilder()
                .setHttpFilters(2, entry("envoy.filters.http.rbac", emptyPermission))
                .setHttpFilters(1, entry("envoy.filters.http.ext_authz", ExtAuthz.newBuilder()
                        .setHttpService(HttpService.newBuilder().setServerUri(HttpUri.newBuilder().setUri("http://x")))
                        .build()))
                .build();
        var listener = io.envoyproxy.envoy.config.listener.v3.Listener.newBuilder().setName("waypoint")
                .addFilterChains(io.envoyproxy.envoy.config.listener.v3.FilterChain.newBuilder().setName("c")
                        .addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
                                .setName("envoy.filters.network.http_connection_manager")
                                .setTypedConfig(Any.pack(hcm))))
                .build();
        assertThat(ResourceValidator.validate("waypoint", listener)).containsExactlyInAnyOrder(
                "Listener waypoint: filter_chains[0].filters[0].typed_config.http_filters[1].typed_config.http_service"
                        + ".server_uri.cluster: empty (expected: a value)",
                "Listener waypoint: filter_chains[0].filters[0].typed_config.http_filters[1].typed_config.http_service"
                        + ".server_uri.timeout: missing",
                "Listener waypoint: filter_chains[0].filters[0].typed_config.http_filters[2].typed_config.rules"
                        + ".policies[\"p\"].permissions[0].rule: missing");
    }

    @Test
    void getIsAllowedAndPostDenied() throws Exception {
        Client c = client(VIP);
        assertThat(c.send(HttpMethod.GET, "/public/a")).isEqualTo("200 backend GET /public/a check=null");
        assertThat(c.send(HttpMethod.POST, "/public/a")).isEqualTo("403 RBAC: access denied");
        assertThat(backendSaw).containsExactly("GET /public/a check=null");
        assertThat(metrics.scrape()).contains("ambit_waypoint_rbac_denied_total{filter=\"rbac\",policy=\"none\"} 1");
        awaitScrape("response_flags=\"RBAC\"");
    }

    @Test
    void aHeaderConditionDenies() throws Exception {
        Client c = client(VIP);
        assertThat(c.send(HttpMethod.GET, "/public/a", "x-user", "blocked")).isEqualTo("403 RBAC: access denied");
        assertThat(c.send(HttpMethod.GET, "/public/a", "x-user", "alice")).startsWith("200 backend GET /public/a");
        assertThat(metrics.scrape()).contains("ambit_waypoint_rbac_denied_total{filter=\"rbac\",policy=\""
                + DENY_BLOCKED + "\"} 1");
    }

    @Test
    void everyNormalizationBypassFormIsDenied() throws Exception {
        Client c = client(VIP);
        List<String> forms = List.of("/admin", "/admin/", "//admin", "///admin/x", "/admin/../admin",
                "/public/../admin", "/public/..%2Fadmin", "/public%2F..%2Fadmin", "/public/..%5cadmin",
                "/public/%2e%2e/admin", "/public/%2E%2E/admin", "/%61dmin", "/public/./../admin",
                "/ADMIN", "/Admin/x", "/admin;jsessionid=1", "/admin;/../admin", "/admin#", "/admin#frag",
                "/admin%23", "/admin?x=1");
        for (String form : forms) {
            assertThat(c.send(HttpMethod.GET, form)).as(form).isEqualTo("403 RBAC: access denied");
        }
        assertThat(backendSaw).as("no bypass form reached the backend").isEmpty();
        // The path every filter and the backend see is the normalized one.
        assertThat(c.send(HttpMethod.GET, "/public//a/../b%2Fc")).isEqualTo("200 backend GET /public/b/c check=null");
    }

    @Test
    void auditLogsWithoutChangingTheDecision() throws Exception {
        Client c = client(VIP);
        assertThat(c.send(HttpMethod.GET, "/audited/x")).isEqualTo("200 backend GET /audited/x check=null");
        assertThat(c.send(HttpMethod.GET, "/admin")).isEqualTo("403 RBAC: access denied");
        String scrape = metrics.scrape();
        assertThat(scrape).contains("ambit_waypoint_rbac_audited_total{policy=\"" + AUDIT + "\"} 1");
        assertThat(scrape).contains("ambit_waypoint_rbac_denied_total{filter=\"rbac\",policy=\"" + DENY_ADMIN
                + "\"} 1");
    }

    @Test
    void customDelegatesToTheExtAuthzService() throws Exception {
        Client c = client(VIP);
        assertThat(c.send(HttpMethod.GET, "/custom/a", "x-ext-authz", "allow"))
                .isEqualTo("200 backend GET /custom/a check=allowed");
        assertThat(c.send(HttpMethod.GET, "/custom/a", "x-ext-authz", "deny")).isEqualTo("403 denied by ext_authz");
        assertThat(c.lastHeaders.get("x-ext-authz-check-result")).isEqualTo("denied");
        // Only CUSTOM's paths are checked.
        assertThat(c.send(HttpMethod.GET, "/public/a")).startsWith("200 ");
        assertThat(authzSaw).containsExactly("GET /check/custom/a len=0", "GET /check/custom/a len=0");
        assertThat(metrics.scrape()).contains("ambit_waypoint_rbac_denied_total{filter=\"ext_authz\",policy=\"403\"} 1");
        awaitScrape("response_flags=\"UAEX\"");
        // Later filters still apply to what ext_authz allowed.
        assertThat(c.send(HttpMethod.POST, "/custom/a", "x-ext-authz", "allow")).isEqualTo("403 RBAC: access denied");
    }

    @Test
    void anUnreachableAuthorizerFailsClosedUnlessFailOpen() throws Exception {
        authz.close().sync();
        Client closed = client(VIP);
        assertThat(closed.send(HttpMethod.GET, "/custom/a", "x-ext-authz", "allow")).isEqualTo("403 ");
        assertThat(backendSaw).isEmpty();
        assertThat(metrics.scrape()).contains("ambit_waypoint_rbac_denied_total{filter=\"ext_authz\",policy=\"error\"} 1");
        Client open = client(OPEN_VIP);
        assertThat(open.send(HttpMethod.GET, "/custom/a", "x-ext-authz", "allow"))
                .isEqualTo("200 backend GET /custom/a check=null");
    }

    // ------------------------------------------------------------------ plumbing

    /** Istio's request metrics are recorded once the response was written: the client may see it first. */
    private void awaitScrape(String expected) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!metrics.scrape().contains(expected) && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(metrics.scrape()).contains(expected);
    }

    /** One HTTP/1.1 keep-alive connection inside an HBONE tunnel to {@code vip}. */
    final class Client {
        final Http2StreamChannel stream;
        final WaypointEndToEndTest.Responses responses = new WaypointEndToEndTest.Responses();
        io.netty.handler.codec.http.HttpHeaders lastHeaders;

        Client(Http2StreamChannel stream) throws Exception {
            this.stream = stream;
            stream.eventLoop().submit(() -> {
                StreamBytes.install(stream);
                stream.config().setAutoRead(true);
                stream.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), responses);
            }).sync();
        }

        String send(HttpMethod method, String uri, String... headers) throws Exception {
            FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, uri, Unpooled.EMPTY_BUFFER);
            r.headers().set("host", "reviews:9080");
            for (int i = 0; i < headers.length; i += 2) {
                r.headers().set(headers[i], headers[i + 1]);
            }
            HttpUtil.setContentLength(r, 0);
            stream.writeAndFlush(r);
            String answer = responses.next();
            lastHeaders = responses.headers.poll();
            return answer;
        }
    }

    private Client client(InetSocketAddress vip) throws Exception {
        Future<Http2StreamChannel> f = HboneClient.connect(client, HboneRequest.builder(vip)
                .forwardedFor(WaypointEndToEndTest.ip("10.244.0.7")).build()).await();
        assertThat(f.isSuccess()).as("CONNECT %s: %s", vip, f.cause()).isTrue();
        return new Client(f.getNow());
    }

    private Channel httpServer(java.util.function.Function<FullHttpRequest, FullHttpResponse> handler)
            throws InterruptedException {
        return new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest r) {
                                        ctx.writeAndFlush(handler.apply(r));
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    private static FullHttpResponse response(HttpResponseStatus status, String body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(body, UTF_8));
        HttpUtil.setContentLength(r, r.content().readableBytes());
        return r;
    }
}
