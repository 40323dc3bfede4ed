package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.l7.GatewayContext;
import dev.ambit.istiod.l7.JwksFetcher;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.MeshConfig;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The two seams other sources plug into: {@link GatewayContribution} (Kubernetes Ingress
 * servers joining the {@code NS/~labels} proxy of the pods labelled {@code istio=ingressgateway})
 * and {@link GatewayProxies} (Gateway API gateways keyed {@code NS/NAME}), both translated by
 * {@link GatewayTranslator} next to the waypoints.
 */
class GatewaySourcesTest {

    private static final String FRONTEND = "outbound|80||frontend.shop.svc.cluster.local";

    @TempDir
    Path scratch;

    private static Route to(String cluster) {
        return Route.newBuilder().setName("ingress").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster(cluster)).build();
    }

    @Test
    void aContributionJoinsTheIstioGatewaysProxyOfThePodsItSelects() throws Exception {
        ObjectRef ingress = ObjectRef.of(Kind.SERVICE, "shop", "ingress-standin");
        GatewayContribution.Source source = (config, context) -> List.of(new GatewayContribution(
                IstioGateways.INGRESS_SELECTOR,
                List.of(new GatewayModel.Server("http.ingress.shop", 8080, GatewayModel.Protocol.HTTP,
                        List.of("shop.example.com"), null, false, ingress)),
                List.of(new GatewayModel.HttpHost("http.ingress.shop", "shop.example.com", List.of(to(FRONTEND)),
                        ingress)),
                List.of(), List.of(FRONTEND)));
        L7Resources l7 = translate("http-https", List.of(new IstioGateways(List.of(source))));
        var proxy = l7.forProxy(IngressCases.INGRESS_KEY);
        // The Istio Gateway's listeners and the contributed one, in one proxy.
        assertThat(proxy.get(TypeUrls.LISTENER)).containsOnlyKeys("0.0.0.0_80", "0.0.0.0_443", "0.0.0.0_8080");
        RouteConfiguration rc = (RouteConfiguration) proxy.get(TypeUrls.ROUTE_CONFIGURATION).get("http.8080");
        assertThat(rc.getVirtualHostsList()).extracting(VirtualHost::getName).containsExactly("shop.example.com:8080");
        assertThat(proxy.get(TypeUrls.CLUSTER)).containsKey(FRONTEND);
        assertThat(l7.warnings()).isEmpty();
    }

    @Test
    void aGatewayProxiesSourceIsServedUnderItsKeyAndCannotTakeAWaypointsKey() throws Exception {
        GatewayProxies gatewayApi = (config, context) -> List.of(
                proxy("shop/public", context),
                proxy(IngressCases.INGRESS_KEY, context));
        L7Resources l7 = translate("http-https", List.of(new IstioGateways(), gatewayApi));
        assertThat(l7.waypoints()).containsExactlyInAnyOrder(IngressCases.INGRESS_KEY, IngressCases.INGRESS_POD_KEY,
                "shop/public");
        // The pod's name serves the same resources as its label set.
        assertThat(l7.forProxy(IngressCases.INGRESS_POD_KEY)).isEqualTo(l7.forProxy(IngressCases.INGRESS_KEY));
        assertThat(l7.forProxy("shop/public").get(TypeUrls.LISTENER)).containsOnlyKeys("0.0.0.0_80");
        // The Istio Gateway's proxy was there first: the duplicate is reported, not served.
        assertThat(l7.forProxy(IngressCases.INGRESS_KEY).get(TypeUrls.LISTENER)).containsKey("0.0.0.0_443");
        assertThat(l7.warnings()).anySatisfy(w -> assertThat(w).contains(IngressCases.INGRESS_KEY, "not served"));
    }

    @Test
    void aFailingSourceLeavesTheOthersServing() throws Exception {
        GatewayProxies broken = (config, context) -> {
            throw new IllegalStateException("boom");
        };
        L7Resources l7 = translate("http-https", List.of(broken, new IstioGateways()));
        assertThat(l7.waypoints()).containsExactlyInAnyOrder(IngressCases.INGRESS_KEY, IngressCases.INGRESS_POD_KEY);
        assertThat(l7.warnings()).anySatisfy(w -> assertThat(w).contains("boom", "left out"));
    }

    private static GatewayModel.Proxy proxy(String key, GatewayContext context) {
        ObjectRef origin = ObjectRef.of(Kind.GATEWAY, "shop", "public");
        return new GatewayModel.Proxy(key, "shop",
                List.of(new GatewayModel.Server("http", 80, GatewayModel.Protocol.HTTP, List.of("*"), null, false,
                        origin)),
                List.of(new GatewayModel.HttpHost("http", "*", List.of(to(FRONTEND)), origin)),
                List.of(), List.of(FRONTEND), Map.of());
    }

    private L7Resources translate(String name, List<GatewayProxies> sources) throws Exception {
        ConfigSnapshot config = IngressCases.translate(name, scratch).config();
        return L7Translator.of(MeshConfig.defaults(), JwksFetcher.create(), sources).translate(config);
    }
}
