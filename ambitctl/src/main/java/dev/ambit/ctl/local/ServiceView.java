package dev.ambit.ctl.local;

import java.util.List;
import java.util.Map;

/**
 * A Service with its VIP and endpoints, as one tick sees it ({@link ServiceRegistry}).
 *
 * @param vip its ClusterIP, or {@code "None"} for a headless Service
 * @param endpoints every ready pod's {@code ip:targetPort}, sorted and distinct
 * @param backends for each TCP {@code vip:port}, its pods' {@code ip:targetPort}, sorted: what
 *     the eBPF Service load balancer gets
 * @param loadBalancerIp a LoadBalancer Service's external address (from
 *     {@link IpPool#loadBalancerAddresses()}), or null (another type, or none free)
 * @param nodePorts by {@code port/protocol} of each Service port, its node port (NodePort and
 *     LoadBalancer Services); empty for other types
 */
record ServiceView(KubeObject object, String vip, List<Services.ServicePort> ports, List<String> endpoints,
                   Map<String, List<String>> backends, String loadBalancerIp, Map<String, Integer> nodePorts) {

    ServiceView {
        nodePorts = nodePorts == null ? Map.of() : Map.copyOf(nodePorts);
    }

    /** A Service with no external address and no node ports. */
    ServiceView(KubeObject object, String vip, List<Services.ServicePort> ports, List<String> endpoints,
                Map<String, List<String>> backends) {
        this(object, vip, ports, endpoints, backends, null, Map.of());
    }

    /** Node port of Service port {@code sp}, or 0 when it has none. */
    int nodePort(Services.ServicePort sp) {
        return nodePorts.getOrDefault(sp.port() + "/" + sp.protocol(), 0);
    }
}
