package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * What answers from outside the pods, derived from the Services each tick: the listeners of
 * {@link LoadBalancerProxy}. Every TCP port of a LoadBalancer Service with an external address
 * listens on that address in {@value Topology#NET_NS} (the node network, which the machine
 * reaches over {@value Topology#HOST_LINK}), and every node port listens on {@code 0.0.0.0} in
 * each node's namespace, so that each node address {@code 10.250.0.(10+i):nodePort} answers, as
 * kube-proxy makes every node answer. Both forward to the Service's ready endpoints, as
 * {@code externalTrafficPolicy: Cluster} does. Pure.
 */
final class ExternalForwards {

    /**
     * One listener and where its connections go.
     *
     * @param netns the network namespace the listening socket (and its connections to backends) live in
     * @param address the address it binds: a Service's external address, or {@code 0.0.0.0} for a node port
     * @param port the Service port (external address) or node port
     * @param service {@code namespace/name port/TCP}, for logs
     * @param backends the ready endpoints, {@code ip:port}, sorted; empty: connections are reset
     */
    record Forward(String netns, String address, int port, String service, List<String> backends) {

        Forward {
            requireNonNull(netns, "netns");
            requireNonNull(address, "address");
            requireNonNull(service, "service");
            backends = List.copyOf(backends);
        }

        /** What identifies the listener: namespace, address and port. */
        String listener() {
            return netns + " " + address + ":" + port;
        }
    }

    private ExternalForwards() {
    }

    /** The forwards of {@code services} on a cluster of {@code nodes}, sorted by listener. */
    static List<Forward> plan(Map<String, ServiceView> services, Collection<ClusterInfo.Node> nodes) {
        List<Forward> out = new ArrayList<>();
        for (ServiceView v : services.values()) {
            String key = v.object().namespace() + "/" + v.object().name();
            for (Services.ServicePort sp : v.ports()) {
                if (!sp.protocol().equals("TCP") || v.vip().equals("None")) {
                    continue; // TCP only, as the eBPF balancer
                }
                List<String> backends = v.backends().getOrDefault(v.vip() + ":" + sp.port(), List.of());
                String what = key + " " + sp.port() + "/TCP";
                if (v.loadBalancerIp() != null) {
                    out.add(new Forward(Topology.NET_NS, v.loadBalancerIp(), sp.port(), what, backends));
                }
                int nodePort = v.nodePort(sp);
                if (nodePort > 0) {
                    for (ClusterInfo.Node n : nodes) {
                        out.add(new Forward(n.netns(), "0.0.0.0", nodePort, what + " (node port " + nodePort + ")",
                                backends));
                    }
                }
            }
        }
        out.sort(Comparator.comparing(Forward::listener));
        return List.copyOf(out);
    }

    /** The external addresses {@code forwards} listen on (each must be on br0 first). */
    static List<String> externalAddresses(List<Forward> forwards) {
        return forwards.stream().filter(f -> f.netns().equals(Topology.NET_NS)).map(Forward::address).distinct()
                .sorted().toList();
    }
}
