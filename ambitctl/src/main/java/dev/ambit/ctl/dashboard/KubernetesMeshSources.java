package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.admin.AgentAdmin;
import dev.ambit.istiod.model.Workloads;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The mesh view's sources in Kubernetes: every pod from one informer on the API server (list
 * and watch of pods in all namespaces, the only API the view uses), and the node agents as the
 * pods of the node-agent DaemonSet (namespace and label selector), each read at its pod IP on
 * the stats port: {@code GET http://<pod IP>:15020/mesh_view}
 * ({@link AgentAdmin#MESH_VIEW_PATH}: the {@code pods} and {@code denials} sections).
 *
 * <p>Why the stats port and not the admin port: admin 15000 binds 127.0.0.1 inside the agent's
 * pod, on purpose (it changes log levels and dumps every workload, policy and certificate), so
 * no other pod reaches it; the API server's pod proxy would need {@code pods/proxy} rights,
 * which reach every port of every pod. 15020 is on the pod IP already (Prometheus scrapes it),
 * and {@code /mesh_view} adds only the two read-only sections the view shows.
 *
 * <p>Out of the cluster (kubeconfig) pod IPs are rarely routable from where the view runs:
 * there {@link AgentAccess#API_PROXY} reads the same path through the API server's pod proxy
 * ({@code /api/v1/namespaces/NS/pods/NAME:15020/proxy/mesh_view}, as {@code kubectl get --raw};
 * the user's own {@code pods/proxy} right, never the chart's).
 */
final class KubernetesMeshSources implements MeshSources, AutoCloseable {

    /** How the view reaches the agents' {@code /mesh_view}. */
    enum AgentAccess {
        /** Directly at {@code http://<pod IP>:<port>}: in the cluster (the chart's Deployment). */
        POD_IP,
        /** Through the API server's pod proxy with the client's credentials: out of the cluster. */
        API_PROXY;

        /** {@code pod-ip} or {@code api-proxy}. */
        static AgentAccess parse(String s) {
            return switch (requireNonNull(s, "s")) {
                case "pod-ip" -> POD_IP;
                case "api-proxy" -> API_PROXY;
                default -> throw new IllegalArgumentException("agent access: " + s + " (expected: pod-ip or api-proxy)");
            };
        }
    }

    /** The node-agent chart's DaemonSet pod label. */
    static final String DEFAULT_AGENT_SELECTOR = "app=ambit-node-agent";
    private static final Set<String> TERMINAL = Set.of("Succeeded", "Failed");

    private final KubernetesClient client;
    private final AgentAccess access;
    private final SharedIndexInformer<Pod> informer;
    private final String agentNamespace;
    private final Map<String, String> agentSelector;
    private final int agentPort;
    private final HttpClient http = HttpGets.client(Duration.ofSeconds(3));

    private KubernetesMeshSources(KubernetesClient client, AgentAccess access, SharedIndexInformer<Pod> informer,
                                  String agentNamespace, Map<String, String> agentSelector, int agentPort) {
        this.client = client;
        this.access = access;
        this.informer = informer;
        this.agentNamespace = agentNamespace;
        this.agentSelector = agentSelector;
        this.agentPort = agentPort;
    }

    /**
     * Starts watching the pods of {@code client}'s cluster (not waiting for the first list:
     * until it is in, {@link #notReady()} says so and {@link #pods()} fails).
     *
     * @param agentNamespace the node-agent DaemonSet's namespace
     * @param agentSelector its pods' labels, {@code k=v[,k=v...]}
     * @param agentPort the agents' stats port (15020)
     * @param access how the agents are reached
     */
    static KubernetesMeshSources start(KubernetesClient client, String agentNamespace, String agentSelector,
                                       int agentPort, AgentAccess access) {
        requireNonNull(client, "client");
        requireNonNull(access, "access");
        requireNonNull(agentNamespace, "agentNamespace");
        Map<String, String> selector = selector(agentSelector);
        if (agentPort < 1 || agentPort > 65535) {
            throw new IllegalArgumentException("agentPort: " + agentPort + " (expected: 1-65535)");
        }
        SharedIndexInformer<Pod> informer = client.pods().inAnyNamespace().runnableInformer(0);
        informer.start(); // retries on its own; the view shows "not listed yet" meanwhile
        return new KubernetesMeshSources(client, access, informer, agentNamespace, selector, agentPort);
    }

    /** {@code k=v[,k=v...]} as a map. */
    static Map<String, String> selector(String spec) {
        requireNonNull(spec, "spec");
        Map<String, String> out = new LinkedHashMap<>();
        for (String kv : spec.split(",")) {
            int eq = kv.indexOf('=');
            if (eq < 1 || eq == kv.length() - 1) {
                throw new IllegalArgumentException("agent selector: " + spec + " (expected: label=value[,label=value...])");
            }
            out.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        return Map.copyOf(out);
    }

    @Override
    public String notReady() {
        return informer.hasSynced() ? null : "pods not listed from the API server yet";
    }

    @Override
    public List<MeshGraph.Pod> pods() throws IOException {
        if (!informer.hasSynced()) {
            throw new IOException("not listed from the API server yet (is it reachable, may this account list pods?)");
        }
        List<MeshGraph.Pod> out = new ArrayList<>();
        for (Pod p : informer.getStore().list()) {
            var status = p.getStatus();
            String phase = status == null || status.getPhase() == null ? "Pending" : status.getPhase();
            if (TERMINAL.contains(phase)) {
                continue; // a finished Job's pod is no longer part of the mesh
            }
            var meta = p.getMetadata();
            // Istio's workload name (the Deployment's, the CronJob's...), as istiod-lite gives it
            // the agents: denials and metrics name the same workloads.
            out.add(new MeshGraph.Pod(meta.getNamespace(), meta.getName(), meta.getUid(), Workloads.owner(p).name(),
                    orEmpty(p.getSpec() == null ? null : p.getSpec().getNodeName()),
                    orEmpty(status == null ? null : status.getPodIP()), phase,
                    meta.getLabels() == null ? Map.of() : meta.getLabels()));
        }
        out.sort(Comparator.comparing(MeshGraph.Pod::namespace).thenComparing(MeshGraph.Pod::name));
        return out;
    }

    @Override
    public List<AgentDump> agents() {
        List<Pod> agents = new ArrayList<>();
        for (Pod p : informer.getStore().list()) {
            Map<String, String> labels = p.getMetadata().getLabels();
            if (agentNamespace.equals(p.getMetadata().getNamespace()) && labels != null
                    && labels.entrySet().containsAll(agentSelector.entrySet())) {
                agents.add(p);
            }
        }
        agents.sort(Comparator.comparing((Pod p) -> orEmpty(p.getSpec().getNodeName()))
                .thenComparing(p -> p.getMetadata().getName()));
        List<AgentDump> unreachable = new ArrayList<>();
        Map<String, URI> targets = new LinkedHashMap<>();
        for (Pod p : agents) {
            String node = orEmpty(p.getSpec().getNodeName());
            // Two agents on a node during a hand-over (issue 17): both are read, named by pod.
            String name = node.isEmpty() || targets.containsKey(node) ? p.getMetadata().getName() : node;
            String ip = p.getStatus() == null ? null : p.getStatus().getPodIP();
            if (ip == null || ip.isEmpty()) {
                unreachable.add(new AgentDump(name, null, "pod " + p.getMetadata().getName() + " has no IP yet"));
            } else if (access == AgentAccess.POD_IP) {
                String host = ip.contains(":") ? "[" + ip + "]" : ip;
                targets.put(name, URI.create("http://" + host + ":" + agentPort + AgentAdmin.MESH_VIEW_PATH));
            } else {
                String master = client.getMasterUrl().toString();
                targets.put(name, URI.create(master + (master.endsWith("/") ? "" : "/") + "api/v1/namespaces/"
                        + agentNamespace + "/pods/" + p.getMetadata().getName() + ":" + agentPort + "/proxy"
                        + AgentAdmin.MESH_VIEW_PATH));
            }
        }
        List<AgentDump> out = new ArrayList<>(access == AgentAccess.POD_IP ? MeshSources.read(http, targets)
                : MeshSources.read(targets, this::viaApiServer));
        out.addAll(unreachable);
        if (out.isEmpty()) { // said, or every pod would just read "not enrolled"
            out.add(new AgentDump("none", null, "no node agent pods in namespace " + agentNamespace
                    + " labelled " + agentSelector + " (--agent-namespace, --agent-selector)"));
        }
        return out;
    }

    /** GET through the API server with the client's own HTTP client (its credentials, its TLS). */
    private CompletableFuture<Answer> viaApiServer(URI uri) {
        var http = client.getHttpClient();
        return http.sendAsync(http.newHttpRequestBuilder().uri(uri).build(), String.class)
                .thenApply(r -> new Answer(r.code(), r.body()));
    }

    @Override
    public void close() {
        informer.close();
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
