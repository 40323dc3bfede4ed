package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The local cluster's kubelet and controller manager in one loop: every
 * {@value #TICK_MILLIS} ms it reads the applied manifests and makes the machine match —
 * Deployments expanded to pods, pod sandboxes (network namespace, cgroup, veth, routes,
 * hosts file) created and deleted, containers run as processes and restarted per
 * {@code restartPolicy}, Service VIPs allocated — then writes what istiod-lite reads
 * ({@code istiod/config}), what each node agent reads ({@code nodes/<node>/pods}) and
 * {@code status.json}. A meshed pod's containers start only once its node's agent has
 * captured it ({@link PodEnrollment}, the CNI plugin's part).
 *
 * <p>Single-threaded: all state below belongs to the loop. It starts clean: sandboxes a
 * previous controller left are removed first (pods get new uids and addresses).
 */
public final class Controller {

    static final long TICK_MILLIS = 200;
    private static final Duration BACKOFF_MAX = Duration.ofSeconds(20);
    private static final Duration STATUS_REFRESH = Duration.ofSeconds(2);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final StateDir state;
    private final ClusterInfo cluster;
    private final Path podsCgroup;
    private final PrintStream log;
    private final Random random = new Random();
    private final Map<String, IpPool> podIps = new HashMap<>();
    private final IpPool serviceIps = IpPool.serviceAddresses();
    private final Map<String, String> serviceCreated = new HashMap<>();
    private final Map<String, RunningPod> pods = new LinkedHashMap<>();
    private final Map<String, Failure> createFailures = new HashMap<>();
    private final Map<Path, String> written = new HashMap<>();
    private final Map<Path, String> hostsWritten = new HashMap<>();
    private ServiceBalancerHook balancer;
    private final PodEnrollment enrollment;
    private Map<String, List<String>> lastBackends = Map.of();
    private final StoredManifests storedManifests;
    private List<KubeObject> manifests = List.of();
    private String lastStatus = "";
    private Instant lastStatusWrite = Instant.EPOCH;
    private volatile boolean stopped;

    /** A pod with a sandbox. */
    private static final class RunningPod {
        final String namespace;
        final String name;
        final String uid;
        final String node;
        final String ip;
        final String netns;
        final Path cgroup;
        final Instant created = Instant.now();
        final String owner;
        final String specHash;
        ObjectNode metadata; // labels, annotations, owner references: may change in place
        ObjectNode spec;
        final PodTemplate template;
        final List<ContainerRun> containers = new ArrayList<>();
        /** In the ambient mesh: its containers start only once its node's agent captured it. */
        boolean meshed;
        String phase = "Running";

        RunningPod(Desired d, String uid, String node, String ip, Path cgroup) {
            this.namespace = d.namespace;
            this.name = d.name;
            this.uid = uid;
            this.node = node;
            this.ip = ip;
            this.netns = Topology.podNs(uid);
            this.cgroup = cgroup;
            this.owner = d.owner;
            this.specHash = d.specHash;
            this.metadata = d.metadata;
            this.spec = d.spec;
            this.template = d.template;
        }

        String key() {
            return namespace + "/" + name;
        }
    }

    /** One container's process and its restart bookkeeping. */
    private static final class ContainerRun {
        final PodTemplate.Container spec;
        Process process;
        int restarts;
        boolean started;
        Integer exitCode;
        Instant nextStart = Instant.EPOCH;
        Instant startedAt;
        boolean done; // terminated for good (restartPolicy says no more)
        List<String> commandLine = List.of();
        Map<String, String> env = Map.of();

        ContainerRun(PodTemplate.Container spec) {
            this.spec = spec;
        }
    }

    /** A pod that should exist, from a Pod manifest or a Deployment. */
    private record Desired(String namespace, String name, String owner, String node, String specHash,
                           ObjectNode metadata, ObjectNode spec, PodTemplate template) {
        String key() {
            return namespace + "/" + name;
        }
    }

    private record Failure(int attempts, Instant retryAt, String reason) {}

    private Controller(StateDir state, ClusterInfo cluster, PrintStream log) {
        this.state = state;
        this.cluster = cluster;
        this.podsCgroup = Path.of(cluster.cgroupRoot()).resolve(Topology.CGROUP_DIR).resolve("pods");
        this.log = log;
        this.balancer = backends -> { };
        this.storedManifests = new StoredManifests(state.manifests(), this::log);
        this.enrollment = new PodEnrollment(state::nodeCniSocket, new CniClient(PodEnrollment.CALL_TIMEOUT), Instant::now,
                this::log);
        for (ClusterInfo.Node n : cluster.nodes()) {
            podIps.put(n.name(), IpPool.podAddresses(n.index()));
        }
    }

    /** A controller for the cluster in {@code state}, logging to {@code log}. */
    public static Controller create(StateDir state, PrintStream log) {
        requireNonNull(state, "state");
        requireNonNull(log, "log");
        return new Controller(state, ClusterInfo.require(state), log);
    }

    /** Where the eBPF Service load balancer gets its table (the controller command sets it). */
    public Controller balancer(ServiceBalancerHook hook) {
        this.balancer = requireNonNull(hook, "hook");
        return this;
    }

    /** Runs until {@link #stop()}: removes what an earlier controller left, then reconciles every tick. */
    public void run() {
        log("controller for " + state.root() + " started: nodes " + cluster.nodeNames() + ", pods in " + podsCgroup);
        cleanupLeftovers();
        loadWritten();
        while (!stopped) {
            try {
                tick();
            } catch (RuntimeException e) {
                log("reconcile failed (retrying): " + e);
            }
            try {
                Thread.sleep(TICK_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        log("controller stopped; pods keep running until ambitctl local down");
    }

    public void stop() {
        stopped = true;
    }

    // ------------------------------------------------------------------ the loop

    void tick() {
        reloadManifests();
        Map<String, Desired> desired = Map.of();
        try {
            desired = reconcilePods();
        } catch (RuntimeException e) {
            // Logged and retried next tick; what istiod-lite reads is still written below, so a
            // pod problem never holds back a policy change.
            log("reconciling pods failed (retrying): " + e);
        }
        Map<String, ServiceView> services = services();
        writeIstiodConfig(services);
        writeHostsFiles(services);
        updateBalancer(services);
        // Last: asking a node agent to capture a meshed pod blocks up to CniClient's timeout
        // (10 s) per pending pod, and a slow agent must never delay a policy change written above.
        // The pods are already in istiod-lite's folder, so their agent can learn their workload.
        try {
            supervise();
        } catch (RuntimeException e) {
            log("supervising pods failed (retrying): " + e);
        }
        writeStatus(desired, services);
    }

    /** Pods made to match the manifests: deleted and created (not yet supervised); returns the desired pods. */
    private Map<String, Desired> reconcilePods() {
        Map<String, Desired> desired = desiredPods();
        List<RunningPod> doomed = new ArrayList<>();
        for (RunningPod p : pods.values()) {
            Desired d = desired.get(p.key());
            if (d == null || !d.specHash().equals(p.specHash)) {
                doomed.add(p);
            } else {
                p.metadata = d.metadata(); // labels changed in place: no restart, as in Kubernetes
            }
        }
        deletePods(doomed);
        createFailures.keySet().retainAll(desired.keySet());
        for (Desired d : desired.values()) {
            if (!pods.containsKey(d.key())) {
                Failure f = createFailures.get(d.key());
                if (f == null || Instant.now().isAfter(f.retryAt())) {
                    createPod(d, f);
                }
            }
        }
        return desired; // their containers: supervise(), after the files others read
    }

    private void reloadManifests() {
        if (storedManifests.refresh()) {
            manifests = storedManifests.objects();
            log("manifests: " + manifests.size() + " objects"
                    + (storedManifests.errors().isEmpty() ? "" : ", " + storedManifests.errors().size() + " files unreadable"));
        }
    }

    private Map<String, Desired> desiredPods() {
        Map<String, Desired> out = new LinkedHashMap<>();
        Map<String, Integer> perNode = new HashMap<>();
        pods.values().forEach(p -> perNode.merge(p.node, 1, Integer::sum));
        List<String> nodes = cluster.nodeNames();
        for (KubeObject o : manifests) {
            if (o.kind().equals("Pod")) {
                PodTemplate t = PodTemplate.parse(o.spec(), "spec");
                ObjectNode meta = metadataOf(o.tree().path("metadata"), o.namespace(), o.name());
                RunningPod running = pods.get(o.namespace() + "/" + o.name());
                String node = !t.nodeName().isEmpty() ? t.nodeName()
                        : running != null ? running.node : leastLoaded(nodes, perNode);
                ObjectNode spec = (ObjectNode) o.spec().deepCopy();
                out.put(o.namespace() + "/" + o.name(), new Desired(o.namespace(), o.name(), "", node,
                        Integer.toHexString(o.spec().hashCode()), meta, spec, t));
                if (running == null) {
                    perNode.merge(node, 1, Integer::sum);
                }
            } else if (o.kind().equals("Deployment")) {
                String hash = Deployments.templateHash(o);
                Map<String, String> existing = new TreeMap<>();
                for (RunningPod p : pods.values()) {
                    if (p.namespace.equals(o.namespace()) && p.owner.equals(o.name()) && p.specHash.equals(hash)) {
                        existing.put(p.name, p.node);
                    }
                }
                JsonNode template = o.spec().path("template");
                PodTemplate t = PodTemplate.parse(template.path("spec"), "spec.template.spec");
                for (Deployments.PodPlan plan : Deployments.plan(o, existing, nodes, perNode, random,
                        n -> pods.containsKey(o.namespace() + "/" + n))) {
                    ObjectNode meta = metadataOf(template.path("metadata"), o.namespace(), plan.name());
                    meta.withObjectProperty("labels").put(Deployments.TEMPLATE_HASH_LABEL, hash);
                    ObjectNode ref = meta.putArray("ownerReferences").addObject();
                    ref.put("apiVersion", "apps/v1").put("kind", "ReplicaSet").put("name", o.name() + "-" + hash)
                            .put("controller", true).put("blockOwnerDeletion", true);
                    out.put(o.namespace() + "/" + plan.name(), new Desired(o.namespace(), plan.name(), o.name(),
                            plan.node(), hash, meta, (ObjectNode) template.path("spec").deepCopy(), t));
                    if (!existing.containsKey(plan.name())) {
                        perNode.merge(plan.node(), 1, Integer::sum);
                    }
                }
            }
        }
        return out;
    }

    private static String leastLoaded(List<String> nodes, Map<String, Integer> perNode) {
        String best = nodes.getFirst();
        for (String n : nodes) {
            if (perNode.getOrDefault(n, 0) < perNode.getOrDefault(best, 0)) {
                best = n;
            }
        }
        return best;
    }

    /** The labels of Namespace {@code ns} as applied; none if it was not applied. */
    private Map<String, String> namespaceLabels(String ns) {
        for (KubeObject o : manifests) {
            if (o.kind().equals("Namespace") && o.name().equals(ns)) {
                return o.labels();
            }
        }
        return Map.of();
    }

    private static ObjectNode metadataOf(JsonNode source, String namespace, String name) {
        ObjectNode meta = NODES.objectNode();
        meta.put("name", name);
        meta.put("namespace", namespace);
        if (source.path("labels").isObject()) {
            meta.set("labels", source.path("labels").deepCopy());
        } else {
            meta.putObject("labels");
        }
        if (source.path("annotations").isObject()) {
            meta.set("annotations", source.path("annotations").deepCopy());
        }
        return meta;
    }

    // ------------------------------------------------------------------ pods

    private void createPod(Desired d, Failure before) {
        ClusterInfo.Node node = cluster.node(d.node()).orElse(null);
        if (node == null) {
            createFailures.put(d.key(), new Failure(1, Instant.now().plusSeconds(5), "node " + d.node()
                    + " does not exist (nodes: " + cluster.nodeNames() + "); fix spec.nodeName"));
            return;
        }
        String uid = newUid();
        Path cgroup = podsCgroup.resolve(uid);
        RunningPod p = null;
        try {
            String ip = podIps.get(node.name()).allocate(d.key());
            p = new RunningPod(d, uid, node.name(), ip, cgroup);
            Topology.createPodNetwork(uid, node.index(), ip);
            Cgroups.create(cgroup);
            Path etc = Topology.etcNetns(p.netns);
            Files.createDirectories(etc);
            Files.writeString(etc.resolve("resolv.conf"), HostsFile.resolvConf(p.namespace), StandardCharsets.UTF_8);
            Files.createDirectories(state.podLogs(p.namespace, p.name));
            for (PodTemplate.Container c : d.template().containers()) {
                p.containers.add(new ContainerRun(c));
            }
            p.meshed = PodEnrollment.meshed(KubeObject.stringMap(d.metadata().path("labels")),
                    namespaceLabels(d.namespace()));
            if (p.meshed) {
                p.phase = "Pending"; // until its agent has captured it (supervise)
            }
            pods.put(p.key(), p);
            createFailures.remove(d.key());
            // The agent's file before the containers start; istiod-lite's copy follows at the end
            // of this tick. A meshed pod's containers wait for its agent's CNI answer (supervise).
            writeHosts(p, services());
            LocalSandboxes.write(state.nodePods(node.name()),
                    new PodSandbox(p.namespace, p.name, uid, cgroup, Topology.netnsPath(p.netns)));
            log("pod " + p.key() + " created on " + node.name() + ": ip " + ip + ", netns " + p.netns + ", uid " + uid);
        } catch (IOException | RuntimeException e) {
            int attempts = before == null ? 1 : before.attempts() + 1;
            Duration wait = backoff(attempts - 1);
            log("pod " + d.key() + ": cannot create its sandbox (attempt " + attempts + ", retry in " + wait + "): " + e);
            createFailures.put(d.key(), new Failure(attempts, Instant.now().plus(wait),
                    "sandbox: " + e.getMessage()));
            pods.remove(d.key());
            if (p != null) {
                removeSandbox(p);
            } else {
                podIps.get(node.name()).release(d.key());
            }
        }
    }

    private String newUid() {
        Set<String> taken = new HashSet<>();
        pods.values().forEach(p -> taken.add(Topology.shortId(p.uid)));
        for (int i = 0; i < 100; i++) {
            String uid = UUID.randomUUID().toString();
            if (!taken.contains(Topology.shortId(uid)) && !Topology.exists(Topology.podNs(uid))) {
                return uid;
            }
        }
        throw new IllegalStateException("no free pod uid after 100 attempts");
    }

    /**
     * Stops and removes pods: the agent's file first (it unenrolls), then SIGTERM to every
     * process, up to 2 s for all of them together, then {@code cgroup.kill}, then the sandbox.
     */
    private void deletePods(List<RunningPod> doomed) {
        if (doomed.isEmpty()) {
            return;
        }
        for (RunningPod p : doomed) {
            try {
                LocalSandboxes.remove(state.nodePods(p.node), p.namespace, p.name);
            } catch (IOException e) {
                log("pod " + p.key() + ": cannot remove its sandbox file: " + e.getMessage());
            }
            if (p.meshed) {
                enrollment.forget(p.node, p.uid);
            }
            for (long pid : allPids(p.cgroup)) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
            }
        }
        long deadline = System.nanoTime() + 2_000_000_000L;
        for (RunningPod p : doomed) {
            while (Cgroups.populated(p.cgroup) && System.nanoTime() < deadline) {
                Cgroups.sleep(20);
            }
        }
        for (RunningPod p : doomed) {
            pods.remove(p.key());
            removeSandbox(p);
            podIps.get(p.node).release(p.key());
            log("pod " + p.key() + " deleted");
        }
    }

    private void removeSandbox(RunningPod p) {
        try {
            if (p.cgroup != null) {
                Cgroups.removeTree(p.cgroup);
            }
        } catch (RuntimeException e) {
            log("pod " + p.key() + ": " + e.getMessage());
        }
        for (ContainerRun c : p.containers) {
            if (c.process != null) {
                c.process.destroyForcibly();
            }
        }
        try {
            Topology.deletePodNetwork(p.uid, cluster.node(p.node).map(ClusterInfo.Node::index).orElseThrow());
        } catch (RuntimeException e) {
            log("pod " + p.key() + ": " + e.getMessage());
        }
        podIps.get(p.node).release(p.key());
        hostsWritten.keySet().removeIf(path -> path.startsWith(Topology.etcNetns(p.netns)));
    }

    private static List<Long> allPids(Path cgroup) {
        List<Long> out = new ArrayList<>();
        if (cgroup == null || !Files.isDirectory(cgroup)) {
            return out;
        }
        try (Stream<Path> s = Files.walk(cgroup)) {
            s.filter(Files::isDirectory).forEach(d -> out.addAll(Cgroups.pids(d)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Starts containers that are due, notices exits, applies restartPolicy, derives the pod's phase. */
    private void supervise() {
        Instant now = Instant.now();
        for (RunningPod p : pods.values()) {
            if (p.meshed && !enrollment.admit(p.node, new CniClient.Pod(p.uid, p.namespace, p.name,
                    Topology.netnsPath(p.netns), p.cgroup, List.of(p.ip)))) {
                continue; // ContainerCreating: never run outside the mesh (PodEnrollment)
            }
            if (p.phase.equals("Pending")) {
                p.phase = "Running";
            }
            String policy = p.template.restartPolicy();
            for (ContainerRun c : p.containers) {
                if (c.process != null && !c.process.isAlive()) {
                    c.exitCode = c.process.exitValue();
                    c.process = null;
                    // What the main process left behind (forked children) goes with it, as with a container.
                    Cgroups.kill(p.cgroup.resolve(c.spec.name()), 2000);
                    boolean again = policy.equals("Always") || (policy.equals("OnFailure") && c.exitCode != 0);
                    if (again) {
                        Duration wait = backoff(c.restarts);
                        c.nextStart = now.plus(wait);
                        log("pod " + p.key() + ": container " + c.spec.name() + " exited " + c.exitCode
                                + "; restarting in " + wait.toMillis() + " ms (restartPolicy " + policy + ")");
                    } else {
                        c.done = true;
                        log("pod " + p.key() + ": container " + c.spec.name() + " exited " + c.exitCode
                                + " (restartPolicy " + policy + ": not restarted)");
                    }
                }
                if (c.process == null && !c.done && !now.isBefore(c.nextStart)) {
                    if (c.started) {
                        c.restarts++;
                    }
                    start(p, c);
                }
            }
            boolean allDone = p.containers.stream().allMatch(c -> c.done);
            p.phase = !allDone ? "Running"
                    : p.containers.stream().allMatch(c -> c.exitCode != null && c.exitCode == 0) ? "Succeeded" : "Failed";
        }
    }

    /** Bounded exponential backoff: 1 s, 2 s, 4 s ... up to {@link #BACKOFF_MAX}. */
    static Duration backoff(int restarts) {
        long millis = 1000L << Math.min(restarts, 10);
        return Duration.ofMillis(Math.min(millis, BACKOFF_MAX.toMillis()));
    }

    private void start(RunningPod p, ContainerRun c) {
        c.started = true;
        c.startedAt = Instant.now();
        Path cg = p.cgroup.resolve(c.spec.name());
        Map<String, String> env = containerEnv(p, c.spec);
        List<String> commandLine = c.spec.commandLine(env);
        c.commandLine = commandLine;
        c.env = env;
        Path logFile = state.containerLog(p.namespace, p.name, c.spec.name());
        try {
            Cgroups.create(cg);
            c.process = podProcess(cg, p.netns, commandLine, env, c.spec.workingDir(), p.name)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .start();
            c.exitCode = null;
            log("pod " + p.key() + ": container " + c.spec.name() + " started, pid " + c.process.pid() + ": "
                    + String.join(" ", commandLine));
        } catch (IOException | RuntimeException e) {
            c.exitCode = 127;
            c.nextStart = Instant.now().plus(backoff(c.restarts));
            appendQuietly(logFile, "ambitctl: cannot start " + commandLine + ": " + e.getMessage() + "\n");
            log("pod " + p.key() + ": container " + c.spec.name() + " did not start: " + e.getMessage());
            if (!p.template.restartPolicy().equals("Always")) {
                c.done = true;
            }
        }
    }

    /**
     * A process of a pod: it joins {@code cgroup} first (so the pod's BPF programs see its
     * sockets from the first one), then becomes {@code command} inside the pod's network
     * namespace through {@code ip netns exec}, which also bind-mounts the pod's hosts and
     * resolv.conf over /etc. Output and stdin are the caller's to set.
     */
    public static ProcessBuilder podProcess(Path cgroup, String netns, List<String> command, Map<String, String> env,
                                            String workingDir, String hostname) {
        List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && ns=\"$1\" && shift && exec ip netns exec \"$ns\" \"$@\"",
                cgroup.toString(), netns));
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> e = pb.environment();
        String path = e.getOrDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        e.clear();
        e.put("PATH", path);
        e.put("HOME", "/root");
        e.put("HOSTNAME", hostname);
        e.putAll(env);
        pb.directory(new File(workingDir == null || workingDir.isEmpty() ? "/" : workingDir));
        return pb;
    }

    private Map<String, String> containerEnv(RunningPod p, PodTemplate.Container c) {
        Map<String, String> fields = Map.of(
                "metadata.name", p.name,
                "metadata.namespace", p.namespace,
                "metadata.uid", p.uid,
                "status.podIP", p.ip,
                "spec.nodeName", p.node,
                "spec.serviceAccountName", p.template.serviceAccountName(),
                "status.hostIP", cluster.node(p.node).map(ClusterInfo.Node::address).orElse(""));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("POD_NAME", p.name);
        env.put("POD_NAMESPACE", p.namespace);
        env.put("POD_IP", p.ip);
        env.put("NODE_NAME", p.node);
        env.putAll(PodTemplate.environment(c, fields));
        return env;
    }

    private static void appendQuietly(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException ignored) {
            // The controller log has the same message.
        }
    }

    // ------------------------------------------------------------------ services

    /** A Service with its VIP and endpoints, as this tick sees it. */
    private record ServiceView(KubeObject object, String vip, List<Services.ServicePort> ports, List<String> endpoints,
                               Map<String, List<String>> backends) {}

    private Map<String, ServiceView> services() {
        Map<String, ServiceView> out = new TreeMap<>();
        Set<String> present = new HashSet<>();
        for (KubeObject o : manifests) {
            if (!o.kind().equals("Service")) {
                continue;
            }
            String key = o.namespace() + "/" + o.name();
            present.add(key);
            String explicit = Services.explicitClusterIp(o);
            String vip;
            try {
                if (explicit.equals("None")) {
                    serviceIps.release(key);
                    vip = "None";
                } else if (!explicit.isEmpty()) {
                    serviceIps.reserve(explicit, key);
                    vip = explicit;
                } else {
                    vip = serviceIps.allocate(key);
                }
            } catch (LocalException e) {
                log("service " + key + ": " + e.getMessage());
                continue;
            }
            serviceCreated.putIfAbsent(key, Instant.now().toString());
            List<Services.ServicePort> ports = Services.ports(o);
            Map<String, String> selector = Services.selector(o);
            List<String> endpoints = new ArrayList<>();
            Map<String, List<String>> backends = new TreeMap<>();
            for (Services.ServicePort sp : ports) {
                if (sp.protocol().equals("TCP") && !vip.equals("None")) {
                    backends.put(vip + ":" + sp.port(), new ArrayList<>());
                }
            }
            for (RunningPod p : pods.values()) {
                if (!p.namespace.equals(o.namespace()) || !p.phase.equals("Running")
                        || !Selector.serviceSelects(selector, KubeObject.stringMap(p.metadata.path("labels")))) {
                    continue;
                }
                List<PodTemplate.Port> cports = p.template.containers().stream().flatMap(c -> c.ports().stream()).toList();
                for (Services.ServicePort sp : ports) {
                    int target = sp.targetFor(cports);
                    if (target > 0) {
                        endpoints.add(p.ip + ":" + target);
                        List<String> b = backends.get(vip + ":" + sp.port());
                        if (b != null) {
                            b.add(p.ip + ":" + target);
                        }
                    }
                }
            }
            backends.values().forEach(l -> l.sort(null));
            out.put(key, new ServiceView(o, vip, ports, endpoints.stream().sorted().distinct().toList(), backends));
        }
        // Services gone: their VIPs are free again.
        for (String key : new ArrayList<>(serviceCreated.keySet())) {
            if (!present.contains(key)) {
                serviceIps.release(key);
                serviceCreated.remove(key);
            }
        }
        return out;
    }

    private void updateBalancer(Map<String, ServiceView> services) {
        Map<String, List<String>> backends = new TreeMap<>();
        services.values().forEach(s -> backends.putAll(s.backends()));
        if (!backends.equals(lastBackends)) {
            lastBackends = Map.copyOf(backends);
            // The one place the eBPF Service load balancer is fed (see ServiceBalancerHook).
            balancer.update(lastBackends);
        }
    }

    // ------------------------------------------------------------------ files others read

    /** What istiod-lite reads: every object but Deployments and Pod manifests, plus running pods and VIPs. */
    private void writeIstiodConfig(Map<String, ServiceView> services) {
        Map<Path, String> desired = new TreeMap<>();
        Path dir = state.istiodConfig();
        for (KubeObject o : manifests) {
            if (o.kind().equals("Deployment") || o.kind().equals("Pod")) {
                continue;
            }
            ObjectNode tree = o.tree();
            if (o.kind().equals("Service")) {
                ServiceView v = services.get(o.namespace() + "/" + o.name());
                if (v == null) {
                    continue; // no VIP (a conflict, logged): istiod-lite would route nowhere
                }
                Services.withClusterIp(tree, v.vip());
            }
            desired.put(dir.resolve(o.fileName()), Manifests.toYaml(tree));
        }
        for (RunningPod p : pods.values()) {
            desired.put(dir.resolve("pod." + p.namespace + "." + p.name + ".yaml"), Manifests.toYaml(podObject(p, false)));
        }
        for (Map.Entry<Path, String> e : desired.entrySet()) {
            if (!e.getValue().equals(written.get(e.getKey()))) {
                Manifests.writeAtomically(e.getKey(), e.getValue());
                written.put(e.getKey(), e.getValue());
            }
        }
        Set<String> unknown = storedManifests.unknown();
        for (Path f : listFiles(dir)) {
            String name = f.getFileName().toString();
            if (unknown.contains(name) && !name.startsWith("pod.") && !name.startsWith("deployment.")) {
                continue; // its manifest cannot be read: istiod-lite keeps the last copy rather than losing it
            }
            if (!desired.containsKey(f)) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException e) {
                    log("cannot remove " + f + ": " + e.getMessage());
                }
                written.remove(f);
            }
        }
    }

    /**
     * The pod as Kubernetes would show it; for istiod-lite ({@code full} false) without the
     * fields that change on every restart, so a crash-looping container does not push xDS.
     */
    private ObjectNode podObject(RunningPod p, boolean full) {
        ObjectNode pod = NODES.objectNode();
        pod.put("apiVersion", "v1").put("kind", "Pod");
        ObjectNode meta = p.metadata.deepCopy();
        meta.put("uid", p.uid);
        meta.put("creationTimestamp", p.created.toString());
        pod.set("metadata", meta);
        ObjectNode spec = p.spec.deepCopy();
        spec.put("nodeName", p.node);
        if (!spec.has("serviceAccountName")) {
            spec.put("serviceAccountName", p.template.serviceAccountName());
        }
        if (!spec.has("restartPolicy")) {
            spec.put("restartPolicy", p.template.restartPolicy());
        }
        pod.set("spec", spec);
        ObjectNode status = pod.putObject("status");
        status.put("phase", p.phase);
        status.put("podIP", p.ip);
        status.putArray("podIPs").addObject().put("ip", p.ip);
        String hostIp = cluster.node(p.node).map(ClusterInfo.Node::address).orElse("");
        status.put("hostIP", hostIp);
        boolean ready = p.phase.equals("Running") && p.containers.stream().allMatch(c -> c.process != null);
        ArrayNode conditions = status.putArray("conditions");
        conditions.addObject().put("type", "Ready").put("status", ready ? "True" : "False");
        if (full) {
            status.put("startTime", p.created.toString());
            ArrayNode cs = status.putArray("containerStatuses");
            for (ContainerRun c : p.containers) {
                ObjectNode s = cs.addObject();
                s.put("name", c.spec.name()).put("ready", c.process != null).put("restartCount", c.restarts)
                        .put("image", "").put("started", c.process != null);
                ObjectNode st = s.putObject("state");
                if (c.process != null) {
                    st.putObject("running").put("startedAt", String.valueOf(c.startedAt));
                } else if (c.done) {
                    st.putObject("terminated").put("exitCode", c.exitCode == null ? 0 : c.exitCode)
                            .put("reason", c.exitCode != null && c.exitCode == 0 ? "Completed" : "Error");
                } else {
                    ObjectNode w = st.putObject("waiting").put("reason", waitingReason(c));
                    String why = enrollment.waiting(p.uid);
                    if (why != null) {
                        w.put("message", why);
                    }
                }
            }
        }
        return pod;
    }

    private static String waitingReason(ContainerRun c) {
        return c.started ? "CrashLoopBackOff" : "ContainerCreating";
    }

    private void writeHostsFiles(Map<String, ServiceView> services) {
        for (RunningPod p : pods.values()) {
            writeHosts(p, services);
        }
        List<HostsFile.ServiceName> names = serviceNames(services);
        for (ClusterInfo.Node n : cluster.nodes()) {
            writeInPlace(Topology.etcNetns(n.netns()).resolve("hosts"),
                    HostsFile.hosts(null, n.name(), n.address(), names));
        }
    }

    private void writeHosts(RunningPod p, Map<String, ServiceView> services) {
        writeInPlace(Topology.etcNetns(p.netns).resolve("hosts"),
                HostsFile.hosts(p.namespace, p.name, p.ip, serviceNames(services)));
    }

    private static List<HostsFile.ServiceName> serviceNames(Map<String, ServiceView> services) {
        return services.values().stream().filter(s -> !s.vip().equals("None"))
                .map(s -> new HostsFile.ServiceName(s.object().namespace(), s.object().name(), s.vip())).toList();
    }

    /**
     * Rewrites {@code file} in place (truncate and write: same inode), so processes that
     * have it bind-mounted as /etc/hosts see the new content.
     */
    private void writeInPlace(Path file, String content) {
        if (content.equals(hostsWritten.get(file))) {
            return;
        }
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, content, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            hostsWritten.put(file, content);
        } catch (IOException e) {
            log("cannot write " + file + ": " + e.getMessage());
        }
    }

    private void writeStatus(Map<String, Desired> desired, Map<String, ServiceView> services) {
        List<ClusterStatus.Pod> out = new ArrayList<>();
        for (RunningPod p : pods.values()) {
            List<ClusterStatus.Container> cs = new ArrayList<>();
            int restarts = 0;
            for (ContainerRun c : p.containers) {
                restarts += c.restarts;
                String st = c.process != null ? "running" : c.done ? "terminated" : "waiting";
                String reason = c.process != null ? ""
                        : c.done ? (c.exitCode != null && c.exitCode == 0 ? "Completed" : "Error") : waitingReason(c);
                cs.add(new ClusterStatus.Container(c.spec.name(), st, reason, c.restarts, c.exitCode,
                        c.process != null ? c.process.pid() : 0, c.commandLine, c.env));
            }
            out.add(new ClusterStatus.Pod(p.namespace, p.name, p.uid, p.node, p.ip, p.phase,
                    enrollment.waiting(p.uid) != null ? "ContainerCreating" : "", restarts,
                    p.created.toString(), p.netns, p.cgroup.toString(), p.owner,
                    KubeObject.stringMap(p.metadata.path("labels")), cs, podObject(p, true)));
        }
        for (Desired d : desired.values()) {
            if (!pods.containsKey(d.key())) {
                Failure f = createFailures.get(d.key());
                out.add(new ClusterStatus.Pod(d.namespace(), d.name(), "", d.node(), "", "Pending",
                        f == null ? "ContainerCreating" : f.reason(), 0, "", "", "", d.owner(),
                        KubeObject.stringMap(d.metadata().path("labels")), List.of(), null));
            }
        }
        List<ClusterStatus.Service> svcs = new ArrayList<>();
        for (ServiceView v : services.values()) {
            KubeObject o = v.object();
            ObjectNode tree = o.tree();
            ObjectNode spec = Services.withClusterIp(tree, v.vip()).withObjectProperty("spec");
            if (!spec.has("type")) {
                spec.put("type", "ClusterIP");
            }
            String ports = String.join(",", v.ports().stream().map(sp -> sp.port() + "/" + sp.protocol()).toList());
            svcs.add(new ClusterStatus.Service(o.namespace(), o.name(), spec.path("type").asText(), v.vip(),
                    ports.isEmpty() ? "<none>" : ports, Services.selector(o), o.labels(),
                    serviceCreated.getOrDefault(o.namespace() + "/" + o.name(), ""), v.endpoints(), tree));
        }
        List<String> errors = storedManifests.errors();
        ClusterStatus status = new ClusterStatus("", ProcessHandle.current().pid(), out, svcs, errors);
        String content = Manifests.toJson(status);
        Instant now = Instant.now();
        if (content.equals(lastStatus) && now.isBefore(lastStatusWrite.plus(STATUS_REFRESH))) {
            return;
        }
        ClusterStatus stamped = new ClusterStatus(now.toString(), status.controllerPid(), out, svcs, errors);
        Manifests.writeAtomically(state.statusJson(), Manifests.toJson(stamped));
        lastStatus = content;
        lastStatusWrite = now;
    }

    // ------------------------------------------------------------------ start-up

    /** Removes pod sandboxes a previous controller left: processes, namespaces, cgroups, agent files. */
    private void cleanupLeftovers() {
        int removed = 0;
        for (Path cg : listDirs(podsCgroup)) {
            Cgroups.removeTree(cg);
            removed++;
        }
        for (String ns : Topology.existingNamespaces()) {
            if (ns.matches(Topology.PREFIX + "[0-9a-f]{8}")) {
                Topology.deleteNamespace(ns);
            }
        }
        for (ClusterInfo.Node n : cluster.nodes()) {
            Topology.deletePodVeths(n.index());
            for (Path f : listFiles(state.nodePods(n.name()))) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException e) {
                    log("cannot remove " + f + ": " + e.getMessage());
                }
            }
        }
        if (removed > 0) {
            log("removed " + removed + " pods a previous controller left; they are created anew");
        }
    }

    private void loadWritten() {
        for (Path f : listFiles(state.istiodConfig())) {
            try {
                written.put(f, Files.readString(f));
            } catch (IOException e) {
                log("cannot read " + f + ": " + e.getMessage());
            }
        }
    }

    private static List<Path> listFiles(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith(".")).sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<Path> listDirs(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void log(String message) {
        log.println(Instant.now() + " " + message);
        log.flush();
    }
}
