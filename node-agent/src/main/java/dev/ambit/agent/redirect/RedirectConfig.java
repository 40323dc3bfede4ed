package dev.ambit.agent.redirect;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.config.IstioPorts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** How the node agent captures pod traffic. Immutable; build with {@link #builder()}. */
public final class RedirectConfig {

    /** Istio's ports, so tooling and NetworkPolicies carry over. */
    public static final int OUTBOUND_PORT = IstioPorts.OUTBOUND;
    public static final int INBOUND_PORT = IstioPorts.INBOUND_PLAINTEXT;
    public static final int HBONE_PORT = IstioPorts.HBONE;
    /** The mark ztunnel puts on its own sockets; capture skips sockets carrying it. */
    public static final int DEFAULT_AGENT_MARK = 0x539;

    private final Path bpffsRoot;
    private final int agentMark;
    private final int outboundPort;
    private final int inboundPort;
    private final Set<Integer> inboundBypassPorts;
    private final List<Exclusion> outboundExclusions;
    private final KernelFeatures kernelFeatures;

    private RedirectConfig(Builder b) {
        bpffsRoot = b.bpffsRoot;
        agentMark = b.agentMark;
        outboundPort = b.outboundPort;
        inboundPort = b.inboundPort;
        Set<Integer> bypass = new LinkedHashSet<>(List.of(outboundPort, inboundPort, HBONE_PORT));
        bypass.addAll(b.extraBypassPorts);
        inboundBypassPorts = Set.copyOf(bypass);
        outboundExclusions = List.copyOf(b.exclusions);
        kernelFeatures = b.kernelFeatures;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The default configuration: pins under {@code /sys/fs/bpf/ambit}, Istio's ports. */
    public static RedirectConfig of() {
        return builder().build();
    }

    /** Folder on bpffs that holds every pin of this agent: programs, maps, per-pod links. */
    public Path bpffsRoot() {
        return bpffsRoot;
    }

    public int agentMark() {
        return agentMark;
    }

    public int outboundPort() {
        return outboundPort;
    }

    public int inboundPort() {
        return inboundPort;
    }

    /** Destination ports that inbound steering leaves alone: HBONE and the agent's own. */
    public Set<Integer> inboundBypassPorts() {
        return inboundBypassPorts;
    }

    public List<Exclusion> outboundExclusions() {
        return outboundExclusions;
    }

    KernelFeatures kernelFeatures() {
        return kernelFeatures;
    }

    @Override
    public String toString() {
        return "RedirectConfig{bpffsRoot=" + bpffsRoot + ", agentMark=0x" + Integer.toHexString(agentMark)
                + ", outboundPort=" + outboundPort + ", inboundPort=" + inboundPort
                + ", inboundBypassPorts=" + inboundBypassPorts + ", outboundExclusions=" + outboundExclusions + '}';
    }

    public static final class Builder {
        private Path bpffsRoot = Path.of("/sys/fs/bpf/ambit");
        private int agentMark = DEFAULT_AGENT_MARK;
        private int outboundPort = OUTBOUND_PORT;
        private int inboundPort = INBOUND_PORT;
        private final Set<Integer> extraBypassPorts = new LinkedHashSet<>();
        private final List<Exclusion> exclusions = new ArrayList<>();
        private KernelFeatures kernelFeatures = KernelFeatures.running();

        private Builder() {
        }

        /** A folder on a mounted bpffs; created if missing. */
        public Builder bpffsRoot(Path bpffsRoot) {
            this.bpffsRoot = requireNonNull(bpffsRoot, "bpffsRoot").toAbsolutePath().normalize();
            return this;
        }

        /** Non-zero {@code SO_MARK} the agent puts on its sockets. */
        public Builder agentMark(int agentMark) {
            if (agentMark == 0) {
                throw new IllegalArgumentException("agentMark: 0 (expected: non-zero)");
            }
            this.agentMark = agentMark;
            return this;
        }

        public Builder outboundPort(int port) {
            outboundPort = checkPort(port, "outboundPort");
            return this;
        }

        public Builder inboundPort(int port) {
            inboundPort = checkPort(port, "inboundPort");
            return this;
        }

        /** Another destination port inbound steering must not touch (e.g. a health port). */
        public Builder addInboundBypassPort(int port) {
            extraBypassPorts.add(checkPort(port, "port"));
            return this;
        }

        public Builder addOutboundExclusion(Exclusion exclusion) {
            exclusions.add(requireNonNull(exclusion, "exclusion"));
            return this;
        }

        Builder kernelFeatures(KernelFeatures kernelFeatures) {
            this.kernelFeatures = requireNonNull(kernelFeatures, "kernelFeatures");
            return this;
        }

        public RedirectConfig build() {
            if (outboundPort == inboundPort) {
                throw new IllegalArgumentException("outboundPort and inboundPort: both " + outboundPort
                        + " (expected: different ports)");
            }
            return new RedirectConfig(this);
        }

        private static int checkPort(int port, String name) {
            Checks.port(port, name);
            return port;
        }
    }
}
