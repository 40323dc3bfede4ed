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
 * Ambit's L4 path as in production: istiod-lite and one node agent per node as separate
 * processes ({@code java -jar}; the agents with {@link L4Bench#AGENT_JVM} unless
 * {@code --agent-jvm} says otherwise, istiod-lite as {@code ambitctl local} runs it), each
 * in its node's namespace; the agents get their configuration over delta xDS and their
 * workload certificates (ECDSA P-256, SPIFFE) from istiod-lite's CA. The client pod ({@code node1}) and the server pod ({@code node2}) are
 * enrolled: the client's {@code connect()} to the server pod's address is captured by
 * {@code cgroup/connect4} onto its agent's in-pod 15001 listener, carried over HBONE
 * (HTTP/2 CONNECT in mutual TLS 1.3) to the server pod's 15008, and the server's agent
 * connects to the app on the pod's own address. STRICT PeerAuthentication, as a meshed
 * namespace usually has.
 */
final class AmbitL4 implements Scenario {

    private final String name;
    private final BenchEnv env;
    private final Node cp;
    private final Node node1;
    private final Node node2;
    private final Node client;
    private final Node server;
    private final Path repo;
    private final List<Proc> started = new ArrayList<>();
    private Proc istiod;
    private Proc agent1;
    private Proc agent2;

    /**
     * {@code name} is the scenario's ({@code ambit-l4}, or {@code ambit-l4-base} for the
     * build in {@code repo} that {@code --baseline} compares against in the same run).
     */
    AmbitL4(String name, BenchEnv env, Path repo, Node cp, Node node1, Node node2, Node client, Node server) {
        this.name = name;
        this.env = env;
        this.repo = repo;
        this.cp = cp;
        this.node1 = node1;
        this.node2 = node2;
        this.client = client;
        this.server = server;
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
        return "http://" + BenchEnv.ip(server) + ":" + BenchEnv.HTTP_PORT + "/";
    }

    @Override
    public String iperfHost() {
        return BenchEnv.ip(server);
    }

    @Override
    public int iperfPort() {
        return BenchEnv.IPERF_PORT;
    }

    @Override
    public List<Proc> proxies() {
        return List.of(agent1, agent2);
    }

    /** The agent's pid on {@code node} (1 or 2), for profiling. */
    Proc agent(int node) {
        return node == 1 ? agent1 : agent2;
    }

    @Override
    public void start() throws Exception {
        Path dir = Files.createDirectories(env.dir().resolve(name));
        writeConfig(dir);
        String n1 = node1.name();
        String n2 = node2.name();
        NodeCredentials.issue(dir.resolve("credentials"), n1, dir.resolve(n1 + "/token"));
        NodeCredentials.issue(dir.resolve("credentials"), n2, dir.resolve(n2 + "/token"));
        LocalSandboxes.write(dir.resolve(n1 + "/pods"), new PodSandbox("bench", "client",
                env.net().id() + "-" + client.name(), client.cgroup(), client.netns()));
        LocalSandboxes.write(dir.resolve(n2 + "/pods"), new PodSandbox("bench", "server",
                env.net().id() + "-" + server.name(), server.cgroup(), server.netns()));

        istiod = Proc.start(name + "-istiod-lite", cp.netns(), null, env.serviceCpus(), dir.resolve("istiod.log"),
                BenchEnv.istiodCommand(repo, dir, dir.resolve("credentials")));
        started.add(istiod);
        BenchEnv.awaitListening(cp, istiod, Duration.ofSeconds(180), IstioPorts.ISTIOD_SECURE);
        agent1 = agent(dir, node1);
        agent2 = agent(dir, node2);
        BenchEnv.awaitListening(client, agent1, Duration.ofSeconds(180), IstioPorts.OUTBOUND);
        BenchEnv.awaitListening(server, agent2, Duration.ofSeconds(180), IstioPorts.HBONE, IstioPorts.INBOUND_PLAINTEXT);
    }

    private Proc agent(Path dir, Node node) {
        String n = node.name();
        List<String> cmd = BenchEnv.agentCommand(env.agentJvm(), repo, dir, dir.resolve(n), node, cp,
                env.net().bpffsRoot(), env.agentFlags());
        Proc p = Proc.start(name + "-agent-" + n, node.netns(), null, env.serviceCpus(), dir.resolve("agent-" + n + ".log"),
                cmd);
        started.add(p);
        return p;
    }

    /** The Prometheus text of {@code node}'s agent (1 or 2). */
    String metrics(int node) {
        return BenchEnv.agentMetrics(node == 1 ? node1 : node2);
    }

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
                  containers: [{name: nginx, image: none, ports: [{containerPort: %3$d}, {containerPort: %4$d}]}]
                status: {phase: Running, podIP: %2$s, podIPs: [{ip: %2$s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: bench}
                spec: {mtls: {mode: STRICT}}
                """.formatted(BenchEnv.ip(client), BenchEnv.ip(server), BenchEnv.HTTP_PORT, BenchEnv.IPERF_PORT,
                        node1.name(), node2.name()));
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
                System.err.println("ambit-l4: uninstalling " + n + "'s BPF pins: " + e.getMessage());
            }
        }
    }
}
