package dev.ambit.it.kube;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The kubelet and container runtime of one node of the kubelet-less cluster. For a pod it does
 * what they do, in their order: the Pod object (with {@code nodeName}; the API server gives
 * the UID), the pod's cgroup in the kubelet's layout for its cgroup driver, the sandbox (a
 * network namespace with {@code eth0} and an address: what the interface plugin would make),
 * then the CNI chain the node's configuration lists after the interface plugin (the real
 * {@code ambit-cni} that the chart's {@code install-cni} chained), retried while it says "try
 * again later" (code 11) as the kubelet retries the sandbox, and only then the container: a
 * process in the container's cgroup and the pod's namespace; then the pod's status (Running,
 * its IP, Ready).
 */
public final class Kubelet implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The kubelet's {@code --cgroup-driver}. */
    public enum CgroupDriver { SYSTEMD, CGROUPFS }

    /** A pod this kubelet runs; {@code sandboxAttempts} is how many CNI ADDs it took. */
    public record RunningPod(Pod pod, String uid, Network.Netns netns, Path cgroup, Path container, Process process,
                             int sandboxAttempts) {
        public String name() {
            return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
        }
    }

    /** A finished command's exit code and output. */
    public record Exec(int exit, String stdout, String stderr) {}

    private final String node;
    private final CgroupDriver driver;
    private final Path cgroupRoot;
    private final Path hostRoot;
    private final Path cniBinDir;
    private final Path cniConfDir;
    private final Network network;
    private final KubernetesClient api;
    private final Path logs;
    private final List<RunningPod> pods = new ArrayList<>();
    private final List<Path> cgroups = new ArrayList<>();
    private boolean closed;

    /**
     * @param cgroupRoot the node's cgroup v2 root (its kubelet's cgroups go under it)
     * @param hostRoot where this node's host file system paths are ({@code /var/run/ambit} is
     *     {@code hostRoot/var/run/ambit}): paths in the CNI configuration are read through it
     * @param cniBinDir the node's CNI bin folder, cniConfDir its configuration folder
     */
    public Kubelet(String node, CgroupDriver driver, Path cgroupRoot, Path hostRoot, Path cniBinDir, Path cniConfDir,
                   Network network, KubernetesClient api, Path logs) {
        this.node = requireNonNull(node, "node");
        this.driver = requireNonNull(driver, "driver");
        this.cgroupRoot = requireNonNull(cgroupRoot, "cgroupRoot");
        this.hostRoot = requireNonNull(hostRoot, "hostRoot");
        this.cniBinDir = requireNonNull(cniBinDir, "cniBinDir");
        this.cniConfDir = requireNonNull(cniConfDir, "cniConfDir");
        this.network = requireNonNull(network, "network");
        this.api = requireNonNull(api, "api");
        this.logs = requireNonNull(logs, "logs");
    }

    public String node() {
        return node;
    }

    /** A host path of this node as a path on this machine. */
    public Path hostPath(String path) {
        return Path.of(hostRoot + path);
    }

    /** The pod's cgroup (QoS class BestEffort) in this kubelet's layout. */
    Path podCgroup(String uid) {
        return switch (driver) {
            case SYSTEMD -> cgroupRoot.resolve("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                    + uid.replace('-', '_') + ".slice");
            case CGROUPFS -> cgroupRoot.resolve("kubepods/besteffort/pod" + uid);
        };
    }

    private Path containerCgroup(Path pod, String containerId) {
        return pod.resolve(driver == CgroupDriver.SYSTEMD ? "cri-containerd-" + containerId + ".scope" : containerId);
    }

    /**
     * Runs pod {@code name} from {@code template} (its labels, service account and first
     * container's command and env) on this node; waits up to {@code sandboxTimeout} for the
     * CNI chain to let the sandbox through.
     */
    public RunningPod run(String namespace, String name, PodTemplateSpec template, Duration sandboxTimeout)
            throws IOException, InterruptedException {
        Pod pod = api.pods().inNamespace(namespace).resource(new PodBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name)
                .withLabels(template.getMetadata().getLabels()).endMetadata()
                .withSpec(template.getSpec()).editSpec().withNodeName(node).endSpec().build()).create();
        String uid = pod.getMetadata().getUid();
        Path cgroup = podCgroup(uid);
        synchronized (pods) {
            if (closed) {
                throw new IllegalStateException("kubelet " + node + " is closed");
            }
            // Listed before its processes exist, so close() removes it whatever happens next.
            cgroups.add(cgroup);
            Files.createDirectories(cgroup);
        }
        Network.Netns netns = network.add(name);
        String sandboxId = HexFormat.of().formatHex(randomBytes());
        int attempts = cniAdd(pod, netns, sandboxId, System.nanoTime() + sandboxTimeout.toNanos());

        Container c = template.getSpec().getContainers().getFirst();
        Path container = containerCgroup(cgroup, HexFormat.of().formatHex(randomBytes()));
        Files.createDirectories(container);
        List<String> command = new ArrayList<>(c.getCommand());
        if (c.getArgs() != null) {
            command.addAll(c.getArgs());
        }
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        env.put("HOSTNAME", name);
        env.put("POD_NAME", name);
        for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
            env.put(e.getName(), e.getValue());
        }
        Process p = startIn(container, netns, command, env, logs.resolve(namespace + "-" + name + ".log"));
        pod = api.pods().inNamespace(namespace).withName(name).editStatus(x -> new PodBuilder(x).editOrNewStatus()
                .withPhase("Running").withPodIP(netns.address().getHostAddress())
                .withPodIPs(new PodIPBuilder().withIp(netns.address().getHostAddress()).build())
                .withHostIP(network.hostAddress().getHostAddress())
                .withConditions(new PodConditionBuilder().withType("Ready").withStatus("True").build())
                .endStatus().build());
        RunningPod running = new RunningPod(pod, uid, netns, cgroup, container, p, attempts);
        synchronized (pods) {
            pods.add(running);
        }
        return running;
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[32];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    /** ADD through the chain after the interface plugin until it succeeds; returns the attempts. */
    private int cniAdd(Pod pod, Network.Netns netns, String sandboxId, long deadline)
            throws IOException, InterruptedException {
        int attempts = 0;
        while (true) {
            attempts++;
            String failure = cniAddOnce(pod, netns, sandboxId);
            if (failure == null) {
                return attempts;
            }
            if (!failure.startsWith("11 ") || System.nanoTime() > deadline) {
                throw new IllegalStateException("pod " + pod.getMetadata().getName() + " on " + node
                        + ": sandbox failed after " + attempts + " attempts: " + failure);
            }
            Thread.sleep(200); // the kubelet's sandbox retry (its own backoff is longer)
        }
    }

    /** One ADD; null on success, else "CODE message". */
    private String cniAddOnce(Pod pod, Network.Netns netns, String sandboxId) throws IOException, InterruptedException {
        JsonNode conflist = conflist();
        ObjectNode prev = JSON.createObjectNode();
        prev.put("cniVersion", conflist.path("cniVersion").asText());
        prev.putArray("interfaces").addObject().put("name", "eth0").put("sandbox", netns.path().toString());
        ArrayNode ips = prev.putArray("ips");
        ips.addObject().put("address", netns.address().getHostAddress() + "/24").put("interface", 0);
        prev.putObject("dns");
        JsonNode plugins = conflist.path("plugins");
        for (int i = 1; i < plugins.size(); i++) { // plugins[0]: the interface plugin, played above
            ObjectNode conf = ((ObjectNode) plugins.get(i)).deepCopy();
            conf.put("cniVersion", conflist.path("cniVersion").asText());
            conf.put("name", conflist.path("name").asText());
            if (conf.has("agent_socket")) {
                // A host path: where this node's host file system is here.
                conf.put("agent_socket", hostPath(conf.get("agent_socket").asText()).toString());
            }
            conf.set("prevResult", prev);
            Path plugin = cniBinDir.resolve(conf.path("type").asText());
            ProcessBuilder pb = new ProcessBuilder(plugin.toString());
            Map<String, String> env = pb.environment();
            env.clear();
            env.put("CNI_COMMAND", "ADD");
            env.put("CNI_CONTAINERID", sandboxId);
            env.put("CNI_NETNS", netns.path().toString());
            env.put("CNI_IFNAME", "eth0");
            env.put("CNI_PATH", cniBinDir.toString());
            env.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod.getMetadata().getNamespace()
                    + ";K8S_POD_NAME=" + pod.getMetadata().getName() + ";K8S_POD_INFRA_CONTAINER_ID=" + sandboxId
                    + ";K8S_POD_UID=" + pod.getMetadata().getUid());
            Process p = pb.start();
            p.getOutputStream().write(JSON.writeValueAsBytes(conf));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "0 plugin " + plugin + " hung";
            }
            Files.writeString(logs.resolve("cni-" + node + ".log"), "ADD " + pod.getMetadata().getName() + " exit "
                    + p.exitValue() + ": " + out.strip() + (err.isBlank() ? "" : "\n" + err.strip()) + "\n",
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            if (p.exitValue() != 0) {
                JsonNode e = JSON.readTree(out);
                return e.path("code").asInt() + " " + e.path("msg").asText() + ": " + e.path("details").asText();
            }
            prev = (ObjectNode) JSON.readTree(out);
        }
        return null;
    }

    /** The node's CNI configuration: the first conflist by name, as the runtime picks it. */
    private JsonNode conflist() throws IOException {
        try (Stream<Path> s = Files.list(cniConfDir)) {
            Path f = s.filter(p -> p.toString().endsWith(".conflist")).sorted().findFirst()
                    .orElseThrow(() -> new IllegalStateException("no CNI configuration in " + cniConfDir));
            return JSON.readTree(f.toFile());
        }
    }

    /** A process in cgroup {@code cgroup} and network namespace {@code netns}. */
    private static Process startIn(Path cgroup, Network.Netns netns, List<String> command, Map<String, String> env,
                                   Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && net=\"$1\" && shift && exec nsenter --net=\"$net\" -- \"$@\"",
                cgroup.toString(), netns.path().toString()));
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().clear();
        pb.environment().putAll(env);
        Files.createDirectories(log.getParent());
        pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        return pb.start();
    }

    /** {@code kubectl exec}: {@code command} in the pod's container (cgroup and namespace), waited for. */
    public Exec exec(RunningPod pod, int timeoutSeconds, String... command) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && net=\"$1\" && shift && exec nsenter --net=\"$net\" -- \"$@\"",
                pod.container().toString(), pod.netns().path().toString()));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        String[] err = new String[1];
        Thread errReader = Thread.ofVirtual().start(() -> {
            try {
                err[0] = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                err[0] = e.toString();
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        errReader.join(1_000);
        return new Exec(p.isAlive() ? -1 : p.exitValue(), out, err[0] == null ? "" : err[0]);
    }

    /** Kills every pod's processes (cgroup.kill) and removes the pods' cgroups. */
    @Override
    public void close() {
        List<String> problems = new ArrayList<>();
        List<Path> all;
        synchronized (pods) {
            closed = true;
            for (RunningPod p : pods) {
                p.process().destroyForcibly();
            }
            all = List.copyOf(cgroups);
        }
        for (Path cgroup : all) {
            removeCgroup(cgroup, problems);
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("kubelet " + node + " cleanup incomplete: " + problems);
        }
    }

    /** Kills what runs in {@code dir} and its descendants and removes them, deepest first. */
    static void removeCgroup(Path dir, List<String> problems) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.walk(dir)) {
            dirs = s.filter(Files::isDirectory).sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (Path d : dirs) {
            try {
                Files.writeString(d.resolve("cgroup.kill"), "1");
            } catch (IOException ignored) {
                // no cgroup.kill (kernel < 5.14) or already gone
            }
            boolean removed = false;
            for (int i = 0; i < 100 && !removed; i++) {
                try {
                    Files.deleteIfExists(d);
                    removed = true;
                } catch (IOException e) {
                    try {
                        Thread.sleep(20); // killed processes leave the cgroup shortly after
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            if (!removed) {
                problems.add("cgroup " + d + " still busy");
            }
        }
    }
}
