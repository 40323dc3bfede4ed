package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code cluster.json}: what {@code local up} built, so that every other command (and
 * {@code local down} after a crash) finds the nodes, addresses and daemons. Written after
 * each step of {@code up}, so a partial cluster is described too.
 *
 * @param cgroupRoot the cgroup v2 mount used
 * @param istiod the control plane process, or null before it started
 * @param controller the controller process, or null before it started
 * @param certTtl istiod-lite's {@code --cert-ttl} (e.g. {@code 60s}), or null for its default;
 *     kept so that {@code local start istiod} restarts it with the same lifetime
 * @param ingress whether the controller keeps Istio's demo ingress gateway in place
 *     ({@link IstioIngress}); false after {@code local up --no-ingress}, null (none) when absent
 */
public record ClusterInfo(int version, String stateDir, String home, String cgroupRoot, String createdAt,
                          Daemon istiod, Daemon controller, List<Node> nodes, String certTtl, Boolean ingress) {

    static final ObjectMapper MAPPER = Manifests.JSON.copy()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    @com.fasterxml.jackson.annotation.JsonCreator
    public ClusterInfo {
        nodes = nodes == null ? List.of() : List.copyOf(nodes);
    }

    /** A cluster without the ingress gateway. */
    public ClusterInfo(int version, String stateDir, String home, String cgroupRoot, String createdAt,
                       Daemon istiod, Daemon controller, List<Node> nodes, String certTtl) {
        this(version, stateDir, home, cgroupRoot, createdAt, istiod, controller, nodes, certTtl, null);
    }

    /**
     * A detached process: its pid and start time (so a pid reused by another process is
     * not mistaken for it), and its log.
     */
    public record Daemon(long pid, String startedAt, String log) {

        /** The process, if it still runs (same pid, same start time). */
        public Optional<ProcessHandle> handle() {
            return ProcessHandle.of(pid).filter(h -> h.isAlive()
                    && h.info().startInstant().map(Object::toString).orElse("").equals(startedAt));
        }

        public boolean alive() {
            return handle().isPresent();
        }

        static Daemon of(Process p, Path log) {
            return new Daemon(p.pid(), p.info().startInstant().map(Object::toString).orElse(""), log.toString());
        }
    }

    /** A node: its namespace, address on the node network, pod range and agent. */
    public record Node(String name, int index, String netns, String address, String podCidr, String gateway,
                       String bpffsRoot, Daemon agent) {

        Node withAgent(Daemon agent) {
            return new Node(name, index, netns, address, podCidr, gateway, bpffsRoot, agent);
        }
    }

    ClusterInfo withIstiod(Daemon d) {
        return new ClusterInfo(version, stateDir, home, cgroupRoot, createdAt, d, controller, nodes, certTtl, ingress);
    }

    ClusterInfo withController(Daemon d) {
        return new ClusterInfo(version, stateDir, home, cgroupRoot, createdAt, istiod, d, nodes, certTtl, ingress);
    }

    ClusterInfo withNode(Node n) {
        List<Node> next = new ArrayList<>(nodes);
        next.removeIf(x -> x.name().equals(n.name()));
        next.add(n);
        next.sort(java.util.Comparator.comparingInt(Node::index));
        return new ClusterInfo(version, stateDir, home, cgroupRoot, createdAt, istiod, controller, next, certTtl, ingress);
    }

    public Optional<Node> node(String name) {
        return nodes.stream().filter(n -> n.name().equals(name)).findFirst();
    }

    public List<String> nodeNames() {
        return nodes.stream().map(Node::name).toList();
    }

    /** Writes {@code cluster.json} atomically. */
    void write(StateDir state) {
        try {
            Manifests.writeAtomically(state.clusterJson(), MAPPER.writeValueAsString(this) + "\n");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads {@code cluster.json}; empty when there is none (no cluster). */
    public static Optional<ClusterInfo> read(StateDir state) {
        requireNonNull(state, "state");
        try {
            return Optional.of(MAPPER.readValue(Files.readString(state.clusterJson()), ClusterInfo.class));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new LocalException(state.clusterJson() + ": cannot read: " + e.getMessage()
                    + " (ambitctl local down removes a broken cluster)");
        }
    }

    /** Reads {@code cluster.json}, or fails telling the user to run {@code local up}. */
    public static ClusterInfo require(StateDir state) {
        return read(state).orElseThrow(() -> new LocalException("no local cluster in " + state.root()
                + ": start one with `ambitctl local up` (or pass the --state-dir it was started with)"));
    }
}
