package dev.ambit.agent.inpod;

import dev.ambit.api.workload.NetworkMode;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.identity.WorkloadIdentity;
import dev.ambit.proxy.state.ProxyState;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link InPodManager} should have enrolled on this node: the ambient pods xDS sends for
 * it, each with the sandbox CNI reported (else the {@link SandboxSource} finds), and the pods xDS
 * says are not ambient. Reads the state on each call; used from the enrollment thread only.
 */
final class DesiredPods {

    private static final Logger log = LoggerFactory.getLogger(InPodManager.class);

    /**
     * What a wanted pod needs; compared to decide whether an enrolled pod must be redone.
     * {@code workload} and {@code identity} are null for a pod reported over CNI whose
     * workload xDS has not sent yet: its listeners are bound to it later, in place.
     */
    record Want(Workload workload, PodSandbox sandbox, SpiffeId identity, List<InetAddress> addresses) {
        boolean sameAs(PodProxy p) {
            return p.sandbox().equals(sandbox) && p.addresses().equals(addresses);
        }
    }

    private final String node;
    private final ProxyState state;
    private final SandboxSource sandboxes;
    private final AnnouncedPods announced;
    // Pods already logged as waiting (for an address or a sandbox): one line each, not one per pass.
    private final Set<String> reportedPending = new HashSet<>();

    DesiredPods(String node, ProxyState state, SandboxSource sandboxes, AnnouncedPods announced) {
        this.node = node;
        this.state = state;
        this.sandboxes = sandboxes;
        this.announced = announced;
    }

    /** {@code namespace/name} of this node's workloads that xDS says are not ambient. */
    Set<String> notAmbient() {
        Set<String> out = new HashSet<>();
        for (Workload w : state.workloads()) {
            if (node.equals(w.getNode()) && (w.getTunnelProtocol() != TunnelProtocol.HBONE
                    || w.getNetworkMode() == NetworkMode.HOST_NETWORK)) {
                out.add(w.getNamespace() + "/" + w.getName());
            }
        }
        return out;
    }

    /** This node's ambient pods in xDS with an IPv4 address and a sandbox found, by pod UID. */
    Map<String, Want> wanted() {
        Map<String, Want> out = new LinkedHashMap<>();
        Set<String> pending = new HashSet<>();
        for (Workload w : state.workloads()) {
            if (!node.equals(w.getNode()) || w.getTunnelProtocol() != TunnelProtocol.HBONE
                    || w.getNetworkMode() == NetworkMode.HOST_NETWORK) {
                continue;
            }
            List<InetAddress> addresses = ipv4(w);
            String key = w.getNamespace() + "/" + w.getName();
            var sandbox = findSandbox(w.getNamespace(), w.getName());
            if (addresses.isEmpty() || sandbox.isEmpty()) {
                pending.add(key);
                if (reportedPending.add(key)) {
                    log.info("pod {}: in the mesh but not enrolled yet ({})", key,
                            addresses.isEmpty() ? "no IPv4 address yet" : "its sandbox is not found on this node");
                }
                continue;
            }
            out.put(sandbox.get().uid(), new Want(w, sandbox.get(), WorkloadIdentity.of(w), addresses));
        }
        reportedPending.retainAll(pending);
        return out;
    }

    /** The sandbox of pod {@code namespace/name}: as CNI reported it, else from the sandbox source. */
    private java.util.Optional<PodSandbox> findSandbox(String namespace, String name) {
        var reported = announced.find(namespace + "/" + name);
        return reported.isPresent() ? reported : sandboxes.find(namespace, name);
    }

    boolean knownSandbox(String uid) {
        return announced.contains(uid) || sandboxes.all().stream().anyMatch(s -> s.uid().equals(uid));
    }

    private static List<InetAddress> ipv4(Workload w) {
        List<InetAddress> out = new ArrayList<>();
        for (var bytes : w.getAddressesList()) {
            if (bytes.size() == 4) {
                try {
                    out.add(InetAddress.getByAddress(bytes.toByteArray()));
                } catch (UnknownHostException e) {
                    throw new AssertionError(e); // four bytes always make an address
                }
            }
        }
        return out;
    }
}
