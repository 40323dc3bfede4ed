package dev.ambit.ctl.local;

import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Where the controller hands every Service's VIP and endpoints to the eBPF Service load
 * balancer ({@code dev.ambit.agent.redirect.ServiceBalancer}, being written), attached to
 * the parent cgroup of all local pods ({@code <cgroup root>/ambit-local/pods}) so that
 * pods outside the mesh reach Service VIPs too (enrolled pods do already: their node
 * agent resolves VIPs from xDS).
 *
 * <p>Until it is wired, {@link #notWired} says so once in the controller's log and does
 * nothing: unmeshed pods connecting to a VIP get "network unreachable".
 */
@FunctionalInterface
public interface ServiceBalancerHook {

    /**
     * Replaces the balancer's whole table. Called by the controller's single thread when
     * the table changed (not on every reconcile).
     *
     * @param backends {@code "<vip>:<port>"} of each TCP Service port to the
     *     {@code "<pod ip>:<target port>"} of its ready endpoints, sorted; a Service without
     *     endpoints maps to an empty list
     */
    void update(Map<String, List<String>> backends);

    /** The placeholder: logs once that unmeshed pods cannot reach VIPs yet. */
    static ServiceBalancerHook notWired(Consumer<String> log) {
        boolean[] said = {false};
        return backends -> {
            if (!said[0] && !backends.isEmpty()) {
                said[0] = true;
                log.accept("service VIPs: " + backends.size() + " service ports known; the eBPF Service load balancer"
                        + " (dev.ambit.agent.redirect.ServiceBalancer) is not wired yet, so only meshed pods reach VIPs");
            }
        };
    }
}
