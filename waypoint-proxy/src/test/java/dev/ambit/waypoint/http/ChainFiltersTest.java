package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.get;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.http.rbac.AuthzMetrics;
import dev.ambit.waypoint.http.rbac.IstioShapes;
import dev.ambit.waypoint.http.rbac.RbacFilter;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Per-chain HTTP filters built from the chain's HCM (CONTRACT seam 5) and the HCM's path
 * normalization applied once before them (seam 7), through the real {@link RequestProcessor}.
 */
class ChainFiltersTest {

    private Harness h;
    private RequestProcessor processor;
    private final List<FullHttpResponse> responses = new java.util.ArrayList<>();

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.route(Harness.routes(Harness.prefix("admin", "/admin", CLUSTER).build(),
                Harness.prefix("all", "/", CLUSTER).build()));
        AuthzMetrics authz = AuthzMetrics.of(h.metrics);
        Map<String, HttpFilters.Factory> factories = new LinkedHashMap<>();
        factories.put(RbacFilter.NAME, f -> RbacFilter.of(HttpFilters.config(f,
                io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.class), authz));
        factories.put(Faults.NAME, f -> new Faults(HttpFilters.config(f, HTTPFault.class)));
        factories.put(Cors.NAME, f -> new Cors());
        factories.put(Router.NAME, f -> new Router(h.upstreams));
        processor = new RequestProcessor(HttpFilters.of(new Authorization(RequestAuthorizer.ALLOW_ALL), factories,
                List.of(Faults.NAME, Cors.NAME, Router.NAME)), HttpTelemetry.of(h.metrics, h.state), () -> false,
                () -> null);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        responses.forEach(FullHttpResponse::release);
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private static HttpFilter entry(String name, Message config) {
        return HttpFilter.newBuilder().setName(name).setTypedConfig(Any.pack(config)).build();
    }

    private static HttpConnectionManager.Builder hcm(PathWithEscapedSlashesAction escaped, HttpFilter... filters) {
        return HttpConnectionManager.newBuilder().setStatPrefix(Harness.ROUTE).setNormalizePath(BoolValue.of(true))
                .setMergeSlashes(true).setPathWithEscapedSlashesAction(escaped).addAllHttpFilters(List.of(filters))
                .addHttpFilters(entry(Router.NAME, io.envoyproxy.envoy.extensions.filters.http.router.v3.Router
                        .getDefaultInstance()));
    }

    private Harness.Result run(HttpConnectionManager hcm, FullHttpRequest request) {
        FilterChain chain = new FilterChain(Harness.ROUTE, FilterChain.Kind.HTTP, Harness.ROUTE,
                FilterChain.Codec.AUTO, "", Harness.ROUTE, hcm);
        Downstream d = new Downstream(Harness.CLIENT, new InetSocketAddress("10.244.0.7", 0), null, Harness.VIP, chain,
                h.config, HboneRequest.of(Harness.VIP));
        HttpExchange ex = processor.exchange(request, d, h.loop.eventLoop(), "HTTP/1.1");
        FullHttpResponse r = h.await(processor.process(ex));
        Harness.Result result = new Harness.Result(r, ex);
        processor.completed(ex, RequestProcessor.Sent.of(r));
        responses.add(r);
        return result;
    }

    @Test
    void escapedSlashesAreRejectedRedirectedOrForwardedAsTheHcmSays() {
        Harness.Result rejected = run(hcm(PathWithEscapedSlashesAction.REJECT_REQUEST).build(), get("/a%2Fb"));
        assertThat(rejected.status()).isEqualTo(400);
        assertThat(rejected.exchange().responseCodeDetails()).isEqualTo("path_normalization_failed");
        Harness.Result redirected = run(hcm(PathWithEscapedSlashesAction.UNESCAPE_AND_REDIRECT).build(),
                get("/public%2F..%2Fadmin?x=1"));
        assertThat(redirected.status()).isEqualTo(307);
        assertThat(redirected.header("location")).isEqualTo("/admin?x=1");
        assertThat(h.upstreams.sent).isEmpty();
        Harness.Result forwarded = run(hcm(PathWithEscapedSlashesAction.UNESCAPE_AND_FORWARD).build(),
                get("//public/..%2Fadmin"));
        assertThat(forwarded.status()).isEqualTo(200);
        assertThat(forwarded.exchange().routeName()).as("routed on the normalized path").isEqualTo("admin");
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::uri).containsExactly("/admin");
    }

    @Test
    void aDenialNamesThePolicyInTheAccessLog() {
        Policy admin = IstioShapes.policy(List.of(IstioShapes.and(IstioShapes.or(IstioShapes.path("/admin*")))),
                List.of(IstioShapes.and(IstioShapes.anyPrincipal())));
        HttpConnectionManager hcm = hcm(PathWithEscapedSlashesAction.KEEP_UNCHANGED, entry(RbacFilter.NAME,
                io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder().setRules(
                        IstioShapes.rbac(RBAC.Action.DENY, "ns[default]-policy[deny-admin]-rule[0]", admin)).build()))
                .build();
        Harness.Result r = run(hcm, get("/public/../admin/x"));
        assertThat(r.status()).isEqualTo(403);
        assertThat(r.body()).isEqualTo("RBAC: access denied");
        String line = HttpTelemetry.accessLine(r.exchange(), HttpTelemetry.of(h.metrics, h.state).labels(r.exchange()),
                403, r.exchange().flagsString(), 1_000_000, 19, "rid", null);
        assertThat(line).contains("\"path\":\"/admin/x\"", "\"response_flags\":\"RBAC\"",
                "\"response_code_details\":\"rbac_access_denied_matched_policy[ns[default]-policy[deny-admin]-rule[0]]\"");
        assertThat(h.upstreams.sent).isEmpty();
    }

    @Test
    void aChainWhoseFiltersCannotBeBuiltFailsClosed() {
        Policy cel = Policy.newBuilder().addPermissions(IstioShapes.anyPermission())
                .addPrincipals(IstioShapes.anyPrincipal())
                .setCondition(com.google.api.expr.v1alpha1.Expr.getDefaultInstance()).build();
        HttpConnectionManager hcm = hcm(PathWithEscapedSlashesAction.KEEP_UNCHANGED, entry(RbacFilter.NAME,
                io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                        .setRules(IstioShapes.rbac(RBAC.Action.ALLOW, "cel", cel)).build())).build();
        assertThat(run(hcm, get("/")).status()).isEqualTo(500);
        assertThat(h.upstreams.sent).isEmpty();
    }

    @Test
    void anHcmWithoutFiltersRunsFaultCorsRouterWithoutNormalization() {
        Harness.Result r = run(HttpConnectionManager.getDefaultInstance(), get("/a/../b"));
        assertThat(r.status()).isEqualTo(200);
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::uri).containsExactly("/a/../b");
    }
}
