package dev.ambit.istiod.telemetry;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * Who a Telemetry must be resolved for: one HTTP connection manager of a waypoint or gateway.
 *
 * @param namespace the proxy's namespace
 * @param labels the proxy pods' labels ({@code selector} matches against them)
 * @param gatewayName the Gateway the proxy implements ({@code targetRefs} of kind Gateway), or null
 * @param serviceNamespace namespace of the Service the HCM serves (a waypoint chain), or null
 * @param serviceName name of that Service ({@code targetRefs} of kind Service), or null
 * @param client whether the proxy reports as a client (a gateway: Istio's {@code reporter=source});
 *        a waypoint reports as the server side ({@code mode: SERVER} applies to it)
 * @param tracingServiceName the service name of the proxy's spans ({@code <name>.<namespace>})
 */
public record ProxyScope(String namespace, Map<String, String> labels, String gatewayName, String serviceNamespace,
                         String serviceName, boolean client, String tracingServiceName) {

    /** The label Istio puts on a Gateway's (and a waypoint's) pods. */
    public static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

    public ProxyScope {
        requireNonNull(namespace, "namespace");
        labels = Map.copyOf(labels);
        requireNonNull(tracingServiceName, "tracingServiceName");
    }

    /** One HTTP chain of waypoint {@code namespace/name}, serving Service {@code serviceNs/service} (or none). */
    public static ProxyScope waypoint(String namespace, String name, String serviceNs, String service) {
        return new ProxyScope(namespace, Map.of(GATEWAY_NAME_LABEL, name), name, serviceNs, service, false,
                name + "." + namespace);
    }

    /**
     * The node agents (issue 19): Istio's ztunnel pods, {@code app=ztunnel} in the root namespace,
     * so the mesh-wide Telemetry applies (and a root-namespace one selecting {@code app: ztunnel});
     * the server side of the tunnels they terminate; spans {@code ztunnel.<root namespace>}.
     */
    public static ProxyScope nodeAgent(String rootNamespace) {
        return new ProxyScope(rootNamespace, Map.of("app", "ztunnel"), null, null, null, false,
                "ztunnel." + rootNamespace);
    }

    /**
     * A gateway proxy whose pods carry {@code labels}; the Gateway API gateway it implements is
     * read from {@link #GATEWAY_NAME_LABEL}. Its spans are {@code <deployment>.<namespace>}, the
     * deployment named by the {@code app} label as Istio's gateway charts set it (else the
     * Gateway's {@code <name>-istio}, else {@code istio-ingressgateway}).
     */
    public static ProxyScope gateway(String namespace, Map<String, String> labels) {
        String gateway = labels.get(GATEWAY_NAME_LABEL);
        String deployment = labels.getOrDefault("app", gateway != null ? gateway + "-istio" : "istio-ingressgateway");
        return new ProxyScope(namespace, labels, gateway, null, null, true, deployment + "." + namespace);
    }
}
