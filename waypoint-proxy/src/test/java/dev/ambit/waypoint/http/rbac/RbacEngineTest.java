package dev.ambit.waypoint.http.rbac;

import static dev.ambit.waypoint.http.rbac.IstioShapes.and;
import static dev.ambit.waypoint.http.rbac.IstioShapes.anyPermission;
import static dev.ambit.waypoint.http.rbac.IstioShapes.anyPrincipal;
import static dev.ambit.waypoint.http.rbac.IstioShapes.claim;
import static dev.ambit.waypoint.http.rbac.IstioShapes.directRemoteIp;
import static dev.ambit.waypoint.http.rbac.IstioShapes.header;
import static dev.ambit.waypoint.http.rbac.IstioShapes.host;
import static dev.ambit.waypoint.http.rbac.IstioShapes.method;
import static dev.ambit.waypoint.http.rbac.IstioShapes.namespace;
import static dev.ambit.waypoint.http.rbac.IstioShapes.not;
import static dev.ambit.waypoint.http.rbac.IstioShapes.or;
import static dev.ambit.waypoint.http.rbac.IstioShapes.path;
import static dev.ambit.waypoint.http.rbac.IstioShapes.policy;
import static dev.ambit.waypoint.http.rbac.IstioShapes.port;
import static dev.ambit.waypoint.http.rbac.IstioShapes.principal;
import static dev.ambit.waypoint.http.rbac.IstioShapes.rbac;
import static dev.ambit.waypoint.http.rbac.IstioShapes.requestPrincipal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RbacEngineTest {

    static final String FRONTEND = "spiffe://cluster.local/ns/shop/sa/frontend";

    static RequestAttributes req(String method, String uri, String principal, String... headers) {
        return req(method, uri, principal, new HashMap<>(), headers);
    }

    static RequestAttributes req(String method, String uri, String principal, Map<String, Map<String, Object>> md,
                                 String... headers) {
        HttpHeaders h = new DefaultHttpHeaders();
        for (int i = 0; i < headers.length; i += 2) {
            h.add(headers[i], headers[i + 1]);
        }
        return RequestAttributes.of(method, uri, "Reviews.Shop:9080", h, principal,
                NetUtil.createInetAddressFromIpAddressString("10.244.0.7"),
                NetUtil.createInetAddressFromIpAddressString("10.96.0.20"), 9080, md);
    }

    static Policy rule(Permission permission, Principal principal) {
        return policy(List.of(permission), List.of(principal));
    }

    @Test
    void allowAllowsOnlyWhatAPolicyMatchesAndNothingWithoutPolicies() {
        RbacEngine e = RbacEngine.of(rbac(RBAC.Action.ALLOW, "ns[shop]-policy[get]-rule[0]",
                rule(and(or(method("GET"))), and(anyPrincipal()))));
        assertThat(e.decide(req("GET", "/x", FRONTEND))).isEqualTo(
                new RbacEngine.Decision(true, "ns[shop]-policy[get]-rule[0]"));
        assertThat(e.decide(req("POST", "/x", FRONTEND))).isEqualTo(new RbacEngine.Decision(false, null));
        assertThat(RbacEngine.of(rbac(RBAC.Action.ALLOW)).decide(req("GET", "/", FRONTEND)).allowed()).isFalse();
    }

    @Test
    void denyDeniesWhatMatchesAndLogNeverDenies() {
        Policy admin = rule(and(or(path("/admin*"))), and(anyPrincipal()));
        RbacEngine deny = RbacEngine.of(rbac(RBAC.Action.DENY, "p", admin));
        assertThat(deny.decide(req("GET", "/admin/x?q", FRONTEND)).allowed()).isFalse();
        assertThat(deny.decide(req("GET", "/public?next=/admin", FRONTEND)).allowed()).isTrue();
        RbacEngine log = RbacEngine.of(rbac(RBAC.Action.LOG, "p", admin));
        assertThat(log.decide(req("GET", "/admin", FRONTEND))).isEqualTo(new RbacEngine.Decision(true, "p"));
    }

    @Test
    void aPolicyNeedsAPermissionAndAPrincipalAndReportsTheFirstByName() {
        RbacEngine e = RbacEngine.of(rbac(RBAC.Action.DENY,
                "b", rule(anyPermission(), and(principal("cluster.local/ns/shop/sa/frontend"))),
                "a", rule(and(port(9080)), and(namespace("shop"))),
                "c", rule(anyPermission(), and(principal("cluster.local/ns/other/sa/x")))));
        assertThat(e.decide(req("GET", "/", FRONTEND)).matchedPolicy()).isEqualTo("a");
        assertThat(e.decide(req("GET", "/", "spiffe://cluster.local/ns/other/sa/x")).matchedPolicy()).isEqualTo("c");
        assertThat(e.decide(req("GET", "/", "spiffe://cluster.local/ns/third/sa/x")).allowed()).isTrue();
    }

    @Test
    void notFormsNegate() {
        // notMethods: [GET] and notPaths: [/public*]
        RbacEngine e = RbacEngine.of(rbac(RBAC.Action.DENY, "p",
                rule(and(not(or(method("GET"))), not(or(path("/public*")))), and(not(or(namespace("shop")))))));
        assertThat(e.decide(req("POST", "/admin", "spiffe://cluster.local/ns/evil/sa/x")).allowed()).isFalse();
        assertThat(e.decide(req("POST", "/admin", FRONTEND)).allowed()).isTrue();
        assertThat(e.decide(req("GET", "/admin", "spiffe://cluster.local/ns/evil/sa/x")).allowed()).isTrue();
        assertThat(e.decide(req("POST", "/public/a", "spiffe://cluster.local/ns/evil/sa/x")).allowed()).isTrue();
    }

    @Test
    void hostsMatchCaseInsensitivelyHeadersBySpecifierAndIpsByPrefix() {
        RbacEngine hosts = RbacEngine.of(rbac(RBAC.Action.ALLOW, "p",
                rule(and(or(host("reviews.shop:9080"))), anyPrincipal())));
        assertThat(hosts.decide(req("GET", "/", FRONTEND)).allowed()).isTrue();
        RbacEngine h = RbacEngine.of(rbac(RBAC.Action.ALLOW, "p",
                rule(anyPermission(), and(or(header("x-user", "admin*")), or(directRemoteIp("10.244.0.0", 16))))));
        assertThat(h.decide(req("GET", "/", FRONTEND, "x-user", "admin-1")).allowed()).isTrue();
        assertThat(h.decide(req("GET", "/", FRONTEND, "x-user", "guest")).allowed()).isFalse();
        assertThat(h.decide(req("GET", "/", FRONTEND)).allowed()).as("absent header").isFalse();
        RbacEngine other = RbacEngine.of(rbac(RBAC.Action.ALLOW, "p",
                rule(anyPermission(), directRemoteIp("10.245.0.0", 16))));
        assertThat(other.decide(req("GET", "/", FRONTEND)).allowed()).isFalse();
    }

    @Test
    void requestPrincipalsAndClaimsReadTheJwtMetadata() {
        RbacEngine e = RbacEngine.of(rbac(RBAC.Action.ALLOW, "p", rule(anyPermission(),
                and(or(requestPrincipal("https://issuer/alice")), claim("groups", "admins")))));
        Map<String, Map<String, Object>> md = new HashMap<>();
        assertThat(e.decide(req("GET", "/", FRONTEND, md)).allowed()).as("no token").isFalse();
        md.put("istio_authn", Map.of("request.auth.principal", "https://issuer/alice",
                "request.auth.claims", Map.of("groups", List.of("users", "admins"))));
        assertThat(e.decide(req("GET", "/", FRONTEND, md)).allowed()).isTrue();
        md.put("istio_authn", Map.of("request.auth.principal", "https://issuer/alice",
                "request.auth.claims", Map.of("groups", List.of("users"))));
        assertThat(e.decide(req("GET", "/", FRONTEND, md)).allowed()).isFalse();
    }

    @Test
    void whatCannotBeEvaluatedIsRefusedNamingThePolicy() {
        Policy cel = Policy.newBuilder().addPermissions(anyPermission()).addPrincipals(anyPrincipal())
                .setCondition(com.google.api.expr.v1alpha1.Expr.getDefaultInstance()).build();
        assertThatThrownBy(() -> RbacEngine.of(rbac(RBAC.Action.DENY, "cel", cel)))
                .hasMessageContaining("RBAC policy cel").hasMessageContaining("condition");
        Policy empty = rule(Permission.getDefaultInstance(), anyPrincipal());
        assertThatThrownBy(() -> RbacEngine.of(rbac(RBAC.Action.DENY, "empty", empty)))
                .hasMessageContaining("RBAC policy empty").hasMessageContaining("RULE_NOT_SET");
    }
}
