package dev.ambit.ctl.dashboard;

import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterOptions;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.StateDir;
import dev.ambit.ctl.local.addons.AddonCommand;
import dev.ambit.ctl.local.addons.ScrapeConfig;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ambitctl dashboard}: serves the live mesh view of the local cluster on
 * {@code 127.0.0.1:PORT} until interrupted. Prometheus is the {@code prometheus} addon's
 * Service unless {@code --prometheus} names another; traces come from {@code --zipkin} when given.
 *
 * <p>With {@code --kubernetes} the mesh is a Kubernetes cluster's ({@link KubernetesMeshSources}):
 * in a pod with its service account (the {@code ambit} chart's {@code dashboard}, listening on
 * {@code 0.0.0.0:20001}), or from here with the kubeconfig's current context or {@code --context}.
 */
@Command(name = "dashboard", mixinStandardHelpOptions = true,
        description = {"Serves the live mesh view of the local cluster: workloads, services, waypoints and gateways",
                "with request rate, error rate, p99 and mTLS per edge (Prometheus: ambitctl local addon enable",
                "prometheus), live L4 denials with the policy and rule that refused them, each pod's enrolment,",
                "and traces from Zipkin when --zipkin is given. Runs until interrupted (Ctrl-C).",
                "With --kubernetes: a Kubernetes cluster's mesh (in a pod: its service account; else the kubeconfig),",
                "the node agents' /mesh_view read on --agent-port at their pod IPs or through the API server (--agent-access)."})
public final class DashboardCommand implements Callable<Integer> {

    /** Kiali's port, so the view is where users of Istio look for it. */
    static final int DEFAULT_PORT = 20001;

    @Spec CommandSpec spec;
    @Mixin ClusterOptions cluster;

    @Option(names = "--port", defaultValue = "" + DEFAULT_PORT, description = "Port (default: ${DEFAULT-VALUE}; 0 picks one).")
    int port;

