package dev.ambit.agent;

import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.ffi.NetNs;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.testing.Daemon;
import dev.ambit.testing.Host;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node agent and istiod-lite as real processes, each in its own network namespace,
 * with two pods on two nodes (issue 4, "Must show" 4): the frontend pod ({@code fe},
 * node1) calls the backend Service VIP; the backend pod ({@code be}, node2) runs an echo
 * server. Capture is the real eBPF; certificates come from istiod-lite's CA over TLS; the
 * agents learn the mesh over delta xDS. Processes are killed with SIGKILL, as a crash.
 */
@ExtendWith(NoLeftovers.class)
class NodeAgentFaultsTest {

    static final String VIP = "10.96.0.20";
    static final int PORT = 8080;
    static final String FRONTEND = "spiffe://cluster.local/ns/shop/sa/frontend";

    @TempDir
    Path dir;
    TestNetwork net;
    Node cp;
    Node node1;
    Node node2;
    Node fe;
    Node be;
    Node outside;
    Daemon istiod;
    Daemon agent1;
    Daemon agent2;
    /** Every process started, so teardown stops even those a failed start did not return. */
    final List<Daemon> daemons = new CopyOnWriteArrayList<>();
    ServerSocket echo;
    final List<Socket> echoed = new CopyOnWriteArrayList<>();
    final List<Process> clients = new ArrayList<>();

    @BeforeEach
    void mesh() throws Exception {
        net = TestNetwork.create();
        cp = net.host("cp");
        node1 = net.host("node1");
        node2 = net.host("node2");
        fe = net.pod("fe");
        be = net.pod("be");
        outside = net.host("out");
        writeConfig();
        NodeCredentials.issue(dir.resolve("credentials"), "node1", dir.resolve("node1/token"));
        NodeCredentials.issue(dir.resolve("credentials"), "node2", dir.resolve("node2/token"));
        LocalSandboxes.write(dir.resolve("node1/pods"), new PodSandbox("shop", "fe", net.id() + "-fe", fe.cgroup(),
                fe.netns()));
        LocalSandboxes.write(dir.resolve("node2/pods"), new PodSandbox("shop", "be", net.id() + "-be", be.cgroup(),
                be.netns()));
        startEcho();

        istiod = startIstiod();
        agent1 = startAgent(node1);
        agent2 = startAgent(node2);
        awaitEnrolled(fe, agent1);
        awaitEnrolled(be, agent2);
    }

    @AfterEach
    void teardown() throws Exception {
        clients.forEach(Process::destroyForcibly);
        daemons.forEach(Daemon::close);
        if (echo != null) {
            echo.close();
        }
        for (Socket s : echoed) {
            s.close();
        }
        if (net != null) {
            for (String n : List.of("node1", "node2")) {
                EbpfRedirector.uninstall(net.bpffsRoot().resolve(n));
            }
            net.close();
        }
    }

