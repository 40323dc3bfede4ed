package dev.ambit.it.kube;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A Kubernetes cluster without kubelets or containers: fabric8's mock API server (with
 * {@link ApiServer}'s TokenReview), the rendered {@code ambit} chart applied to it, and its
 * workloads run as processes with the arguments, environment, volumes and capabilities the
 * chart renders ({@link ChartContainer}): istiod-lite, and per node the node agent and its
 * {@code install-cni} container, each pod in its own network namespace on {@link Network}.
 * Each node has its own host file system folder, cgroup v2 subtree and bpffs folder, and a
 * {@link Kubelet}.
 *
 * <p>{@link #close()} stops every process and removes the namespaces, cgroups and pins, also
 * after a failure half-way; {@link #sweep()} removes what a killed run left.
 */
public final class KubeletlessCluster implements AutoCloseable {

    static final Path CGROUP_V2 = Path.of(System.getProperty("ambit.cgroupRoot", "/sys/fs/cgroup/unified"));
    static final Path BPFFS = Path.of("/sys/fs/bpf");
    private static final String ISTIOD_HOST = "istiod." + RenderedCharts.NAMESPACE + ".svc";

    /** One node: its kubelet and the node agent pod's processes. */
    public final class Node {
        final String name;
        final Path hostRoot;
        final Path cgroupRoot;
        final Path bpffs;
        final Kubelet kubelet;
        final Network.Netns agentNetns;
        final Pod agentPod;
        final boolean tokenNamesNode;
        Process agent;
        int agentStarts;

        Node(String name, Kubelet.CgroupDriver driver, boolean tokenNamesNode) throws IOException {
            this.name = name;
            this.tokenNamesNode = tokenNamesNode;
            hostRoot = Files.createDirectories(work.resolve(name + "/host"));
            cgroupRoot = Files.createDirectories(cgroupTree.resolve(name));
            bpffs = Files.createDirectories(bpffsTree.resolve(name));
            PodSpec spec = charts.nodeAgentPod();
            kubelet = new Kubelet(name, driver, cgroupRoot, hostRoot, hostPath(spec, "cni-bin-dir"),
                    hostPath(spec, "cni-net-dir"), network, api.client(), logs);
            agentNetns = network.add("agent-" + name);
            // The DaemonSet's pod on this node, as its controller would create it.
            agentPod = api.client().pods().inNamespace(RenderedCharts.NAMESPACE).resource(new PodBuilder()
                    .withNewMetadata().withName("ambit-node-agent-" + name).withNamespace(RenderedCharts.NAMESPACE)
                    .withLabels(charts.only(io.fabric8.kubernetes.api.model.apps.DaemonSet.class, "ambit-node-agent")
                            .getSpec().getTemplate().getMetadata().getLabels()).endMetadata()
                    .withSpec(spec).editSpec().withNodeName(name).endSpec().build()).create();
            // Its IP, as its kubelet reports it (the mesh view reads the agent there, on 15020).
            String ip = agentNetns.address().getHostAddress();
            api.client().pods().inNamespace(RenderedCharts.NAMESPACE).withName(agentPod.getMetadata().getName())
                    .editStatus(x -> new PodBuilder(x).editOrNewStatus().withPhase("Running").withPodIP(ip)
                            .withPodIPs(new io.fabric8.kubernetes.api.model.PodIPBuilder().withIp(ip).build())
                            .endStatus().build());
        }

        public Kubelet kubelet() {
            return kubelet;
        }

        public InetAddress agentAddress() {
            return agentNetns.address();
        }

        /** A hostPath volume of the node agent's pod, as this node's folder here. */
        private Path hostPath(PodSpec spec, String volume) throws IOException {
            Volume v = spec.getVolumes().stream().filter(x -> x.getName().equals(volume)).findFirst()
                    .orElseThrow(() -> new AssertionError("node agent pod: no volume " + volume));
            return Files.createDirectories(Path.of(hostRoot + v.getHostPath().getPath()));
        }

        /** The agent pod's volumes as folders: hostPaths in this node's, secrets and projected tokens filled in. */
        private ChartContainer mount(Container c) throws IOException {
            ChartContainer cc = ChartContainer.of(c);
            Path podDir = work.resolve(name + "/pods/" + agentPod.getMetadata().getUid());
            for (Volume v : charts.nodeAgentPod().getVolumes()) {
                Path dir;
                if (v.getName().equals("bpffs")) {
                    dir = bpffs; // a bpffs of its own per node: pins are node-local
                } else if (v.getName().equals("cgroup")) {
                    dir = cgroupRoot; // the node's cgroup v2 tree
                } else if (v.getHostPath() != null) {
                    dir = Files.createDirectories(Path.of(hostRoot + v.getHostPath().getPath()));
                } else {
                    dir = Files.createDirectories(podDir.resolve(v.getName()));
                    if (v.getSecret() != null) {
                        Secret s = charts.caSecret(v.getSecret().getSecretName());
                        for (var item : v.getSecret().getItems()) {
                            Files.write(dir.resolve(item.getPath()), Base64.getDecoder().decode(s.getData().get(item.getKey())));
                        }
                    } else if (v.getProjected() != null) {
                        for (var src : v.getProjected().getSources()) {
                            var sat = src.getServiceAccountToken();
                            Files.writeString(dir.resolve(sat.getPath()), api.issueToken(RenderedCharts.NAMESPACE,
                                    charts.nodeAgentPod().getServiceAccountName(), sat.getAudience(),
                                    agentPod.getMetadata().getName(), agentPod.getMetadata().getUid(),
                                    tokenNamesNode ? name : null));
                        }
                    }
                }
                cc.volume(v.getName(), dir);
            }
            return cc.field("spec.nodeName", name).field("metadata.namespace", RenderedCharts.NAMESPACE)
                    .env("KUBECONFIG", kubeconfig(podDir, charts.nodeAgentPod().getServiceAccountName()).toString())
                    .jvm(jvm(podDir.resolve("tmp")));
        }

        /** Starts the node agent container (again, after {@link #stopAgent}). */
        public void startAgent() throws IOException {
            ChartContainer c = mount(RenderedCharts.container(charts.nodeAgentPod(), "node-agent"))
                    .defaultPath("root-cert", "/var/run/secrets/istio/root-cert.pem")
                    .defaultPath("token", "/var/run/secrets/tokens/istio-token");
            String debugLog = System.getProperty("ambit.it.agentLog");
            if (debugLog != null) {
                c.extraArg("--log=" + debugLog); // a later flag wins: for looking into a failure only
            }
            agentStarts++;
            agent = c.start(java, repo.resolve("node-agent/target/node-agent.jar"), agentNetns.path(),
                    logs.resolve("node-agent-" + name + "-" + agentStarts + ".log"));
            processes.add(agent);
        }

        /** SIGTERM, as the kubelet stops the container; the pins (capture) stay. */
        public void stopAgent() {
            ChartContainer.stop(agent, charts.nodeAgentPod().getTerminationGracePeriodSeconds().intValue());
        }

        /** Starts the install-cni container, after the primary CNI wrote its configuration. */
        Process startInstallCni() throws IOException {
            PodSpec spec = charts.nodeAgentPod();
            // The primary CNI's configuration, which install-cni chains the plugin into.
            Files.writeString(hostPath(spec, "cni-net-dir").resolve("10-kubeletless.conflist"), """
                    {"cniVersion": "1.0.0", "name": "kubeletless", "plugins": [{"type": "kubeletless-veth"}]}
                    """);
            Process p = mount(RenderedCharts.container(spec, "install-cni")).start(java,
                    repo.resolve("node-agent/target/node-agent.jar"), agentNetns.path(),
                    logs.resolve("install-cni-" + name + ".log"));
            processes.add(p);
            return p;
        }

        /** Waits until install-cni chained the plugin, then stops it (it would keep watching the file). */
        void awaitCniChained(Process installer) throws IOException, InterruptedException {
            PodSpec spec = charts.nodeAgentPod();
            Path conf = hostPath(spec, "cni-net-dir").resolve("10-kubeletless.conflist");
            long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
            while (!(Files.readString(conf).contains("ambit-cni")
                    && Files.isExecutable(hostPath(spec, "cni-bin-dir").resolve("ambit-cni")))) {
                if (!installer.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("install-cni on " + name + " did not chain the plugin; see "
                            + logs.resolve("install-cni-" + name + ".log"));
                }
                Thread.sleep(50);
            }
            // Stopped, it leaves the plugin in place: the DaemonSet still exists.
            ChartContainer.stop(installer, 10);
        }

        /** The running (last started) agent's output: its log and its access log lines. */
        public String agentLog() {
            try {
                return Files.readString(logs.resolve("node-agent-" + name + "-" + agentStarts + ".log"));
            } catch (IOException e) {
                return "";
            }
        }

        /** Whether the agent's readiness endpoint says ready. */
        public boolean agentReady() {
            // The DaemonSet's readiness probe, as the kubelet would run it.
            return get(ChartContainer.of(RenderedCharts.container(charts.nodeAgentPod(), "node-agent"))
                    .readinessUrl(agentNetns.address().getHostAddress())) == 200;
        }

        /** The agent's Prometheus text ({@code :15020/metrics}). */
        public String agentMetrics() {
            return text("http://" + agentNetns.address().getHostAddress() + ":15020/metrics");
        }
    }

    private final Path repo;
    private final Path work;
    private final Path logs;
    private final Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    private final List<Process> processes = new ArrayList<>();
    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    private Network network;
    private ApiServer api;
    private RenderedCharts charts;
    private Path cgroupTree;
    private Path bpffsTree;
    private Path hostsFile;
    private Network.Netns istiodNetns;
    private Network.Netns dashboardNetns;
    private int dashboardPort;

    private KubeletlessCluster(Path repo, Path work, Path logs) {
        this.repo = repo;
        this.work = work;
        this.logs = logs;
    }

    /**
     * Renders the charts, starts the API server and applies them, starts istiod-lite, and for
     * each node of {@code drivers} its install-cni and node agent (not waiting for readiness).
     */
    public static KubeletlessCluster start(Path repo, Path work, Path logs, Map<String, Kubelet.CgroupDriver> drivers,
                                           List<HasMetadata> workloadsConfig) throws IOException, InterruptedException {
        sweep();
        KubeletlessCluster c = new KubeletlessCluster(repo, work, logs);
        try {
            c.network = Network.create();
            c.cgroupTree = Files.createDirectories(CGROUP_V2.resolve(c.network.id()));
            c.bpffsTree = Files.createDirectories(BPFFS.resolve(c.network.id()));
            c.api = ApiServer.start(c.network.hostAddress());
            // helm install: Helm's lookup (the CA Secret) asks this cluster, then everything is applied.
            c.api.writeAdminKubeconfig();
            long t0 = System.nanoTime();
            // With the mesh view (issue 19), off by default.
            c.charts = RenderedCharts.render(repo, Map.of("dashboard.enabled", "true"));
            long t1 = System.nanoTime();
            c.apply(c.charts.objects());
            System.out.printf("kubelet-less cluster: charts rendered in %d ms, applied in %d ms%n",
                    (t1 - t0) / 1_000_000, (System.nanoTime() - t1) / 1_000_000);
            c.apply(workloadsConfig);
            c.istiodNetns = c.network.add("istiod");
            // The cluster DNS, for the one name the charts make the agents resolve.
            c.hostsFile = Files.writeString(Files.createDirectories(work).resolve("hosts"),
                    c.istiodNetns.address().getHostAddress() + " " + ISTIOD_HOST + "\n");
            c.startIstiod();
            boolean nameOnToken = true;
            for (var e : drivers.entrySet()) {
                // One node's token names its node (API server >= 1.30), the other's only its pod
                // (older): istiod-lite's CA then finds the node through the pod.
                Node n = c.new Node(e.getKey(), e.getValue(), nameOnToken);
                nameOnToken = false;
                c.nodes.put(e.getKey(), n);
            }
            // All at once, as the DaemonSet's pods start on every node.
            List<Process> installers = new ArrayList<>();
            for (Node n : c.nodes.values()) {
                installers.add(n.startInstallCni());
                n.startAgent();
            }
            int i = 0;
            for (Node n : c.nodes.values()) {
                n.awaitCniChained(installers.get(i++));
            }
            return c;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            try {
                c.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void apply(List<HasMetadata> objects) {
        // Namespaces first, as kubectl apply orders them.
        for (HasMetadata o : objects) {
            if (o instanceof Namespace) {
                api.client().resource(o).create();
            }
        }
        if (api.client().namespaces().withName(RenderedCharts.NAMESPACE).get() == null) {
            api.client().namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder()
                    .withNewMetadata().withName(RenderedCharts.NAMESPACE).endMetadata().build()).create();
        }
        for (HasMetadata o : objects) {
            if (o instanceof GenericKubernetesResource g) {
                // A custom resource: where its CRD says it lives (the mock has no discovery for it).
                String group = g.getApiVersion().substring(0, g.getApiVersion().indexOf('/'));
                CustomResourceDefinition crd = charts.crds().stream().filter(d -> d.getSpec().getGroup().equals(group)
                        && d.getSpec().getNames().getKind().equals(g.getKind())).findFirst()
                        .orElseThrow(() -> new AssertionError("no CRD in the base chart for " + g.getApiVersion()
                                + " " + g.getKind()));
                ResourceDefinitionContext ctx = new ResourceDefinitionContext.Builder().withGroup(group)
                        .withVersion(g.getApiVersion().substring(group.length() + 1)).withKind(g.getKind())
                        .withPlural(crd.getSpec().getNames().getPlural())
                        .withNamespaced(crd.getSpec().getScope().equals("Namespaced")).build();
                api.client().genericKubernetesResources(ctx).inNamespace(g.getMetadata().getNamespace()).resource(g)
                        .create();
            } else if (!(o instanceof Namespace)) {
                api.client().resource(o).create();
            }
        }
    }

    private String[] jvm(Path tmp) throws IOException {
        Files.createDirectories(tmp);
        // The images' JVMs start with their own flags; these only keep the start-up short on a
        // shared machine (C1 only) and give the test's DNS and the tmp volume.
        return new String[] {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Xshare:auto", "-Djava.io.tmpdir=" + tmp, "-Djdk.net.hosts.file=" + hostsFile};
    }

    /** What a pod's in-cluster client configuration amounts to: the API server and the service account's token. */
    private Path kubeconfig(Path podDir, String serviceAccount) throws IOException {
        String token = api.issueToken(RenderedCharts.NAMESPACE, serviceAccount, "https://kubernetes.default.svc",
                podDir.getFileName().toString(), podDir.getFileName().toString(), null);
        return api.writeKubeconfig(podDir.resolve("kubeconfig"), token, RenderedCharts.NAMESPACE);
    }

    private void startIstiod() throws IOException {
        PodSpec spec = charts.istiodPod();
        Path podDir = work.resolve("istiod");
        ChartContainer c = ChartContainer.of(RenderedCharts.container(spec, "discovery"));
        for (Volume v : spec.getVolumes()) {
            Path dir = Files.createDirectories(podDir.resolve(v.getName()));
            if (v.getSecret() != null) {
                Secret s = charts.caSecret(v.getSecret().getSecretName());
                for (var e : s.getData().entrySet()) {
                    Files.write(dir.resolve(e.getKey()), Base64.getDecoder().decode(e.getValue()));
                }
            }
            c.volume(v.getName(), dir);
        }
        c.env("KUBECONFIG", kubeconfig(podDir, spec.getServiceAccountName()).toString())
                .jvm(jvm(podDir.resolve("tmp")));
        processes.add(c.start(java, repo.resolve("istiod-lite/target/istiod-lite.jar"), istiodNetns.path(),
                logs.resolve("istiod-lite.log")));
    }

    /**
     * The mesh view's Deployment ({@code ambitctl dashboard --kubernetes}) as rendered: its
     * service account's token in a kubeconfig (what in-cluster configuration amounts to), in
     * its own pod namespace on the bridge, from where it reads the agents at their pod IPs.
     */
    public void startDashboard() throws IOException {
        PodSpec spec = charts.dashboardPod();
        Path podDir = work.resolve("dashboard");
        Container container = RenderedCharts.container(spec, "dashboard");
        ChartContainer c = ChartContainer.of(container);
        for (Volume v : spec.getVolumes()) {
            c.volume(v.getName(), Files.createDirectories(podDir.resolve(v.getName())));
        }
        c.env("KUBECONFIG", kubeconfig(podDir, spec.getServiceAccountName()).toString()).jvm(jvm(podDir.resolve("tmp")));
        dashboardPort = container.getPorts().getFirst().getContainerPort();
        dashboardNetns = network.add("dashboard");
        processes.add(c.start(java, repo.resolve("ambitctl/target/ambitctl.jar"), dashboardNetns.path(),
                logs.resolve("dashboard.log")));
    }

    /** Whether the mesh view's readiness probe (pods listed from the API server) passes. */
    public boolean dashboardReady() {
        return get(ChartContainer.of(RenderedCharts.container(charts.dashboardPod(), "dashboard"))
                .readinessUrl(dashboardNetns.address().getHostAddress())) == 200;
    }

    /** {@code GET pathAndQuery} of the mesh view in its pod (such as {@code /api/graph}), the body or "". */
    public String dashboard(String pathAndQuery) {
        return text("http://" + dashboardNetns.address().getHostAddress() + ":" + dashboardPort + pathAndQuery);
    }

    public ApiServer api() {
        return api;
    }

    public Node node(String name) {
        return nodes.get(name);
    }

    public boolean istiodReady() {
        return get(ChartContainer.of(RenderedCharts.container(charts.istiodPod(), "discovery"))
                .readinessUrl(istiodNetns.address().getHostAddress())) == 200;
    }

    private int get(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private String text(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    /** Stops everything and removes what the cluster made on this machine; each step runs even if one fails. */
    @Override
    public void close() {
        List<String> problems = new ArrayList<>();
        for (Node n : nodes.values()) {
            try {
                n.kubelet.close();
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
        for (Process p : processes) {
            ChartContainer.stop(p, 10);
        }
        // Unpinned, the capture's links detach (no agent holds them any more).
        if (bpffsTree != null) {
            deleteTree(bpffsTree, problems);
        }
        if (cgroupTree != null) {
            Kubelet.removeCgroup(cgroupTree, problems);
        }
        for (AutoCloseable c : new AutoCloseable[] {network, api}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                problems.add(e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("kubelet-less cluster cleanup incomplete: " + problems);
        }
    }

    private static void deleteTree(Path root, List<String> problems) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | UncheckedIOException e) {
            problems.add("remove " + root + ": " + e.getMessage());
        }
    }

    /** What runs of dead JVMs (or this one) left: namespaces, cgroup trees, pin folders. */
    public static List<String> leftovers() {
        List<String> out = new ArrayList<>(Network.leftovers());
        for (Path dir : List.of(CGROUP_V2, BPFFS)) {
            if (Files.isDirectory(dir)) {
                try (Stream<Path> s = Files.list(dir)) {
                    s.filter(p -> Network.abandoned(p.getFileName().toString())).forEach(p -> out.add(p.toString()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        return out;
    }

    /** Removes what killed runs left. */
    public static void sweep() {
        List<String> problems = new ArrayList<>();
        Network.sweep();
        for (String left : leftovers()) {
            Path p = Path.of(left);
            if (p.startsWith(BPFFS)) {
                deleteTree(p, problems);
            } else if (p.startsWith(CGROUP_V2)) {
                Kubelet.removeCgroup(p, problems);
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("sweep incomplete: " + problems);
        }
    }
}
