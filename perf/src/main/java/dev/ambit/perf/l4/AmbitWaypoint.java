package dev.ambit.perf.l4;

import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.testing.TestNetwork.Node;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Ambit's L7 path as a user of Istio ambient gets it with a waypoint: the client pod
 * ({@code node1}) calls the server's Service VIP; its agent captures the connect
 * ({@code cgroup/connect4}) and, the Service being {@code istio.io/use-waypoint: waypoint},
 * carries it over HBONE to the waypoint pod's 15008 (one pooled HTTP/2 connection per agent
 * event loop: with the bench's one agent worker, <b>every request of the run shares one HBONE
 * connection</b>, the case istio/istio #43443 and #55463 describe); the waypoint
 * ({@code waypoint-proxy}, its own process and network namespace, a host of its own as a
 * waypoint pod on a third node) terminates HTTP/1.1 (keep-alive) or h2c, routes it through
 * one VirtualService route with a retry policy, and sends it over HBONE to the server pod's
 * agent ({@code node2}), which hands it to nginx.
 *
 * <p>Everything is configured as in production, by istiod-lite over delta xDS from a folder
 * of manifests (the simplest the harness already does for {@code ambit-l4}): a Gateway of
 * class {@code istio-waypoint}, its Service and pod (what {@code ambitctl local}'s controller
 * would have made), the server's Service with a VIP and {@code use-waypoint}, and the
 * VirtualService. istiod-lite translates it into the waypoint's Listener, RouteConfiguration,
 * Clusters and endpoints (Envoy's types) and the agents' Address resources, and its CA signs
 * the waypoint's certificate ({@code spiffe://cluster.local/ns/bench/sa/waypoint}, with the
 * token of the waypoint's node, as in local mode). No static config: the real waypoint with
 * the real control plane.
 *
 * <p>Proxies, in order: the client's agent, the waypoint, the server's agent (the whole path's
 * CPU is their sum; the waypoint alone is {@link #l7Proxy()}).
 */
final class AmbitWaypoint implements Scenario {

    /** The waypoint's JVM, as {@code ambitctl local} starts it ({@link dev.ambit.proxy.WaypointJvm#OPTIONS}). */
    static final List<String> WAYPOINT_JVM = dev.ambit.proxy.WaypointJvm.OPTIONS;
    /** The server Service's VIP (no kube-proxy needed: the client's agent captures every connect). */
    static final String SERVER_VIP = "10.96.77.10";
    static final String WAYPOINT_VIP = "10.96.77.100";

    private final String name;
    private final BenchEnv env;
    private final Path repo;
    private final Node cp;
    private final Node node1;
    private final Node node2;
    private final Node waypointHost;
    private final Node client;
    private final Node server;
    private final int waypointWorkers;
    private final List<String> waypointJvm;
    private final int tracing;
    private final List<Proc> started = new ArrayList<>();
    private Proc agent1;
    private Proc agent2;
    private Proc waypoint;

    /**
     * @param waypointWorkers the waypoint's {@code --worker-threads}; 0: its default, one per core
     * @param waypointJvm the waypoint's JVM flags ({@link #WAYPOINT_JVM} by default)
     * @param tracing -1: no tracing (Istio's default without a provider); else the percentage of
     *        requests the waypoint traces (a root Telemetry selecting a zipkin provider whose
     *        collector is the server's nginx, which answers every POST 200: the spans are built,
     *        encoded and sent as to a real Zipkin, and the collector costs next to nothing)
     */
    AmbitWaypoint(String name, BenchEnv env, Path repo, Node cp, Node node1, Node node2, Node waypointHost,
                  Node client, Node server, int waypointWorkers, List<String> waypointJvm, int tracing) {
        this.name = name;
        this.env = env;
        this.repo = repo;
        this.cp = cp;
        this.node1 = node1;
        this.node2 = node2;
        this.waypointHost = waypointHost;
        this.client = client;
        this.server = server;
        this.waypointWorkers = waypointWorkers;
        this.waypointJvm = List.copyOf(waypointJvm);
        if (tracing < -1 || tracing > 100) {
            throw new IllegalArgumentException("tracing: " + tracing + " (expected: -1 or 0-100)");
        }
        this.tracing = tracing;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Node client() {
        return client;
    }

    @Override
    public String httpUrl() {
        return "http://" + SERVER_VIP + ":" + BenchEnv.HTTP_PORT + "/";
    }

    @Override
    public String grpcUrl() {
        return "http://" + SERVER_VIP + ":" + BenchEnv.GRPC_PORT + Backend.GRPC_PATH;
    }

    @Override
    public boolean carriesIperf() {
        return false;
    }

    @Override
    public String iperfHost() {
        return SERVER_VIP;
    }

    @Override
    public int iperfPort() {
        return BenchEnv.IPERF_PORT;
    }

    @Override
    public List<Proc> proxies() {
        return List.of(agent1, waypoint, agent2);
    }

    @Override
    public Proc l7Proxy() {
        return waypoint;
    }

    @Override
    public int l7Port() {
        return IstioPorts.HBONE;
    }

    @Override
    public Node l7Node() {
        return waypointHost;
    }

    /** The agents (1 and 2) for the profilers; the waypoint is {@link #l7Proxy()}. */
    Proc agent(int node) {
        return node == 1 ? agent1 : agent2;
    }

    @Override
    public void start() throws Exception {
        Path dir = Files.createDirectories(env.dir().resolve(name));
        writeConfig(dir);
        String n1 = node1.name();
        String n2 = node2.name();
        String nw = waypointHost.name();
        Path credentials = dir.resolve("credentials");
        NodeCredentials.issue(credentials, n1, dir.resolve(n1 + "/token"));
        NodeCredentials.issue(credentials, n2, dir.resolve(n2 + "/token"));
        NodeCredentials.issue(credentials, nw, dir.resolve(nw + "/token"));
        LocalSandboxes.write(dir.resolve(n1 + "/pods"), new PodSandbox("bench", "client",
                env.net().id() + "-" + client.name(), client.cgroup(), client.netns()));
        LocalSandboxes.write(dir.resolve(n2 + "/pods"), new PodSandbox("bench", "server",
                env.net().id() + "-" + server.name(), server.cgroup(), server.netns()));

        Path java = BenchEnv.java();
        List<String> istiodCmd = BenchEnv.istiodCommand(repo, dir, credentials);
        if (tracing >= 0) {
            istiodCmd.addAll(List.of("--mesh-config", dir.resolve("mesh-config.yaml").toString()));
        }
        Proc istiod = Proc.start(name + "-istiod-lite", cp.netns(), null, env.serviceCpus(), dir.resolve("istiod.log"),
                istiodCmd);
        started.add(istiod);
        BenchEnv.awaitListening(cp, istiod, Duration.ofSeconds(180), IstioPorts.ISTIOD_SECURE);
        waypoint = waypoint(dir, java);
        agent1 = agent(dir, node1);
        agent2 = agent(dir, node2);
        BenchEnv.awaitListening(waypointHost, waypoint, Duration.ofSeconds(180), IstioPorts.HBONE);
        BenchEnv.awaitListening(client, agent1, Duration.ofSeconds(180), IstioPorts.OUTBOUND);
        BenchEnv.awaitListening(server, agent2, Duration.ofSeconds(180), IstioPorts.HBONE, IstioPorts.INBOUND_PLAINTEXT);
    }

    private Proc waypoint(Path dir, Path java) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java.toString());
        cmd.addAll(waypointJvm);
        cmd.addAll(List.of("-jar", repo.resolve("waypoint-proxy/target/waypoint-proxy.jar").toString(),
                "--namespace", "bench", "--name", "waypoint", "--pod-name", "waypoint-0",
                "--pod-ip", BenchEnv.ip(waypointHost), "--service-account", "waypoint",
                "--xds-address", BenchEnv.ip(cp) + ":" + IstioPorts.ISTIOD_SECURE,
                "--ca-address", BenchEnv.ip(cp) + ":" + IstioPorts.ISTIOD_SECURE,
                "--root-cert", dir.resolve("ca/ambit-root-cert.pem").toString(),
                "--token-file", dir.resolve(waypointHost.name() + "/token").toString(),
                // Istio's default: no access log (meshConfig.accessLogFile empty); one JSON line per
                // request would be the log's cost, not the proxy's.
                "--log-level", "info,ambit.access=off"));
        if (waypointWorkers > 0) {
            cmd.addAll(List.of("--worker-threads", Integer.toString(waypointWorkers)));
        }
        Proc p = Proc.start(name + "-waypoint", waypointHost.netns(), null, env.serviceCpus(),
                dir.resolve("waypoint.log"), cmd);
        started.add(p);
        return p;
    }

    private Proc agent(Path dir, Node node) {
        String n = node.name();
        List<String> cmd = BenchEnv.agentCommand(env.agentJvm(), repo, dir, dir.resolve(n), node, cp,
                env.net().bpffsRoot(), env.agentFlags());
        Proc p = Proc.start(name + "-agent-" + n, node.netns(), null, env.serviceCpus(),
                dir.resolve("agent-" + n + ".log"), cmd);
        started.add(p);
        return p;
    }

    /** The mesh as istiod-lite reads it; what {@code ambitctl local} would write for the same objects. */
    private void writeConfig(Path dir) throws Exception {
        Path config = Files.createDirectories(dir.resolve("config"));
        Files.writeString(config.resolve("mesh.yaml"), """
                apiVersion: v1
                kind: Namespace
                metadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: istio-system}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: client, namespace: bench}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: server, namespace: bench}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: waypoint, namespace: bench}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: client, namespace: bench, labels: {app: client}}
                spec:
                  nodeName: %5$s
                  serviceAccountName: client
                  containers: [{name: wrk, image: none}]
                status: {phase: Running, podIP: %1$s, podIPs: [{ip: %1$s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: server, namespace: bench, labels: {app: server}}
                spec:
                  nodeName: %6$s
                  serviceAccountName: server
                  containers: [{name: nginx, image: none, ports: [{containerPort: %3$d}, {containerPort: %4$d}, {containerPort: %11$d}]}]
                status: {phase: Running, podIP: %2$s, podIPs: [{ip: %2$s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: bench, labels: {istio.io/waypoint-for: service}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: waypoint, namespace: bench, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
                spec:
                  selector: {gateway.networking.k8s.io/gateway-name: waypoint}
                  clusterIP: %9$s
                  ports: [{name: mesh, port: 15008}, {name: status-port, port: 15021}, {name: metrics, port: 15020}]
                ---
                apiVersion: v1
                kind: Pod
                metadata:
                  name: waypoint-0
                  namespace: bench
                  labels: {gateway.networking.k8s.io/gateway-name: waypoint, istio.io/dataplane-mode: none}
                spec:
                  nodeName: %7$s
                  serviceAccountName: waypoint
                  containers: [{name: istio-proxy, image: none, ports: [{containerPort: 15008}]}]
                status: {phase: Running, podIP: %8$s, podIPs: [{ip: %8$s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: server, namespace: bench, labels: {istio.io/use-waypoint: waypoint}}
                spec:
                  selector: {app: server}
                  clusterIP: %10$s
                  ports:
                  - {name: http, port: %3$d, targetPort: %3$d}
                  - {name: grpc, port: %11$d, targetPort: %11$d}
                ---
                # One route with a retry policy (Istio's default retry conditions plus 5xx), for every port.
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: server, namespace: bench}
                spec:
                  hosts: [server.bench.svc.cluster.local]
                  http:
                  - name: default
                    route: [{destination: {host: server.bench.svc.cluster.local}}]
                    retries: {attempts: 2, perTryTimeout: 5s, retryOn: "5xx,connect-failure,refused-stream"}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: bench}
                spec: {mtls: {mode: STRICT}}
                """.formatted(BenchEnv.ip(client), BenchEnv.ip(server), BenchEnv.HTTP_PORT, BenchEnv.IPERF_PORT,
                        node1.name(), node2.name(), waypointHost.name(), BenchEnv.ip(waypointHost), WAYPOINT_VIP,
                        SERVER_VIP, BenchEnv.GRPC_PORT));
        if (tracing >= 0) {
            // tracing (issue 19): Istio's way, a MeshConfig provider and a root Telemetry selecting it.
            Files.writeString(dir.resolve("mesh-config.yaml"), """
                    extensionProviders:
                    - name: zipkin
                      zipkin: {service: server.bench.svc.cluster.local, port: %d}
                    """.formatted(BenchEnv.HTTP_PORT));
            Files.writeString(config.resolve("telemetry.yaml"), """
                    apiVersion: telemetry.istio.io/v1
                    kind: Telemetry
                    metadata: {name: mesh-default, namespace: istio-system}
                    spec:
                      tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: %d}]
                    """.formatted(tracing));
        }
    }

    @Override
    public void close() {
        for (int i = started.size() - 1; i >= 0; i--) {
            started.get(i).close();
        }
        for (String n : List.of(node1.name(), node2.name())) {
            try {
                EbpfRedirector.uninstall(env.net().bpffsRoot().resolve(n));
            } catch (RuntimeException e) {
                System.err.println(name + ": uninstalling " + n + "'s BPF pins: " + e.getMessage());
            }
        }
    }
}
