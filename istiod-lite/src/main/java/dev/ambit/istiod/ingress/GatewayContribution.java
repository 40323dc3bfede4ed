package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;

/**
 * Servers and routes another source adds to the proxies of pods an Istio {@code Gateway}
 * selector would pick (Kubernetes {@code Ingress}: pods labelled {@code istio=ingressgateway}).
 * {@link IstioGateways} merges them into the {@code NS/~labels} proxy of every pod whose labels
 * {@code selector} matches, after the Istio Gateways' own servers (conflicts: the older object wins).
 *
 * @param selector the pod labels a proxy must carry to receive these (all namespaces)
 * @param servers servers to add; names must not collide with Istio Gateways' ({@code <port name>.<gw>.<ns>})
 * @param hosts HTTP routes per server and host ({@link GatewayModel.HttpHost#server()} names one of {@code servers})
 * @param streams TLS passthrough and TCP routes
 * @param clusters every cluster the routes use ({@code outbound|PORT|SUBSET|HOST})
 * @param namespace only pods of this namespace receive these (their Secrets are read there); empty: any
 */
public record GatewayContribution(Map<String, String> selector, List<GatewayModel.Server> servers,
                                  List<GatewayModel.HttpHost> hosts, List<GatewayModel.StreamRoute> streams,
                                  List<String> clusters, String namespace) {

    /** For the pods {@code selector} matches in any namespace. */
    public GatewayContribution(Map<String, String> selector, List<GatewayModel.Server> servers,
                               List<GatewayModel.HttpHost> hosts, List<GatewayModel.StreamRoute> streams,
                               List<String> clusters) {
        this(selector, servers, hosts, streams, clusters, "");
    }

    public GatewayContribution {
        selector = Map.copyOf(requireNonNull(selector, "selector"));
        servers = List.copyOf(servers);
        hosts = List.copyOf(hosts);
        streams = List.copyOf(streams);
        clusters = List.copyOf(clusters);
        requireNonNull(namespace, "namespace");
    }

    /** Whether a pod of {@code podNamespace} with {@code labels} receives this. */
    public boolean reaches(String podNamespace, Map<String, String> labels) {
        return !selector.isEmpty() && (namespace.isEmpty() || namespace.equals(podNamespace))
                && dev.ambit.istiod.model.Selectors.matches(selector, labels);
    }

    /** What a source such as {@code Ingresses} contributes for one translation. */
    @FunctionalInterface
    public interface Source {
        List<GatewayContribution> contribute(dev.ambit.istiod.config.ConfigSnapshot config,
                                             dev.ambit.istiod.l7.GatewayContext context);
    }
}
