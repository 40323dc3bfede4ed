package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshConfigFile;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class AuthorizationFiltersTest {

    private static final String REVIEWS = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
    private static final String RATINGS = "inbound-vip|8080|http|ratings.shop.svc.cluster.local";

    /** The HCM of {@code chain} in the shop waypoint's listener. */
    private static HttpConnectionManager hcm(L7Resources r, String chain) throws Exception {
        Listener l = (Listener) r.forWaypoint("shop", "waypoint").get(TypeUrls.LISTENER).get("waypoint");
        for (var fc : l.getFilterChainsList()) {
            if (fc.getName().equals(chain)) {
                return fc.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
            }
        }
        throw new AssertionError("no chain " + chain);
    }

    /** action → policy names of the chain's RBAC filters, in order ("SHADOW" for shadow rules). */
    private static List<String> rbac(HttpConnectionManager hcm) throws Exception {
        List<String> out = new ArrayList<>();
        for (HttpFilter f : hcm.getHttpFiltersList()) {
            if (f.getName().equals(AuthorizationFilters.RBAC_FILTER)) {
                var c = f.getTypedConfig().unpack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.class);
                RBAC rules = c.hasRules() ? c.getRules() : c.getShadowRules();
                out.add((c.hasRules() ? rules.getAction().name() : "SHADOW") + " " + new TreeMap<>(rules.getPoliciesMap())
                        .keySet());
            } else if (f.getName().equals(AuthorizationFilters.EXT_AUTHZ_FILTER)) {
                out.add("EXT_AUTHZ");
            }
        }
        return out;
    }

    private static Map<String, Policy> policies(HttpConnectionManager hcm, RBAC.Action action) throws Exception {
        for (HttpFilter f : hcm.getHttpFiltersList()) {
            if (f.getName().equals(AuthorizationFilters.RBAC_FILTER)) {
                var c = f.getTypedConfig().unpack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.class);
                if (c.hasRules() && c.getRules().getAction() == action) {
                    return c.getRules().getPoliciesMap();
                }
            }
        }
        return Map.of();
    }

    private static String policy(String name, String ns, String targetRef, String spec) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: " + name
                + ", namespace: " + ns + "}\nspec:\n" + (targetRef.isEmpty() ? "" : "  targetRefs: [" + targetRef + "]\n")
                + spec;
    }

    private static final String GATEWAY = "{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}";

    @Test
    void gatewayServiceAndGatewayClassTargetsAttachSelectorlessPoliciesDoNot() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(),
                policy("all", "shop", GATEWAY, "  action: DENY\n  rules: [{to: [{operation: {paths: [/admin*]}}]}]\n"),
                policy("reviews-only", "shop", "{kind: Service, group: \"\", name: reviews}",
                        "  rules: [{to: [{operation: {methods: [GET]}}]}]\n"),
                policy("mesh", "istio-system", "{kind: GatewayClass, group: gateway.networking.k8s.io, "
                        + "name: istio-waypoint}", "  action: AUDIT\n  rules: [{}]\n"),
                policy("ns-wide", "shop", "", "  action: DENY\n  rules: [{}]\n"),
                policy("other-gateway", "shop", "{kind: Gateway, group: gateway.networking.k8s.io, name: east}",
                        "  action: DENY\n  rules: [{}]\n")));
        assertThat(rbac(hcm(r, REVIEWS))).containsExactly("LOG [ns[istio-system]-policy[mesh]-rule[0]]",
                "DENY [ns[shop]-policy[all]-rule[0]]", "ALLOW [ns[shop]-policy[reviews-only]-rule[0]]");
        assertThat(rbac(hcm(r, RATINGS))).containsExactly("LOG [ns[istio-system]-policy[mesh]-rule[0]]",
                "DENY [ns[shop]-policy[all]-rule[0]]");
        HttpConnectionManager h = hcm(r, REVIEWS);
        assertThat(h.getHttpFilters(h.getHttpFiltersCount() - 1).getName()).isEqualTo("envoy.filters.http.router");
        assertThat(h.getNormalizePath().getValue()).isTrue();
        assertThat(h.getMergeSlashes()).isFalse();
        assertThat(h.getPathWithEscapedSlashesAction())
                .isEqualTo(HttpConnectionManager.PathWithEscapedSlashesAction.KEEP_UNCHANGED);
    }

    @Test
    void rulesHaveIstiosShapes() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(),
                policy("p", "shop", GATEWAY, """
                          rules:
                          - from: [{source: {principals: [cluster.local/ns/shop/sa/a], namespaces: [shop]}}]
                            to: [{operation: {methods: [GET], paths: [/api/*], hosts: [Reviews]}}]
                            when: [{key: "request.headers[x-user]", notValues: [bob]}]
                        """)));
        Policy p = policies(hcm(r, REVIEWS), RBAC.Action.ALLOW).get("ns[shop]-policy[p]-rule[0]");
        var and = p.getPermissions(0).getAndRules().getRulesList();
        assertThat(and.get(0).getOrRules().getRules(0).getHeader().getName()).isEqualTo(":authority");
        assertThat(and.get(0).getOrRules().getRules(0).getHeader().getStringMatch().getIgnoreCase()).isTrue();
        assertThat(and.get(1).getOrRules().getRules(0).getHeader().getName()).isEqualTo(":method");
        assertThat(and.get(2).getOrRules().getRules(0).getUrlPath().getPath().getPrefix()).isEqualTo("/api/");
        var ids = p.getPrincipals(0).getAndIds().getIdsList();
        assertThat(ids.get(0).getOrIds().getIds(0).getAuthenticated().getPrincipalName().getExact())
                .isEqualTo("spiffe://cluster.local/ns/shop/sa/a");
        assertThat(ids.get(1).getOrIds().getIds(0).getAuthenticated().getPrincipalName().getSafeRegex().getRegex())
                .isEqualTo(".*/ns/shop/.*");
        assertThat(ids.get(2).getNotId().getOrIds().getIds(0).getHeader().getStringMatch().getExact()).isEqualTo("bob");
    }

    @Test
    void customWithAnUnknownProviderDeniesWhatItWouldCheck() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(),
                policy("ext", "shop", GATEWAY, "  action: CUSTOM\n  provider: {name: nope}\n"
                        + "  rules: [{to: [{operation: {paths: [/secure*]}}]}]\n")));
        assertThat(rbac(hcm(r, REVIEWS))).containsExactly("DENY [ns[shop]-policy[ext]-rule[0]]");
        assertThat(r.warnings()).anyMatch(w -> w.contains("AuthorizationPolicy shop/ext")
                && w.contains("fail closed"));
    }

    @Test
    void customWithAProviderMarksAndChecks() throws Exception {
        MeshConfig mesh = MeshConfigFile.parse("""
                pathNormalization: {normalization: MERGE_SLASHES}
                extensionProviders:
                - name: authz
                  envoyExtAuthzHttp: {service: shop/ratings.shop.svc.cluster.local, port: 8080, failOpen: true}
                """, MeshConfig.defaults());
        L7Resources r = L7Translator.of(mesh).translate(Snapshots.of(Snapshots.base(),
                policy("ext", "shop", GATEWAY, "  action: CUSTOM\n  provider: {name: authz}\n  rules: [{}]\n")));
        HttpConnectionManager h = hcm(r, REVIEWS);
        assertThat(rbac(h)).containsExactly("SHADOW [istio-ext-authz-ns[shop]-policy[ext]-rule[0]]", "EXT_AUTHZ");
        var ext = h.getHttpFilters(1).getTypedConfig()
                .unpack(io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz.class);
        assertThat(ext.getHttpService().getServerUri().getCluster())
                .isEqualTo("outbound|8080||ratings.shop.svc.cluster.local");
        assertThat(ext.getHttpService().getServerUri().getTimeout().getSeconds()).isEqualTo(600);
        assertThat(ext.getFailureModeAllow()).isTrue();
        assertThat(h.getMergeSlashes()).isTrue();
        assertThat(h.getPathWithEscapedSlashesAction())
                .isEqualTo(HttpConnectionManager.PathWithEscapedSlashesAction.KEEP_UNCHANGED);
    }

    @Test
    void meshConfigErrorsNameTheKey() {
        assertThatThrownBy(() -> MeshConfigFile.parse("pathNormalization: {normalization: WEIRD}",
                MeshConfig.defaults())).hasMessageContaining("pathNormalization.normalization: WEIRD");
        assertThatThrownBy(() -> MeshConfigFile.parse(
                "extensionProviders: [{name: a, envoyExtAuthzHttp: {service: s, port: x}}]", MeshConfig.defaults()))
                .hasMessageContaining("extensionProviders[0].envoyExtAuthzHttp.port");
        assertThatThrownBy(() -> MeshConfigFile.parse(
                "extensionProviders: [{name: a, envoyExtAuthzHttp: {service: s, port: 1, timeout: soon}}]",
                MeshConfig.defaults())).hasMessageContaining("timeout: soon");
    }
}
