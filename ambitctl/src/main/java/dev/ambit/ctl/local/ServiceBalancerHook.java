package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the controller hands every Service's VIP and endpoints to the eBPF Service load
 * balancer ({@link ServiceBalancer}), attached to the parent cgroup of all local pods
 * ({@code <cgroup root>/ambit-local/pods}): local mode has no kube-proxy, and pods outside
 * the mesh must reach Service VIPs too. Enrolled pods are captured first (their own
 * cgroup's program runs before the parent's), so their agent still sees the VIP.
 */
@FunctionalInterface
public interface ServiceBalancerHook {

    /**
     * Replaces the balancer's whole table. Called by the controller's single thread when
     * the table changed (not on every reconcile).
     *
     * @param backends {@code "<vip>:<port>"} of each TCP Service port to the
     *     {@code "<pod ip>:<target port>"} of its ready endpoints, sorted; a Service without
     *     endpoints maps to an empty list (connects to it are refused)
     */
    void update(Map<String, List<String>> backends);

    /** Feeds {@code balancer}. */
    static ServiceBalancerHook of(ServiceBalancer balancer) {
        requireNonNull(balancer, "balancer");
        return backends -> {
            Map<InetSocketAddress, List<InetSocketAddress>> table = new LinkedHashMap<>();
            backends.forEach((vip, endpoints) -> {
                List<InetSocketAddress> list = new ArrayList<>(endpoints.size());
                endpoints.forEach(e -> list.add(address(e)));
                table.put(address(vip), list);
            });
            balancer.update(table);
        };
    }

    private static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
    }
}
