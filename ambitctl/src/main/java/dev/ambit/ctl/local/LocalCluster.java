package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.AgentJvm;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.ca.NodeCredentials;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * {@code local up}, {@code kill}, {@code start} and {@code status}: building, running and describing a
 * local cluster ({@link LocalTeardown} removes it).
 */
public final class LocalCluster {

    /** What {@code local up} needs besides the state folder. */
    /**
     * @param certTtl workload certificate lifetime for istiod-lite's {@code --cert-ttl}, or
     *     null for its default (24 h); short ones (a minute) let tests watch renewals
     * @param meshConfig Istio's mesh config for istiod-lite's {@code --mesh-config}
     *     (pathNormalization, extensionProviders), or null for Istio's defaults
     * @param ingress whether to install Istio's demo ingress gateway ({@link IstioIngress};
     *     {@code --no-ingress} leaves it out)
     */
    public record UpOptions(int nodes, Home home, Path cgroupRoot, Duration timeout, Duration certTtl,
                            Path meshConfig, boolean ingress) {

        public UpOptions(int nodes, Home home, Path cgroupRoot, Duration timeout, Duration certTtl, Path meshConfig) {
            this(nodes, home, cgroupRoot, timeout, certTtl, meshConfig, true);
        }

        public UpOptions(int nodes, Home home, Path cgroupRoot, Duration timeout) {
            this(nodes, home, cgroupRoot, timeout, null);
        }

        public UpOptions(int nodes, Home home, Path cgroupRoot, Duration timeout, Duration certTtl) {
            this(nodes, home, cgroupRoot, timeout, certTtl, null);
        }

        public UpOptions {
            if (certTtl != null && certTtl.compareTo(Duration.ofSeconds(10)) < 0) {
                throw new LocalException("--cert-ttl: " + certTtl.toMillis() + "ms (expected: at least 10s; the agent"
                        + " renews at half life and needs a few seconds for each renewal)");
            }
            if (nodes < 1 || nodes > Topology.MAX_NODES) {
                throw new LocalException("--nodes: " + nodes + " (expected: 1-" + Topology.MAX_NODES + ")");
            }
            requireNonNull(home, "home");
            requireNonNull(cgroupRoot, "cgroupRoot");
            requireNonNull(timeout, "timeout");
        }
    }

    private LocalCluster() {
    }

    static void requireRoot() {
        if (!"root".equals(System.getProperty("user.name"))) {
            throw new LocalException("ambitctl local needs root (network namespaces, cgroups, eBPF): run it with sudo");
        }
    }

    // ------------------------------------------------------------------ up

