package dev.ambit.istiod.ingress;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.l7.GatewayContext;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Every source of gateway proxies, as {@code L7Translator} asks them: Istio {@code Gateway}s
 * (with the Kubernetes {@code Ingress}es of class {@code istio} joining the proxies of the pods
 * labelled {@code istio=ingressgateway}, Istio's default ingress selector) and Gateway API
 * gateways of class {@code istio}.
 */
public final class GatewaySources {

    /** Istio Gateways plus Ingresses, then Gateway API gateways: the order their keys are claimed in. */
    public static final List<GatewayProxies> ALL = List.of(
            new IstioGateways(List.of(GatewaySources::ingresses)),
            GatewaySources::gatewayApi);

    private GatewaySources() {
    }

    private static List<GatewayModel.Proxy> gatewayApi(ConfigSnapshot config, GatewayContext context) {
        GatewayApiGateways.Result r = GatewayApiGateways.proxies(config, context.mesh(), context.catalog());
        r.problems().forEach(context::note);
        return r.proxies();
    }

    /**
     * The Ingresses' servers and routes, once per namespace holding ingress pods: an Ingress's
     * {@code secretName} is read in the gateway's namespace, as Istio reads {@code credentialName}.
     */
    private static List<GatewayContribution> ingresses(ConfigSnapshot config, GatewayContext context) {
        TreeSet<String> namespaces = new TreeSet<>();
        for (Pod pod : config.list(Kind.POD, Pod.class)) {
            Map<String, String> labels = pod.getMetadata().getLabels();
            if (labels != null && Ingresses.selects(labels)) {
                namespaces.add(pod.getMetadata().getNamespace());
            }
        }
        List<GatewayContribution> out = new ArrayList<>();
        for (String ns : namespaces) {
            Ingresses.Contribution c = Ingresses.contribute(config, context.mesh(), context.catalog(), ns);
            if (ns.equals(namespaces.first())) {
                c.problems().forEach(context::note); // the same Ingresses in every namespace: reported once
            }
            if (!c.isEmpty()) {
                out.add(new GatewayContribution(Ingresses.SELECTOR, c.servers(), c.hosts(), List.of(), c.clusters(), ns));
            }
        }
        return out;
    }
}
