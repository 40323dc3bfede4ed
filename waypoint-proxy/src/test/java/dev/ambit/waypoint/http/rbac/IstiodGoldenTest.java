package dev.ambit.waypoint.http.rbac;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.TypeRegistry;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.waypoint.config.FieldTable;
import dev.ambit.waypoint.config.ResourceValidator;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.util.NetUtil;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What istiod-lite sends for Istio's AuthorizationPolicies (its golden case
 * {@code l7/authorization}) is accepted by this waypoint's validator and decides as Istio
 * means: the two modules agree on the shapes, not only each on its own idea of them.
 */
class IstiodGoldenTest {

    static final Path GOLDEN = Path.of("../istiod-lite/src/test/resources/l7/authorization/expected/shop.waypoint.json");

    @Test
    void theGoldenListenerIsAcceptedAndItsReviewsChainDecidesAsThePoliciesSay() throws Exception {
        assertThat(GOLDEN).as("istiod-lite's golden (run from the reactor)").exists();
        TypeRegistry types = TypeRegistry.newBuilder().add(FieldTable.anyTypes()).add(HttpConnectionManager.getDescriptor())
                .build();
        var tree = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readString(GOLDEN));
        String listenerJson = tree.get("type.googleapis.com/envoy.config.listener.v3.Listener").get("waypoint")
                .toString();
        Listener.Builder b = Listener.newBuilder();
        JsonFormat.parser().usingTypeRegistry(types).merge(listenerJson, b);
        Listener listener = b.build();
        assertThat(ResourceValidator.validate("waypoint", listener)).isEmpty();

        HttpConnectionManager hcm = null;
        for (var fc : listener.getFilterChainsList()) {
            if (fc.getName().equals("inbound-vip|9080|http|reviews.shop.svc.cluster.local")) {
                hcm = fc.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
            }
        }
        assertThat(hcm).isNotNull();
        List<RbacEngine> enforcing = new ArrayList<>();
        for (var f : hcm.getHttpFiltersList()) {
            if (f.getName().equals(RbacFilter.NAME)) {
                var c = f.getTypedConfig().unpack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.class);
                if (c.hasRules()) {
                    enforcing.add(RbacEngine.of(c.getRules()));
                }
            }
        }
        String productpage = "spiffe://cluster.local/ns/shop/sa/productpage";
        assertThat(allowed(enforcing, "GET", "/reviews/1", productpage)).isTrue();
        assertThat(allowed(enforcing, "POST", "/reviews/1", productpage)).as("ALLOW only GET, HEAD").isFalse();
        assertThat(allowed(enforcing, "GET", "/admin/x", productpage)).as("DENY /admin*").isFalse();
        assertThat(allowed(enforcing, "GET", "/reviews/1", "spiffe://cluster.local/ns/shop/sa/ratings"))
                .as("not a listed principal").isFalse();
        assertThat(PathNormalizer.of(hcm).normalize("//public/..%2Fadmin").uri()).isEqualTo("/admin");
    }

    private static boolean allowed(List<RbacEngine> engines, String method, String path, String principal) {
        DefaultHttpHeaders h = new DefaultHttpHeaders();
        Map<String, Map<String, Object>> md = new HashMap<>();
        RequestAttributes r = RequestAttributes.of(method, path, "reviews.shop.svc.cluster.local", h, principal,
                NetUtil.createInetAddressFromIpAddressString("10.244.1.7"),
                NetUtil.createInetAddressFromIpAddressString("10.96.0.10"), 9080, md);
        for (RbacEngine e : engines) {
            if (!e.decide(r).allowed()) {
                return false;
            }
        }
        return true;
    }
}