    /**
     * Builds the cluster: network, istiod-lite, one agent per node, the controller; returns
     * when istiod listens, every agent is ready and the controller has reported. On failure
     * everything built stays (for its logs); the message names the component, its log, and
     * {@code local down}.
     */
    public static ClusterInfo up(StateDir state, UpOptions o, PrintWriter out) {
        requireRoot();
        checkNothingThere(state);
        Path istiodJar = o.home().istiodJar();
        Path agentJar = o.home().agentJar();
        Cgroups.checkRoot(o.cgroupRoot());
        if (!Files.isDirectory(Path.of("/sys/fs/bpf"))) {
            throw new LocalException("bpffs is not mounted on /sys/fs/bpf: mount -t bpf bpf /sys/fs/bpf (make deps does it)");
        }
        try {
            Files.createDirectories(state.manifests());
            Files.createDirectories(state.istiodConfig());
            Files.createDirectories(state.istiodCa());
            Files.createDirectories(state.logs());
            if (o.meshConfig() != null) {
                Files.copy(o.meshConfig(), state.meshConfig(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } else {
                // telemetry (issue 19): as Istio's demo profile, proxies log every request to stdout
                // unless a Telemetry says otherwise.
                Files.writeString(state.meshConfig(), "accessLogFile: /dev/stdout\n");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create state folder " + state.root() + ": " + e.getMessage(), e);
        }
        ClusterInfo info = new ClusterInfo(1, state.root().toString(), o.home().root().toString(),
                o.cgroupRoot().toString(), Instant.now().toString(), null, null, List.of(),
                o.certTtl() == null ? null : Durations.format(o.certTtl()), o.ingress());
        for (int i = 1; i <= o.nodes(); i++) {
            String name = Topology.nodeName(i);
            info = info.withNode(new ClusterInfo.Node(name, i, Topology.nodeNs(i), Topology.nodeAddress(i),
                    Topology.podCidr(i), Topology.gateway(i), Topology.BPFFS_ROOT.resolve(name).toString(), null));
        }
        info.write(state); // from here on, `local down` knows what to remove

        out.println("network: node network " + Topology.NODE_CIDR + " in " + Topology.NET_NS + ", control plane "
                + Topology.CP_ADDRESS + " in " + Topology.CP_NS);
        out.flush();
        Topology.createNodeNetwork();
        Topology.createControlPlane(o.nodes());
        for (ClusterInfo.Node n : info.nodes()) {
            Topology.createNode(n.index(), o.nodes());
        }
        out.println("host link: " + Topology.HOST_LINK + " at " + Topology.HOST_ADDRESS + " into the node network;"
                + " LoadBalancer addresses " + Topology.LB_FIRST + "-" + Topology.LB_LAST + ", node ports "
                + PortPool.NODE_PORT_FIRST + "-" + PortPool.NODE_PORT_LAST + " on every node address");
        out.flush();
        Topology.createHostLink(o.nodes());
        for (ClusterInfo.Node n : info.nodes()) {
            NodeCredentials.issue(state.credentials(), n.name(), state.nodeToken(n.name()));
            try {
                Files.createDirectories(state.nodePods(n.name()));
                Files.createDirectories(Topology.etcNetns(n.netns()));
                Files.writeString(Topology.etcNetns(n.netns()).resolve("resolv.conf"), HostsFile.resolvConf(null));
                Files.writeString(Topology.etcNetns(n.netns()).resolve("hosts"),
                        HostsFile.hosts(null, n.name(), n.address(), List.of()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        Cgroups.create(o.cgroupRoot().resolve(Topology.CGROUP_DIR).resolve("pods"));
        try {
            Files.createDirectories(Topology.BPFFS_ROOT);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + Topology.BPFFS_ROOT + ": " + e.getMessage(), e);
        }

        out.println("istiod-lite: starting in " + Topology.CP_NS + " (log " + state.istiodLog() + ")");
        out.flush();
        ClusterInfo.Daemon istiod = Daemons.start("istiod-lite", Topology.CP_NS,
                istiodCommand(state, istiodJar, info.certTtl()), state.istiodLog());
        info = info.withIstiod(istiod);
        info.write(state);
        ClusterInfo.Daemon istiodFinal = istiod;
        awaitIstiod(state, istiod, o.timeout());

        for (ClusterInfo.Node n : info.nodes()) {
            out.println("node agent " + n.name() + ": starting in " + n.netns() + " at " + n.address() + " (log "
                    + state.agentLog(n.name()) + ")");
            out.flush();
            ClusterInfo.Daemon agent = Daemons.start("node agent " + n.name(), n.netns(),
                    agentCommand(state, agentJar, n, o.cgroupRoot().toString()), state.agentLog(n.name()));
            info = info.withNode(n.withAgent(agent));
            info.write(state);
        }
        for (ClusterInfo.Node n : info.nodes()) {
            awaitAgent(state, n, o.timeout());
        }

        out.println("controller: starting (log " + state.controllerLog() + ")");
        out.flush();
        ClusterInfo.Daemon controller = Daemons.start("controller", null, controllerCommand(state),
                state.controllerLog());
        info = info.withController(controller);
        info.write(state);
        await("controller", controller, state.controllerLog(), o.timeout(), "reporting in " + state.statusJson(),
                () -> Files.isRegularFile(state.statusJson()));
        out.println("local cluster up: " + o.nodes() + " node" + (o.nodes() == 1 ? "" : "s") + ", istiod-lite pid "
                + istiodFinal.pid() + ", state in " + state.root());
        out.println("next: ambitctl local apply -f FILE|DIR, ambitctl local get pods -A, ambitctl local down");
        out.flush();
        return info;
    }

    /** istiod-lite's command line; {@code certTtl} (istiod's duration form) may be null. */
    static List<String> istiodCommand(StateDir state, Path istiodJar, String certTtl) {
        List<String> cmd = new ArrayList<>(List.of(Daemons.java(),
                "-Xmx512m", "-XX:+UseSerialGC", "-jar", istiodJar.toString(),
                "--config-dir", state.istiodConfig().toString(),
                "--ca-dir", state.istiodCa().toString(),
                "--node-credentials", state.credentials().toString(),
                "--listen-address", "0.0.0.0"));
        if (certTtl != null) {
            cmd.addAll(List.of("--cert-ttl", certTtl));
        }
        if (Files.isRegularFile(state.meshConfig())) {
            cmd.addAll(List.of("--mesh-config", state.meshConfig().toString()));
        }
        return cmd;
    }

    /** Node {@code n}'s agent's command line. */
    static List<String> agentCommand(StateDir state, Path agentJar, ClusterInfo.Node n, String cgroupRoot) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Daemons.java());
        cmd.addAll(AgentJvm.OPTIONS); // the flags a DaemonSet runs the agent with
        cmd.addAll(List.of("-jar", agentJar.toString(),
                "--node", n.name(),
                "--pods-dir", state.nodePods(n.name()).toString(),
                "--cni-socket", state.nodeCniSocket(n.name()).toString(),
                "--istiod", Topology.CP_ADDRESS + ":" + IstioPorts.ISTIOD_SECURE,
                "--root-cert", state.rootCert().toString(),
                "--token", state.nodeToken(n.name()).toString(),
                "--bpffs-root", n.bpffsRoot(),
                "--cgroup-root", cgroupRoot));
        return List.copyOf(cmd);
    }

    /** The controller's command line: this very ambitctl, hidden subcommand {@code local controller}. */
    static List<String> controllerCommand(StateDir state) {
        return List.of(Daemons.java(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-XX:+UseSerialGC",
                "-cp", Home.ownClassPath(), "dev.ambit.ctl.Ambitctl", "local", "controller",
                "--state-dir=" + state.root());
    }

    private static void awaitIstiod(StateDir state, ClusterInfo.Daemon istiod, Duration timeout) {
        await("istiod-lite", istiod, state.istiodLog(), timeout, "listening on " + Topology.CP_ADDRESS + ":" + IstioPorts.ISTIOD_SECURE,
                () -> NetnsHttp.listening(Topology.CP_NS, "127.0.0.1", IstioPorts.ISTIOD_SECURE) && Files.isRegularFile(state.rootCert()));
    }

    private static void awaitAgent(StateDir state, ClusterInfo.Node n, Duration timeout) {
        await("node agent " + n.name(), n.agent(), state.agentLog(n.name()), timeout,
                "ready (GET 127.0.0.1:" + IstioPorts.HEALTH + "/healthz/ready in " + n.netns() + ")", () -> agentReady(n));
    }

    // ------------------------------------------------------------------ kill / start

    /** The daemons {@code local kill} and {@code local start} know, in start order. */
    enum Component {
        ISTIOD, AGENT, CONTROLLER
    }

    /** A daemon named by the user: {@code istiod} (or {@code istiod-lite}), {@code controller}, {@code NODE} or {@code agent-NODE}. */
    record Target(Component component, String node) {

        static Target parse(String name, List<String> nodes) {
            switch (name) {
                case "istiod", "istiod-lite" -> {
                    return new Target(Component.ISTIOD, null);
                }
                case "controller" -> {
                    return new Target(Component.CONTROLLER, null);
                }
                default -> {
                    String node = name.startsWith("agent-") ? name.substring("agent-".length()) : name;
                    if (nodes.contains(node)) {
                        return new Target(Component.AGENT, node);
                    }
                    throw new LocalException(name + ": no such component (expected: istiod, controller, or a node: "
                            + String.join(", ", nodes) + ")");
                }
            }
        }

        /** Every daemon of a cluster with {@code nodes}, in start order: istiod, agents, controller. */
        static List<Target> all(List<String> nodes) {
            List<Target> out = new ArrayList<>();
            out.add(new Target(Component.ISTIOD, null));
            nodes.forEach(n -> out.add(new Target(Component.AGENT, n)));
            out.add(new Target(Component.CONTROLLER, null));
            return out;
        }

        String display() {
            return switch (component) {
                case ISTIOD -> "istiod-lite";
                case CONTROLLER -> "controller";
                case AGENT -> "node agent " + node;
            };
        }

        ClusterInfo.Daemon daemon(ClusterInfo info) {
            return switch (component) {
                case ISTIOD -> info.istiod();
                case CONTROLLER -> info.controller();
                case AGENT -> info.node(node).map(ClusterInfo.Node::agent).orElse(null);
            };
        }

        /** {@code names} parsed, duplicates dropped, sorted in start order; empty means all. */
        static List<Target> parseAll(List<String> names, List<String> nodes) {
            if (names == null || names.isEmpty()) {
                return all(nodes);
            }
            List<Target> parsed = names.stream().map(n -> parse(n, nodes)).distinct().toList();
            return all(nodes).stream().filter(parsed::contains).toList();
        }
    }

    /**
     * SIGKILLs the named daemons (no drain, no clean-up: a crash) and waits for them to be
     * gone; they stay down until {@code local start}. Already-down ones are reported, not an error.
     */
    public static void kill(StateDir state, List<String> names, PrintWriter out) {
        requireRoot();
        ClusterInfo info = ClusterInfo.require(state);
        if (names == null || names.isEmpty()) {
            throw new LocalException("kill: name what to kill (istiod, controller, or a node: "
                    + String.join(", ", info.nodeNames()) + ")");
        }
        for (Target t : Target.parseAll(names, info.nodeNames())) {
            ClusterInfo.Daemon d = t.daemon(info);
            ProcessHandle h = d == null ? null : d.handle().orElse(null);
            if (h == null) {
                out.println(t.display() + " is not running");
                continue;
            }
            h.destroyForcibly();
            try {
                h.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new LocalException(t.display() + " (pid " + h.pid() + ") did not exit 10 s after SIGKILL");
            }
            out.println("killed " + t.display() + " (pid " + h.pid() + ", SIGKILL)");
        }
        out.flush();
    }

    /**
     * Starts whichever of the named daemons (all when none are named) is not running, with
     * the command line {@code up} used, and waits for each to be ready as {@code up} does.
     * Running ones are left alone, so this is idempotent.
     */
    public static void start(StateDir state, List<String> names, Duration timeout, PrintWriter out) {
        requireRoot();
        ClusterInfo info = ClusterInfo.require(state);
        Home home = new Home(Path.of(info.home()));
        for (Target t : Target.parseAll(names, info.nodeNames())) {
            ClusterInfo.Daemon d = t.daemon(info);
            if (d != null && d.alive()) {
                out.println(t.display() + " is already running (pid " + d.pid() + ")");
                out.flush();
                continue;
            }
            switch (t.component()) {
                case ISTIOD -> {
                    ClusterInfo.Daemon istiod = Daemons.start("istiod-lite", Topology.CP_NS,
                            istiodCommand(state, home.istiodJar(), info.certTtl()), state.istiodLog());
                    info = info.withIstiod(istiod);
                    info.write(state);
                    awaitIstiod(state, istiod, timeout);
                    d = istiod;
                }
                case AGENT -> {
                    ClusterInfo.Node n = info.node(t.node()).orElseThrow();
                    ClusterInfo.Daemon agent = Daemons.start("node agent " + n.name(), n.netns(),
                            agentCommand(state, home.agentJar(), n, info.cgroupRoot()), state.agentLog(n.name()));
                    n = n.withAgent(agent);
                    info = info.withNode(n);
                    info.write(state);
                    awaitAgent(state, n, timeout);
                    d = agent;
                }
                case CONTROLLER -> {
                    ClusterInfo.Daemon controller = Daemons.start("controller", null, controllerCommand(state),
                            state.controllerLog());
                    info = info.withController(controller);
                    info.write(state);
                    // status.json is there from the last controller: ready once this one signs it.
                    await("controller", controller, state.controllerLog(), timeout, "reporting in "
                            + state.statusJson(), () -> reportedBy(state, controller.pid()));
                    d = controller;
                }
            }
            out.println("started " + t.display() + " (pid " + d.pid() + ")");
            out.flush();
        }
    }

    private static boolean reportedBy(StateDir state, long pid) {
        try {
            return ClusterStatus.read(state).map(s -> s.controllerPid() == pid).orElse(false);
        } catch (RuntimeException e) {
            return false; // being rewritten
        }
    }

    private static void checkNothingThere(StateDir state) {
        if (ClusterInfo.read(state).isPresent()) {
            throw new LocalException("a local cluster already exists in " + state.root()
                    + " (ambitctl local status shows it; ambitctl local down removes it)");
        }
        List<String> existing = Topology.existingNamespaces();
        if (!existing.isEmpty()) {
            throw new LocalException("network namespaces " + existing + " exist: another local cluster is up, or a"
                    + " crashed one left them; remove it with ambitctl local down (and its --state-dir)");
        }
    }

    static boolean agentReady(ClusterInfo.Node n) {
        try {
            return NetnsHttp.get(n.netns(), "127.0.0.1", IstioPorts.HEALTH, "/healthz/ready", Duration.ofSeconds(2)).status() == 200;
        } catch (IOException e) {
            return false;
        }
    }

    private static void await(String what, ClusterInfo.Daemon d, Path log, Duration timeout, String condition,
                              BooleanSupplier ok) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!ok.getAsBoolean()) {
            if (!d.alive()) {
                throw new LocalException(what + " exited before " + condition + "; its log " + log + " ends with:\n"
                        + Daemons.tail(log, 15) + "\n(ambitctl local down removes the partial cluster)");
            }
            if (System.nanoTime() > deadline) {
                throw new LocalException(what + " is not " + condition + " after " + timeout.toSeconds() + " s; its log "
                        + log + " ends with:\n" + Daemons.tail(log, 15)
                        + "\n(ambitctl local down removes the partial cluster)");
            }
            Cgroups.sleep(200);
        }
    }
}