    @Option(names = "--address", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String address;

    @Option(names = "--no-open", description = "Do not open a browser (xdg-open); only print the URL.")
    boolean noOpen;

    @Option(names = "--prometheus", paramLabel = "URL",
            description = "Prometheus's URL (default: the local prometheus addon's Service; with --kubernetes none).")
    URI prometheus;

    @Option(names = "--zipkin", paramLabel = "URL", description = "Zipkin's URL, such as http://127.0.0.1:9411 (default: no traces).")
    URI zipkin;

    @Option(names = "--kubernetes", description = "A Kubernetes cluster's mesh, not the local cluster's.")
    boolean kubernetes;

    @Option(names = "--context", paramLabel = "NAME",
            description = "With --kubernetes: the kubeconfig context (default: in a pod its service account, else the current context).")
    String context;

    @Option(names = "--agent-namespace", paramLabel = "NS", defaultValue = "istio-system",
            description = "With --kubernetes: the node-agent DaemonSet's namespace (default: ${DEFAULT-VALUE}).")
    String agentNamespace;

    @Option(names = "--agent-selector", paramLabel = "LABELS", defaultValue = KubernetesMeshSources.DEFAULT_AGENT_SELECTOR,
            description = "With --kubernetes: the node agent pods' labels, k=v[,k=v] (default: ${DEFAULT-VALUE}).")
    String agentSelector;

    @Option(names = "--agent-port", defaultValue = "15020",
            description = "With --kubernetes: the agents' stats port, where /mesh_view is (default: ${DEFAULT-VALUE}).")
    int agentPort;

    @Option(names = "--agent-access", paramLabel = "HOW", defaultValue = "auto",
            description = {"With --kubernetes: how the agents' /mesh_view is read: pod-ip (at the pod's IP, from a pod),",
                    "api-proxy (through the API server's pod proxy: out of the cluster, needs get on pods/proxy), or auto:",
                    "pod-ip in a pod, else api-proxy (default: ${DEFAULT-VALUE})."})
    String agentAccess;

    @Override
    public Integer call() throws IOException, InterruptedException {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port: " + port + " (expected: 0-65535)");
        }
        if (agentPort < 1 || agentPort > 65535) {
            throw new IllegalArgumentException("--agent-port: " + agentPort + " (expected: 1-65535)");
        }
        PrintWriter out = spec.commandLine().getOut();
        List<AutoCloseable> resources = new ArrayList<>();
        DashboardServer.Builder builder;
        StateDir state = null;
        if (kubernetes) {
            KubernetesClient client = context == null ? new KubernetesClientBuilder().build()
                    : new KubernetesClientBuilder().withConfig(Config.autoConfigure(context)).build();
            resources.add(client);
            KubernetesMeshSources.AgentAccess access;
            KubernetesMeshSources sources;
            try {
                // In a pod (the service account's configuration) pod IPs are reachable; from a
                // workstation they usually are not, while the API server is.
                access = agentAccess.equals("auto") ? (context == null && System.getenv("KUBERNETES_SERVICE_HOST") != null
                        ? KubernetesMeshSources.AgentAccess.POD_IP : KubernetesMeshSources.AgentAccess.API_PROXY)
                        : KubernetesMeshSources.AgentAccess.parse(agentAccess);
                sources = KubernetesMeshSources.start(client, agentNamespace, agentSelector, agentPort, access);
            } catch (IllegalArgumentException e) {
                client.close();
                throw new IllegalArgumentException(e.getMessage().startsWith("agent access")
                        ? "--agent-access: " + agentAccess + " (expected: pod-ip, api-proxy or auto)"
                        : "--agent-selector: " + agentSelector + " (expected: label=value[,label=value...])", e);
            }
            resources.addFirst(sources);
            builder = DashboardServer.builder(sources).prometheus(prometheus);
            out.println("cluster: " + client.getMasterUrl() + "; node agents: pods in " + agentNamespace + " with "
                    + agentSelector + ", port " + agentPort + (access == KubernetesMeshSources.AgentAccess.POD_IP
                    ? " at their IPs" : " through the API server"));
        } else {
            StateDir local = cluster.state();
            ClusterInfo.require(local);
            state = local;
            // The addon's address is read on every refresh: it may be enabled after the view started.
            builder = DashboardServer.builder(new LocalMeshSources(local))
                    .prometheus(prometheus != null ? () -> prometheus : () -> addonPrometheus(local));
        }
        DashboardServer server;
        try {
            server = builder.address(new InetSocketAddress(address, port)).zipkin(zipkin).start();
        } catch (java.net.BindException e) {
            closeAll(resources);
            throw new LocalException("--port " + port + ": " + address + ":" + port + " is in use (" + e.getMessage()
                    + "); pick another with --port");
        } catch (IOException | RuntimeException e) {
            closeAll(resources); // the informer's threads would keep the JVM up
            throw e;
        }
        resources.addFirst(server);
        // Bound to all interfaces (in a pod): the URL names what was asked for, not "0:0:0:0:0:0:0:0".
        String host = server.address().getAddress().isAnyLocalAddress() ? address : server.address().getHostString();
        String url = "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + server.address().getPort() + "/";
        out.println("mesh view: " + url);
        URI prom = prometheus != null ? prometheus : state == null ? null : addonPrometheus(state);
        out.println(prom != null ? "metrics: " + prom : kubernetes ? "metrics: none (--prometheus URL)"
                : "metrics: none yet (shown once the prometheus addon runs:"
                + " ambitctl local addon enable prometheus; or --prometheus URL)");
        if (zipkin != null) {
            out.println("traces: " + zipkin);
        }
        out.flush();
        if (!noOpen) {
            open(url, out);
        }
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            closeAll(resources);
            stop.countDown();
        }, "ambit-dashboard-stop"));
        stop.await();
        return 0;
    }

    private static void closeAll(List<AutoCloseable> resources) {
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception e) {
                // stopping: nothing left to tell
            }
        }
    }

    /** The prometheus addon's LoadBalancer address from status.json, or null without the addon. */
    static URI addonPrometheus(StateDir state) {
        ClusterStatus status;
        try {
            status = ClusterStatus.read(state).orElse(null);
        } catch (LocalException e) {
            return null;
        }
        String ip = status == null ? null : AddonCommand.externalAddress(status);
        return ip == null ? null : URI.create("http://" + ip + ":" + ScrapeConfig.PORT);
    }

    private static void open(String url, PrintWriter out) {
        try {
            new ProcessBuilder("xdg-open", url).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            out.println("(no browser opened: " + e.getMessage() + "; open the URL yourself)");
            out.flush();
        }
    }
}
