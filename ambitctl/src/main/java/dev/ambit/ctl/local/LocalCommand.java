package dev.ambit.ctl.local;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code ambitctl local}: a whole mesh on this machine, out of network namespaces. */
@Command(name = "local", mixinStandardHelpOptions = true,
        description = {"A mesh on this machine: nodes and pods as network namespaces, a real istiod-lite and node agents.",
                "Needs root. Everything lives in namespaces named ambit-l-*; `local down` removes all of it."},
        subcommands = {LocalCommand.Up.class, LocalCommand.Down.class, LocalCommand.Status.class,
                LocalCommand.Kill.class, LocalCommand.Start.class,
                LocalCommand.Apply.class, LocalCommand.Delete.class, LocalCommand.Get.class, LocalCommand.Exec.class,
                LocalCommand.Logs.class, LocalCommand.Label.class, LocalCommand.ControllerCommand.class})
public final class LocalCommand {

    static PrintWriter out(CommandSpec spec) {
        return spec.commandLine().getOut();
    }

    static PrintWriter err(CommandSpec spec) {
        return spec.commandLine().getErr();
    }

    // ------------------------------------------------------------------ up / down / status

    @Command(name = "up", mixinStandardHelpOptions = true,
            description = "Builds the cluster: node network, istiod-lite, one node agent per node, the controller.")
    static final class Up implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Option(names = "--nodes", defaultValue = "2", description = "Number of nodes, 1-16 (default: ${DEFAULT-VALUE}).")
        int nodes;

        @Option(names = "--home", paramLabel = "REPO",
                description = "The Ambit build with istiod-lite and node-agent jars (default: where ambitctl runs from).")
        Path home;

        @Option(names = "--timeout", defaultValue = "90s",
                description = "How long each daemon may take to become ready (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Option(names = "--cert-ttl", paramLabel = "DURATION",
                description = "Workload certificate lifetime, passed to istiod-lite (default: its own, 24h); e.g. 60s"
                        + " to watch renewals (at half life).")
        String certTtl;

