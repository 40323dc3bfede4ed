package dev.ambit.ctl.local;

import dev.ambit.common.config.IstioPorts;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
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
                LocalCommand.Kill.class, LocalCommand.Start.class, AgentHandover.Command.class,
                LocalCommand.Apply.class, LocalCommand.Delete.class, GetCommand.class, ExecCommand.class,
                LocalCommand.Logs.class, LocalCommand.Label.class, LocalCommand.ControllerCommand.class,
                dev.ambit.ctl.local.addons.AddonCommand.class})
public final class LocalCommand {

    static PrintWriter out(CommandSpec spec) {
        return spec.commandLine().getOut();
    }

    static PrintWriter err(CommandSpec spec) {
        return spec.commandLine().getErr();
    }

    // ------------------------------------------------------------------ up / down / status

    @Command(name = "up", mixinStandardHelpOptions = true,
            description = {"Builds the cluster: node network, istiod-lite, one node agent per node, the controller,",
                    "and Istio's demo ingress gateway. The machine reaches the node network over veth ambit-l-host",
                    "(10.250.0.1): LoadBalancer Services' addresses (10.250.0.200-250) and node ports on every node."})
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

        @Option(names = "--mesh-config", paramLabel = "FILE",
                description = "Istio's mesh config for istiod-lite (the istio ConfigMap's \"mesh\"): "
                        + "pathNormalization, extensionProviders (envoyExtAuthzHttp).")
        Path meshConfig;

        @Option(names = "--no-ingress",
                description = "Leave out Istio's demo ingress gateway (istio-ingressgateway in istio-system, a LoadBalancer Service).")
        boolean noIngress;

        @Option(names = "--addons", paramLabel = "ADDON", split = ",",
                description = "Istio's sample addons to run in the cluster once it is up: prometheus"
                        + " (same as `local addon enable prometheus` after up).")
        List<String> addons = List.of();

        @Override
        public Integer call() {
            dev.ambit.ctl.local.addons.AddonCommand.check(addons); // before anything is built
            Duration wait = Durations.parse("--timeout", timeout);
            LocalCluster.up(cluster.state(), new LocalCluster.UpOptions(nodes, Home.detect(home), cluster.cgroupRoot(),
                    wait, certTtl == null ? null : Durations.parse("--cert-ttl", certTtl), meshConfig, !noIngress),
                    out(spec));
            for (String addon : addons) {
                dev.ambit.ctl.local.addons.AddonCommand.enableAndWait(cluster.state(), addon,
                        dev.ambit.ctl.local.addons.Addons.DEFAULT_SCRAPE_INTERVAL, wait, out(spec));
            }
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
            List<String> removed = LocalTeardown.down(cluster.state(), cluster.cgroupRoot, out(spec));
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
                    !istiodUp ? "Down" : NetnsHttp.listening(Topology.CP_NS, "127.0.0.1", IstioPorts.ISTIOD_SECURE) ? "Running" : "Starting",
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

    // ------------------------------------------------------------------ logs

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
            // LoadBalancer addresses and node ports: served from here, so they end with the controller.
            LoadBalancerProxy loadBalancer = LoadBalancerProxy.create(message -> {
                System.err.println(Instant.now() + " " + message);
                System.err.flush();
            });
            controller.externalTraffic(loadBalancer);
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
                loadBalancer.close();
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