    @Test
    void controlPlaneStoppedThenAgentCrashedAndRestarted() throws Exception {
        assertThat(call(fe, "hello")).as(agent1.tail(40)).isEqualTo("hello");
        assertThat(Host.run("nsenter", "--net=" + node2.netns(), "--", "curl", "-sf",
                "http://127.0.0.1:15000/config_dump")).as("the admin dump lists the enrolled pod")
                .contains("\"pod\":\"shop/be\"", "\"identity\":\"spiffe://cluster.local/ns/shop/sa/backend\"");
        eventually(() -> assertThat(metrics(node2)).as("the backend's agent saw the frontend's identity")
                .anySatisfy(line -> assertThat(line).startsWith("istio_tcp_connections_opened_total{")
                        .contains("reporter=\"destination\"", "source_principal=\"" + FRONTEND + "\"",
                                "connection_security_policy=\"mutual_tls\"")));
        LongLived conn = open(fe);
        assertThat(conn.exchange("one")).isEqualTo("one");

        // ---- the control plane goes away: the last config keeps serving
        istiod.kill();
        assertThat(conn.exchange("two")).as("an open connection continues").isEqualTo("two");
        assertThat(call(fe, "new while istiod is down")).as("a new connection to a known workload")
                .isEqualTo("new while istiod is down");

        // ---- and comes back: agents reconnect and resync
        istiod = startIstiod();
        eventually(() -> assertThat(metrics(node1)).anySatisfy(l -> assertThat(l).startsWith("ambit_agent_xds_connected")
                .endsWith(" 1")));
        assertThat(conn.exchange("three")).isEqualTo("three");

        // ---- the backend's agent crashes: its pod fails closed
        String attachedBefore = attached(be);
        agent2.kill();
        assertThat(call(fe, "through a dead agent")).as("HBONE to a pod whose agent is down").isEmpty();
        assertThat(plaintext(outside, be, "plaintext")).as("plaintext straight to the pod is dropped, not let through")
                .isEmpty();

        // ---- restarted: it re-enrolls the pod in place, without reloading the programs
        agent2 = startAgent(node2);
        awaitEnrolled(be, agent2);
        eventually(() -> assertThat(call(fe, "back")).isEqualTo("back"));
        assertThat(attached(be)).as("the same programs stay attached to the pod's cgroup").isEqualTo(attachedBefore);
        assertThat(agent2.log()).contains("capture: re-opened programs", "data path: io_uring");
    }