        @Override
        public Integer call() {
            LocalCluster.up(cluster.state(), new LocalCluster.UpOptions(nodes, Home.detect(home), cluster.cgroupRoot(),
                    Durations.parse("--timeout", timeout),
                    certTtl == null ? null : Durations.parse("--cert-ttl", certTtl)), out(spec));
            return 0;
        }
    }

    @Command(name = "kill", mixinStandardHelpOptions = true,
            description = {"Crashes daemons for fault tests: SIGKILL, no drain; they stay down until `local start`.",
                    "COMPONENT: istiod, controller, or a node (node1, or agent-node1) for its agent."})
    static final class Kill implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(paramLabel = "COMPONENT", arity = "1..*")
        List<String> components;

        @Override
        public Integer call() {
            LocalCluster.kill(cluster.state(), components, out(spec));
            return 0;
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true,
            description = {"Starts daemons that are down (all of them when none is named) as `local up` did,",
                    "and waits for each to be ready. Running ones are left alone."})
    static final class Start implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(paramLabel = "COMPONENT", arity = "0..*",
                description = "istiod, controller, or a node (node1, or agent-node1) for its agent.")
        List<String> components = List.of();

        @Option(names = "--timeout", defaultValue = "90s",
                description = "How long each daemon may take to become ready (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Override
        public Integer call() {
            LocalCluster.start(cluster.state(), components, Durations.parse("--timeout", timeout), out(spec));
            return 0;
        }
    }

    @Command(name = "down", mixinStandardHelpOptions = true,
            description = "Removes the cluster and anything a crashed one left: processes, namespaces, cgroups, BPF pins, state.")
    static final class Down implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Override
        public Integer call() {
            List<String> removed = LocalCluster.down(cluster.state(), cluster.cgroupRoot, out(spec));
            if (removed.isEmpty()) {
                out(spec).println("nothing to remove: no local cluster in " + cluster.state().root());
            } else {
                removed.forEach(r -> out(spec).println("removed " + r));
            }
            return 0;
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Shows the cluster's daemons and pods.")
    static final class Status implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Override
        public Integer call() {
            StateDir state = cluster.state();
            ClusterInfo info = ClusterInfo.read(state).orElse(null);
            PrintWriter out = out(spec);
            if (info == null) {
                out.println("no local cluster in " + state.root() + " (ambitctl local up starts one)");
                List<String> leftovers = Topology.existingNamespaces();
                if (!leftovers.isEmpty()) {
                    out.println("but namespaces " + leftovers + " exist: ambitctl local down removes them");
                }
                return 1;
            }
            List<List<String>> rows = new ArrayList<>();
            boolean healthy = true;
            boolean istiodUp = info.istiod() != null && info.istiod().alive();
            healthy &= istiodUp;
            rows.add(List.of("istiod-lite", Topology.CP_NS, Topology.CP_ADDRESS, pid(info.istiod()),
                    !istiodUp ? "Down" : NetnsHttp.listening(Topology.CP_NS, "127.0.0.1", 15012) ? "Running" : "Starting",
                    state.istiodLog().toString()));
            for (ClusterInfo.Node n : info.nodes()) {
                boolean up = n.agent() != null && n.agent().alive();
                boolean ready = up && LocalCluster.agentReady(n);
                healthy &= ready;
                rows.add(List.of("agent " + n.name(), n.netns(), n.address(), pid(n.agent()),
                        !up ? "Down" : ready ? "Ready" : "NotReady", state.agentLog(n.name()).toString()));
            }
            boolean controllerUp = info.controller() != null && info.controller().alive();
            healthy &= controllerUp;
            ClusterStatus status = ClusterStatus.read(state).orElse(null);
            String controllerState = !controllerUp ? "Down" : status == null ? "Starting"
                    : "Running (reported " + KubectlPrinter.age(Instant.parse(status.updatedAt()), Instant.now()) + " ago)";
            rows.add(List.of("controller", "(host)", "-", pid(info.controller()), controllerState,
                    state.controllerLog().toString()));
            out.println("local cluster in " + state.root() + ", created " + info.createdAt());
            out.print(KubectlPrinter.table(List.of("COMPONENT", "NETNS", "ADDRESS", "PID", "STATUS", "LOG"), rows));
            if (status != null) {
                Map<String, Long> phases = new java.util.TreeMap<>();
                status.pods().forEach(p -> phases.merge(p.phase(), 1L, Long::sum));
                out.println("pods: " + (phases.isEmpty() ? "none" : phases.toString().replaceAll("[{}]", ""))
                        + "; services: " + status.services().size());
                if (controllerUp && !status.manifestErrors().isEmpty()) {
                    // Never applied by this ambitctl (apply checks every object): a hand edit or an older version.
                    healthy = false;
                    out.println("applied manifests the controller cannot read (fix or delete them, then apply again):");
                    status.manifestErrors().forEach(e -> out.println("  " + e));
                }
            }
            return healthy ? 0 : 1;
        }

        private static String pid(ClusterInfo.Daemon d) {
            return d == null ? "-" : String.valueOf(d.pid());
        }
    }

    // ------------------------------------------------------------------ apply / delete / label

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = {"Applies Kubernetes YAML: Namespace, ServiceAccount, Pod, Deployment, Service, Istio and Gateway API objects.",
                    "Every object is checked first, as the API server and Istio's validating webhook would (istiod-lite's own",
                    "decoder and validator, etcd's 1.5 MiB object limit); if any is refused, nothing is stored and the exit code is 1."})
    static final class Apply implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Option(names = {"-f", "--filename"}, required = true, paramLabel = "FILE|DIR",
                description = "A manifest file, or a folder of .yaml/.yml/.json files; repeatable.")
        List<Path> files;

        @Option(names = {"-n", "--namespace"}, description = "Namespace for objects that do not name one (default: default).")
        String namespace;

        @Override
        public Integer call() {
            StateDir state = cluster.state();
            ClusterInfo.require(state);
            List<KubeObject> objects = new ArrayList<>();
            for (Path f : files) {
                objects.addAll(Manifests.read(f, msg -> err(spec).println("warning: " + msg)));
            }
            List<Map.Entry<KubeObject, ManifestStore.Outcome>> applied = new ManifestStore(state).apply(objects, namespace);
            // Only now, with everything stored: a refused apply printed nothing as created or configured.
            for (Map.Entry<KubeObject, ManifestStore.Outcome> e : applied) {
                Admission.unread(e.getKey()).ifPresent(w -> err(spec).println("warning: " + w));
                out(spec).println(e.getKey().reference() + " " + e.getValue().name().toLowerCase(java.util.Locale.ROOT));
            }
            return 0;
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = {"Deletes applied objects: `delete -f FILE|DIR` or `delete TYPE NAME...`.",
                    "Deleting a Namespace deletes everything in it."})
    static final class Delete implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Option(names = {"-f", "--filename"}, paramLabel = "FILE|DIR", description = "The manifests to delete; repeatable.")
        List<Path> files = List.of();

        @Option(names = {"-n", "--namespace"}, description = "Namespace (default: the object's, else default).")
        String namespace;

        @Option(names = "--ignore-not-found", description = "Objects that are not there are not an error.")
        boolean ignoreNotFound;

        @Parameters(paramLabel = "TYPE NAME", description = "A type (pod, deploy, svc, ns, ...) and names.")
        List<String> args = List.of();

        @Override
        public Integer call() {
            StateDir state = cluster.state();
            ClusterInfo.require(state);
            ManifestStore store = new ManifestStore(state);
            List<KubeObject> targets = new ArrayList<>();
            for (Path f : files) {
                targets.addAll(Manifests.read(f, msg -> { }));
            }
            store.checkForDelete(targets, namespace); // a file apply would refuse deletes nothing either
            int unreadableDeleted = 0;
            if (!args.isEmpty()) {
                if (args.size() < 2) {
                    throw new ManifestException("delete " + args.getFirst() + ": missing NAME (expected: delete TYPE NAME...)");
                }
                String kindKey = ManifestStore.kindKey(args.getFirst());
                for (String name : args.subList(1, args.size())) {
                    String ns = namespace != null ? namespace : "default";
                    KubeObject o = store.find(kindKey, ns, name).orElse(null);
                    if (o == null && store.deleteUnreadable(kindKey, ns, name)) {
                        out(spec).println(kindKey + "/" + name + " deleted (its stored manifest could not be read)");
                        unreadableDeleted++;
                        continue;
                    }
                    if (o == null) {
                        if (!ignoreNotFound) {
                            throw new LocalException(args.getFirst() + " \"" + name + "\" not found in namespace " + ns
                                    + " (ambitctl local get " + args.getFirst() + " -n " + ns + " lists them)");
                        }
                        continue;
                    }
                    targets.add(o);
                }
            }
            if (targets.isEmpty() && files.isEmpty()) {
                if ((ignoreNotFound || unreadableDeleted > 0) && !args.isEmpty()) {
                    return 0; // as kubectl: nothing there is what was asked for
                }
                throw new ManifestException("nothing to delete (expected: -f FILE|DIR, or TYPE NAME)");
            }
            int missing = 0;
            for (KubeObject o : targets) {
                List<KubeObject> removed = store.delete(o, namespace);
                if (removed.isEmpty()) {
                    missing++;
                    if (!ignoreNotFound) {
                        err(spec).println("error: " + o.reference() + " not found");
                    }
                }
                removed.forEach(r -> out(spec).println(r.reference() + " deleted"));
            }
            return missing > 0 && !ignoreNotFound ? 1 : 0;
        }
    }

    @Command(name = "label", mixinStandardHelpOptions = true,
            description = {"Sets (key=value) or removes (key-) labels on an applied object, e.g.",
                    "`label ns demo istio.io/dataplane-mode-` takes namespace demo out of the mesh at runtime."})
    static final class Label implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Option(names = {"-n", "--namespace"}, description = "The object's namespace (default: default).")
        String namespace;

        @Option(names = "--overwrite", description = "Allow changing a label's existing value.")
        boolean overwrite;

        @Parameters(index = "0", paramLabel = "TYPE", description = "ns, pod, svc, deploy, ...")
        String type;

        @Parameters(index = "1", paramLabel = "NAME")
        String name;

        @Parameters(index = "2..*", arity = "1..*", paramLabel = "KEY=VALUE|KEY-")
        List<String> changes;

        @Override
        public Integer call() {
            StateDir state = cluster.state();
            ClusterInfo.require(state);
            ManifestStore store = new ManifestStore(state);
            String ns = namespace != null ? namespace : "default";
            KubeObject o = store.find(ManifestStore.kindKey(type), ns, name).orElseThrow(() -> new LocalException(
                    type + " \"" + name + "\" not found" + (ManifestStore.kindKey(type).equals("namespace") ? ""
                            : " in namespace " + ns) + ": only applied objects can be labelled (pods of a Deployment:"
                            + " label its template and apply it)"));
            KubeObject next = store.label(o, changes, overwrite);
            out(spec).println(next.reference() + " labeled");
            return 0;
        }
    }

    // ------------------------------------------------------------------ get

    @Command(name = "get", mixinStandardHelpOptions = true,
            description = "Lists nodes, pods, services, deployments or namespaces, shaped like kubectl's output.")
    static final class Get implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(index = "0", paramLabel = "TYPE", description = "nodes, pods, services, deployments or namespaces (no, po, svc, deploy, ns).")
        String type;

        @Parameters(index = "1..*", paramLabel = "NAME", description = "Only these names.")
        List<String> names = List.of();

        @Option(names = {"-n", "--namespace"}, description = "Namespace (default: default).")
        String namespace;

        @Option(names = {"-A", "--all-namespaces"}, description = "Every namespace.")
        boolean all;

        @Option(names = {"-l", "--selector"}, description = "Label selector: key=value, key!=value, key, !key; comma-separated.")
        String selector;

        @Option(names = {"-o", "--output"}, description = "wide, json, yaml or name.")
        String output;

        @Override
        public Integer call() {
            StateDir state = cluster.state();
            KubectlPrinter.Format format = KubectlPrinter.Format.parse(output);
            Selector sel = Selector.parse(selector);
            String ns = namespace != null ? namespace : "default";
            Instant now = Instant.now();
            String kind = ManifestStore.kindKey(type);
            String text;
            int count;
            switch (kind) {
                case "no", "node", "nodes" -> {
                    ClusterInfo info = ClusterInfo.require(state);
                    String kernel = System.getProperty("os.version");
                    List<KubectlPrinter.NodeRow> rows = info.nodes().stream()
                            .filter(n -> names.isEmpty() || names.contains(n.name()))
                            .filter(n -> sel.matches(Map.of("kubernetes.io/hostname", n.name())))
                            .map(n -> new KubectlPrinter.NodeRow(n.name(), n.address(), n.podCidr(),
                                    n.agent() != null && n.agent().alive() && LocalCluster.agentReady(n), info.createdAt(),
                                    kernel))
                            .toList();
                    count = rows.size();
                    text = KubectlPrinter.nodes(rows, format, now);
                }
                case "pod" -> {
                    List<ClusterStatus.Pod> pods = ClusterStatus.require(state).pods().stream()
                            .filter(p -> all || p.namespace().equals(ns))
                            .filter(p -> names.isEmpty() || names.contains(p.name()))
                            .filter(p -> sel.matches(p.labels()))
                            .sorted(Comparator.comparing(ClusterStatus.Pod::namespace).thenComparing(ClusterStatus.Pod::name))
                            .toList();
                    count = pods.size();
                    text = KubectlPrinter.pods(pods, format, all, now);
                }
                case "service" -> {
                    List<ClusterStatus.Service> svcs = ClusterStatus.require(state).services().stream()
                            .filter(s -> all || s.namespace().equals(ns))
                            .filter(s -> names.isEmpty() || names.contains(s.name()))
                            .filter(s -> sel.matches(s.labels()))
                            .toList();
                    count = svcs.size();
                    text = KubectlPrinter.services(svcs, format, all, now);
                }
                case "deployment" -> {
                    ClusterInfo.require(state);
                    List<ClusterStatus.Pod> pods = ClusterStatus.require(state).pods();
                    List<KubectlPrinter.DeploymentRow> rows = new ArrayList<>();
                    for (KubeObject d : new ManifestStore(state).all()) {
                        if (!d.kind().equals("Deployment") || !(all || d.namespace().equals(ns))
                                || !(names.isEmpty() || names.contains(d.name())) || !sel.matches(d.labels())) {
                            continue;
                        }
                        String hash = Deployments.templateHash(d);
                        List<ClusterStatus.Pod> mine = pods.stream()
                                .filter(p -> p.namespace().equals(d.namespace()) && p.owner().equals(d.name())).toList();
                        int ready = (int) mine.stream().filter(p -> p.phase().equals("Running")
                                && p.ready() == p.containers().size() && !p.containers().isEmpty()).count();
                        int upToDate = (int) mine.stream()
                                .filter(p -> hash.equals(p.labels().get(Deployments.TEMPLATE_HASH_LABEL))).count();
                        rows.add(new KubectlPrinter.DeploymentRow(d, Deployments.replicas(d), ready, upToDate,
                                KubeObject.text(d.tree().path("metadata").path("creationTimestamp"))));
                    }
                    count = rows.size();
                    text = KubectlPrinter.deployments(rows, format, all, now);
                }
                case "namespace" -> {
                    ClusterInfo info = ClusterInfo.require(state);
                    Map<String, String> nss = new java.util.TreeMap<>();
                    nss.put("default", info.createdAt());
                    for (KubeObject o : new ManifestStore(state).all()) {
                        if (o.kind().equals("Namespace")) {
                            nss.put(o.name(), KubeObject.text(o.tree().path("metadata").path("creationTimestamp")));
                        } else if (o.namespaced()) {
                            nss.putIfAbsent(o.namespace(), "");
                        }
                    }
                    nss.keySet().removeIf(n -> !names.isEmpty() && !names.contains(n));
                    count = nss.size();
                    text = KubectlPrinter.namespaces(nss, format, now);
                }
                default -> throw new LocalException("get " + type
                        + ": unknown type (expected: nodes, pods, services, deployments or namespaces)");
            }
            if (count == 0 && (format == KubectlPrinter.Format.TABLE || format == KubectlPrinter.Format.WIDE)) {
                err(spec).println(kind.startsWith("no") || kind.equals("namespace") || all ? "No resources found"
                        : "No resources found in " + ns + " namespace.");
                return 0;
            }
            out(spec).print(text);
            return 0;
        }
    }

    // ------------------------------------------------------------------ exec / logs

    @Command(name = "exec", mixinStandardHelpOptions = true,
            description = {"Runs a command inside a pod (its network namespace, cgroup and /etc/hosts):",
                    "  exec [-n NS] POD|deploy/NAME -- CMD...",
                    "or inside a node's namespace:  exec --node NODE -- CMD..."})
    static final class Exec implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Option(names = {"-n", "--namespace"}, description = "The pod's namespace (default: default).")
        String namespace;

        @Option(names = "--node", paramLabel = "NODE", description = "Run in this node's namespace instead of a pod.")
        String node;

        @Option(names = {"-i", "--stdin"}, description = "Pass stdin to the command (default: /dev/null).")
        boolean stdin;

        @Option(names = "--timeout", paramLabel = "DURATION", description = "Kill the command after this long, e.g. 30s.")
        String timeout;

        @Parameters(paramLabel = "[POD] -- CMD", description = "The pod (unless --node), then the command.")
        List<String> args = List.of();

        @Override
        public Integer call() throws Exception {
            StateDir state = cluster.state();
            ClusterInfo info = ClusterInfo.require(state);
            List<String> rest = new ArrayList<>(args);
            ProcessBuilder pb;
            if (node != null) {
                ClusterInfo.Node n = info.node(node).orElseThrow(() -> new LocalException("node " + node
                        + " not found (nodes: " + info.nodeNames() + ")"));
                List<String> cmd = command(rest);
                List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", n.netns()));
                full.addAll(cmd);
                pb = new ProcessBuilder(full).redirectErrorStream(false);
            } else {
                if (rest.isEmpty() || rest.getFirst().equals("--")) {
                    throw new LocalException("exec: missing POD (expected: exec [-n NS] POD|deploy/NAME -- CMD...)");
                }
                String target = rest.removeFirst();
                ClusterStatus.Pod pod = ClusterStatus.require(state).pod(namespace != null ? namespace : "default", target);
                if (!pod.phase().equals("Running") || pod.netns().isEmpty()) {
                    throw new LocalException("pod " + pod.key() + " is " + pod.phase()
                            + (pod.reason().isEmpty() ? "" : " (" + pod.reason() + ")") + ": exec needs a running pod");
                }
                Map<String, String> env = pod.containers().isEmpty() ? Map.of() : pod.containers().getFirst().env();
                pb = Controller.podProcess(Path.of(pod.cgroup()), pod.netns(), command(rest), env, "/", pod.name());
                pb.redirectErrorStream(false);
            }
            pb.redirectInput(stdin ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.from(new File("/dev/null")));
            Process p = pb.start();
            Thread o = pump(p.getInputStream(), out(spec));
            Thread e = pump(p.getErrorStream(), err(spec));
            boolean finished;
            if (timeout != null) {
                finished = p.waitFor(Durations.parse("--timeout", timeout).toMillis(), TimeUnit.MILLISECONDS);
                if (!finished) {
                    p.destroyForcibly();
                    p.waitFor(5, TimeUnit.SECONDS);
                }
            } else {
                p.waitFor();
                finished = true;
            }
            o.join(5000);
            e.join(5000);
            out(spec).flush();
            err(spec).flush();
            if (!finished) {
                err(spec).println("error: command killed after " + timeout);
                return 124;
            }
            return p.exitValue();
        }

        private static List<String> command(List<String> rest) {
            List<String> cmd = new ArrayList<>(rest);
            if (!cmd.isEmpty() && cmd.getFirst().equals("--")) {
                cmd.removeFirst();
            }
            if (cmd.isEmpty()) {
                throw new LocalException("exec: missing command (expected: ... -- CMD [ARGS...])");
            }
            return cmd;
        }

        private static Thread pump(InputStream in, PrintWriter to) {
            return Thread.ofPlatform().daemon().start(() -> {
                try (Reader r = new java.io.InputStreamReader(in, StandardCharsets.UTF_8)) {
                    char[] buf = new char[8192];
                    int n;
                    while ((n = r.read(buf)) >= 0) {
                        synchronized (to) {
                            to.write(buf, 0, n);
                            to.flush();
                        }
                    }
                } catch (IOException ignored) {
                    // The process is gone.
                }
            });
        }
    }

    @Command(name = "logs", mixinStandardHelpOptions = true,
            description = {"Prints a log: a component (istiod, controller, agent-NODE or NODE) or a pod's container",
                    "(POD or deploy/NAME, -c CONTAINER; default: the first container)."})
    static final class Logs implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(index = "0", paramLabel = "COMPONENT|POD")
        String target;

        @Option(names = {"-n", "--namespace"}, description = "The pod's namespace (default: default).")
        String namespace;

        @Option(names = {"-c", "--container"}, description = "The pod's container (default: its first).")
        String container;

        @Option(names = "--tail", defaultValue = "-1", description = "Only the last N lines (default: all).")
        int tail;

        @Override
        public Integer call() throws IOException {
            StateDir state = cluster.state();
            ClusterInfo info = ClusterInfo.require(state);
            Path log = switch (target) {
                case "istiod", "istiod-lite" -> state.istiodLog();
                case "controller" -> state.controllerLog();
                default -> {
                    String nodeName = target.startsWith("agent-") ? target.substring(6) : target;
                    if (info.node(nodeName).isPresent()) {
                        yield state.agentLog(nodeName);
                    }
                    ClusterStatus.Pod pod = ClusterStatus.require(state).pod(namespace != null ? namespace : "default",
                            target);
                    String c = container != null ? container
                            : pod.containers().isEmpty() ? null : pod.containers().getFirst().name();
                    if (c == null) {
                        throw new LocalException("pod " + pod.key() + " has no containers running yet");
                    }
                    if (pod.containers().stream().noneMatch(x -> x.name().equals(c))) {
                        throw new LocalException("container " + c + " is not in pod " + pod.key() + " (containers: "
                                + pod.containers().stream().map(ClusterStatus.Container::name).toList() + ")");
                    }
                    yield state.containerLog(pod.namespace(), pod.name(), c);
                }
            };
            if (!Files.exists(log)) {
                return 0; // nothing written yet
            }
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            int from = tail < 0 ? 0 : Math.max(0, lines.size() - tail);
            PrintWriter out = out(spec);
            lines.subList(from, lines.size()).forEach(out::println);
            return 0;
        }
    }

    // ------------------------------------------------------------------ controller (hidden)

    @Command(name = "controller", hidden = true, description = "The cluster's controller loop (started by local up).")
    static final class ControllerCommand implements Callable<Integer> {
        @Mixin ClusterOptions cluster;

        @Override
        public Integer call() {
            Controller controller = Controller.create(cluster.state(), new PrintStream(System.err, true,
                    StandardCharsets.UTF_8));
            ServiceBalancer balancer = openBalancer(cluster.state());
            controller.balancer(ServiceBalancerHook.of(balancer));
            Thread main = Thread.currentThread();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                controller.stop();
                try {
                    main.join(3000);
                } catch (InterruptedException ignored) {
                    // Exiting anyway.
                }
            }, "ambit-controller-stop"));
            try {
                controller.run();
            } finally {
                balancer.close(); // descriptors only: the attachment stays pinned until local down
            }
            return 0;
        }

        /** The Service load balancer on the parent cgroup of every local pod. */
        private static ServiceBalancer openBalancer(StateDir state) {
            ClusterInfo info = ClusterInfo.require(state);
            Path pods = Path.of(info.cgroupRoot()).resolve(Topology.CGROUP_DIR).resolve("pods");
            try {
                Files.createDirectories(pods);
            } catch (IOException e) {
                throw new LocalException("cannot create the pods' cgroup " + pods + ": " + e.getMessage());
            }
            ServiceBalancer balancer = ServiceBalancer.open(Topology.BPFFS_ROOT.resolve(Topology.BALANCER_PINS));
            balancer.attach(pods);
            return balancer;
        }
    }
}