    @Test
    void sigtermDrainsOpenConnectionsAndRefusesNewOnes() throws Exception {
        LongLived conn = open(fe);
        assertThat(conn.exchange("before")).isEqualTo("before");
        // Its own thread: the common pool has one worker on two cores, and exchange() needs it.
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> exit.complete(agent2.terminate(30)));
        eventually(() -> assertThat(agent2.log()).as("%s", agent1.tail(20)).contains("shutting down: draining"));
        assertThat(conn.exchange("during")).as("an open connection keeps flowing while draining\n%s\n%s",
                agent2.tail(40), agent1.tail(20)).isEqualTo("during");
        assertThat(call(fe, "new")).as("no new connections while draining").isEmpty();
        assertThat(agent2.isAlive()).as("the agent waits for the open connection").isTrue();
        assertThat(conn.exchange("still")).isEqualTo("still");
        conn.close();
        assertThat(exit.get(30, TimeUnit.SECONDS)).as(agent2.tail(30)).isIn(0, 143);
        assertThat(agent2.log()).doesNotContain("connections closed at the deadline");
    }

    @Test
    void namespaceLeavingTheMeshUnenrollsItsPodsAndTrafficGoesPlain() throws Exception {
        LongLived conn = open(fe);
        assertThat(conn.exchange("meshed")).isEqualTo("meshed");
        assertThat(plaintext(fe, be, "plain")).as("while meshed, a captured direct call is refused by STRICT").isEmpty();

        Path mesh = dir.resolve("config/mesh.yaml");
        Files.writeString(mesh, Files.readString(mesh).replace("labels: {istio.io/dataplane-mode: ambient}",
                "labels: {team: shop}"));
        eventually(() -> {
            assertThat(listening(fe)).as(agent1.tail(20)).noneMatch(l -> l.contains(":15001 "));
            assertThat(listening(be)).as(agent2.tail(20)).noneMatch(l -> l.contains(":15008 "));
        });
        assertThat(agent2.log()).contains("pod shop/be: unenrolled (left the mesh)");
        assertThat(conn.exchange("draining")).as("an open connection is drained, not cut").isEqualTo("draining");
        assertThat(inPodPlain(fe, be, "plain")).as("no capture: straight to the app").isEqualTo("plain");

        // And back: re-enrolled at runtime, without restarting anything.
        Files.writeString(mesh, Files.readString(mesh).replace("labels: {team: shop}",
                "labels: {istio.io/dataplane-mode: ambient}"));
        awaitEnrolled(fe, agent1);
        awaitEnrolled(be, agent2);
        eventually(() -> assertThat(call(fe, "meshed again")).isEqualTo("meshed again"));
        conn.close();
    }

    // ---------------------------------------------------------------- fixture

    /** From inside {@code from} (in its cgroup) straight to the pod's address and app port. */
    private String inPodPlain(Node from, Node pod, String line) {
        Host.Result r = net.inPod(from, 15, "sh", "-c", "printf '%s\\n' \"$0\" | socat -t 3 - TCP4:"
                + pod.address().getHostAddress() + ":" + PORT + ",connect-timeout=3", line);
        return r.stdout().strip();
    }

    private Daemon startIstiod() throws Exception {
        Daemon d = Daemon.java("istiod", cp.netns(), dir.resolve("istiod.log"), "dev.ambit.istiod.IstiodLite",
                List.of("--config-dir", dir.resolve("config").toString(), "--ca-dir", dir.resolve("ca").toString(),
                        "--node-credentials", dir.resolve("credentials").toString(), "--cert-ttl", "1h"));
        daemons.add(d);
        eventually(() -> assertThat(listening(cp)).as(d.tail(30)).anyMatch(l -> l.contains(":15012")));
        return d;
    }

    private Daemon startAgent(Node node) {
        String n = node.name();
        Daemon d = Daemon.java("agent-" + n, node.netns(), dir.resolve(n + ".log"), "dev.ambit.agent.NodeAgent",
                List.of("--node", n, "--pods-dir", dir.resolve(n + "/pods").toString(),
                        "--cni-socket", dir.resolve(n + "/cni.sock").toString(),
                        "--istiod", cp.address().getHostAddress() + ":15012",
                        "--root-cert", dir.resolve("ca/ambit-root-cert.pem").toString(),
                        "--token", dir.resolve(n + "/token").toString(),
                        "--bpffs-root", net.bpffsRoot().resolve(n).toString(),
                        "--cgroup-root", TestNetwork.cgroupRoot().toString(),
                        "--worker-threads", "1", "--drain-timeout", "20s",
                        // Both transports in one mesh: node1 on epoll, node2 on io_uring.
                        "--transport", n.equals("node2") ? "io_uring" : "epoll"));
        daemons.add(d);
        return d;
    }

    private void awaitEnrolled(Node pod, Daemon agent) throws InterruptedException {
        // A starting agent (eBPF load, TLS, xDS, certificates) took over 10 s on a machine at load 10.
        eventually(java.time.Duration.ofSeconds(30), () -> {
            assertThat(agent.isAlive()).as(agent.tail(40)).isTrue();
            assertThat(listening(pod)).as(agent.tail(40))
                    .anyMatch(l -> l.contains("127.0.0.1") && l.contains(":15001 "))
                    .anyMatch(l -> l.contains(":15008"))
                    .anyMatch(l -> l.contains(":15006"));
        });
    }

    private static List<String> listening(Node n) {
        return Host.exec(10, "nsenter", "--net=" + n.netns(), "--", "ss", "-ltnH").stdout().lines().toList();
    }

    private List<String> metrics(Node node) {
        return Host.exec(10, "nsenter", "--net=" + node.netns(), "--", "curl", "-sf", "http://127.0.0.1:15020/metrics")
                .stdout().lines().toList();
    }

    /** The programs attached to the pod's cgroup, as bpftool reports them (ids included). */
    private static String attached(Node pod) {
        return Host.run("bpftool", "cgroup", "show", pod.cgroup().toString());
    }

    /** One request from inside {@code pod} to the backend VIP: what came back ("" on failure). */
    private String call(Node pod, String line) {
        Host.Result r = net.inPod(pod, 15, "sh", "-c",
                "printf '%s\\n' \"$0\" | socat -t 3 - TCP4:" + VIP + ":" + PORT + ",connect-timeout=3", line);
        return r.stdout().strip();
    }

    /** A plaintext request from an unmeshed host straight to the pod's address. */
    private static String plaintext(Node from, Node pod, String line) {
        Host.Result r = Host.exec(15, "nsenter", "--net=" + from.netns(), "--", "sh", "-c",
                "printf '%s\\n' \"$0\" | socat -t 3 - TCP4:" + pod.address().getHostAddress() + ":" + PORT
                        + ",connect-timeout=3", line);
        return r.stdout().strip();
    }

    /** A connection from inside {@code pod} to the backend VIP that stays open between exchanges. */
    private LongLived open(Node pod) throws IOException {
        Process p = new ProcessBuilder("sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && exec nsenter --net=\"$1\" -- socat - TCP4:" + VIP + ":" + PORT
                        + ",connect-timeout=3",
                pod.cgroup().toString(), pod.netns().toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        clients.add(p);
        return new LongLived(p);
    }

    /** Line-by-line exchanges on one connection; each waits at most 5 s. */
    static final class LongLived implements AutoCloseable {
        final Process process;
        final PrintWriter out;
        final BufferedReader in;

        LongLived(Process process) {
            this.process = process;
            this.out = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
            this.in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        String exchange(String line) throws Exception {
            out.println(line);
            CompletableFuture<String> answer = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    answer.complete(in.readLine());
                } catch (IOException e) {
                    answer.complete(null);
                }
            });
            return answer.completeOnTimeout("<no answer in 5 s>", 5, TimeUnit.SECONDS).get();
        }

        @Override
        public void close() throws IOException {
            process.getOutputStream().close();
            try {
                process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process.destroyForcibly();
        }
    }

    /** The backend app: echoes lines, on the pod's address, inside the pod's namespace. */
    private void startEcho() throws Exception {
        echo = NetNs.callIn(be.netns(), () -> new ServerSocket(PORT, 50, be.address()));
        Thread.ofPlatform().daemon().name("echo-accept").start(() -> {
            while (!echo.isClosed()) {
                try {
                    Socket s = echo.accept();
                    echoed.add(s);
                    Thread.ofPlatform().daemon().name("echo").start(() -> {
                        try (s; var r = new BufferedReader(new InputStreamReader(s.getInputStream(),
                                StandardCharsets.UTF_8)); OutputStream w = s.getOutputStream()) {
                            for (String l; (l = r.readLine()) != null; ) {
                                w.write((l + "\n").getBytes(StandardCharsets.UTF_8));
                                w.flush();
                            }
                        } catch (IOException e) {
                            // the client went away
                        }
                    });
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    private void writeConfig() throws IOException {
        Path config = Files.createDirectories(dir.resolve("config"));
        Files.writeString(config.resolve("mesh.yaml"), """
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: istio-system}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: frontend, namespace: shop}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: backend, namespace: shop}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: fe, namespace: shop, labels: {app: frontend}}
                spec:
                  nodeName: node1
                  serviceAccountName: frontend
                  containers: [{name: app, image: none}]
                status: {phase: Running, podIP: %s, podIPs: [{ip: %s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: be, namespace: shop, labels: {app: backend}}
                spec:
                  nodeName: node2
                  serviceAccountName: backend
                  containers: [{name: app, image: none, ports: [{containerPort: %d}]}]
                status: {phase: Running, podIP: %s, podIPs: [{ip: %s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: backend, namespace: shop}
                spec:
                  selector: {app: backend}
                  clusterIP: %s
                  clusterIPs: [%s]
                  ports: [{name: tcp-echo, port: %d, targetPort: %d}]
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: shop}
                spec: {mtls: {mode: STRICT}}
                """.formatted(ip(fe), ip(fe), PORT, ip(be), ip(be), VIP, VIP, PORT, PORT));
    }

    private static String ip(Node n) {
        return n.address().getHostAddress();
    }
}
