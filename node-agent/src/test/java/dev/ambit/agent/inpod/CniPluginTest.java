package dev.ambit.agent.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.agent.handover.MigrateRequests;
import dev.ambit.agent.proxy.OriginalDestinations;
import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.RedirectConfig;
import dev.ambit.cni.CniPlugin;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.NetNs;
import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.proxy.identity.CertificateIssuer;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.TestNetwork;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The compiled CNI plugin ({@code cni-plugin}'s ambit-cni) run exactly as a container runtime
 * runs it, CNI environment and network configuration (with the interface plugin's
 * prevResult) on stdin, against the agent's real enrollment endpoint: {@link CniServer} with
 * {@link KubernetesAdmission} reading fabric8's mock API server (CRUD), {@link InPodManager}
 * behind it and the real capture ({@link EbpfRedirector}). The pod is a real network
 * namespace with an address and a real cgroup in the kubelet's cgroupfs layout, made here.
 */
@ExtendWith(NoLeftovers.class)
class CniPluginTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PREV = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":"
            + "\"%s\"}],\"ips\":[{\"address\":\"%s/24\",\"gateway\":\"10.244.77.1\",\"interface\":0},"
            + "{\"address\":\"fd00::5/64\",\"interface\":0}],\"dns\":{}}";

    @TempDir
    Path dir;

    private TestNetwork net;
    private TestNetwork.Node web;
    private String uid;
    private Path cgroupRoot;
    private Path podCgroup;
    private Path plugin;
    private Path socket;
    private KubernetesMockServer api;
    private KubernetesClient client;
    private TestCa ca;
    private EventLoopGroup group;
    private CertificateManager certificates;
    private HbonePool pool;
    private EbpfRedirector redirector;
    private InPodManager manager;
    private CniServer server;

    @BeforeEach
    void setUp() throws Exception {
        plugin = CniPlugin.install(Files.createDirectories(dir.resolve("opt/cni/bin")));
        socket = dir.resolve("run/ambit/cni.sock");
        api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        api.init();
        client = api.createClient();
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop")
                .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("plain").endMetadata().build())
                .create();
        uid = pod("shop", "web", Map.of("app", "web")); // the API server assigns the UID

        net = TestNetwork.create();
        web = net.host("web"); // the sandbox's namespace, its veth set up by the "interface plugin"
        // The kubelet (cgroupfs driver) makes the pod's cgroup before the sandbox: a real cgroup.
        cgroupRoot = TestNetwork.cgroupRoot().resolve(net.id());
        podCgroup = cgroupRoot.resolve("kubepods/besteffort/pod" + uid);
        Files.createDirectories(podCgroup);

        ca = new TestCa(dir.resolve("ca"), Duration.ofHours(1));
        group = Transport.EPOLL.newEventLoopGroup(1, "cni-plugin-test");
        MetricsRegistry metrics = MetricsRegistry.create();
        CertificateIssuer never = id -> new CompletableFuture<>();
        certificates = CertificateManager.builder(never).metrics(metrics).build();
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        pool = HbonePool.builder(tls).metrics(metrics).build();
        redirector = EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot()).build());
        SandboxSource none = new NoSandboxes();
        manager = InPodManager.builder("node2", new PodProxy.Shared(ProxyState.create(), certificates, tls, pool,
                        OriginalDestinations.of(redirector), group, metrics, PodProxy.Ports.ISTIO), none,
                        Capture.of(redirector))
                .ready(() -> false) // before the first xDS sync: only what CNI reports is enrolled
                .networks((u, s) -> PodNetwork.namespace(u, s.netns(), Transport.EPOLL))
                .drainDeadline(Duration.ZERO)
                .build()
                .start();
        server = startAgent();
    }

    private CniServer startAgent() {
        return CniServer.builder(socket, CniServer.Pods.of(manager)).admission(KubernetesAdmission.of(client))
                .cgroupRoot(cgroupRoot).start();
    }

    @AfterEach
    void tearDown() throws Exception {
        // Each step on its own: a failing one must not leave the namespaces, cgroups and pins behind.
        List<AutoCloseable> steps = new ArrayList<>();
        steps.add(() -> {
            if (server != null) {
                server.close();
            }
        });
        steps.add(() -> {
            if (manager != null) {
                manager.close();
            }
        });
        steps.add(() -> {
            if (redirector != null) {
                redirector.close();
            }
        });
        steps.add(() -> {
            if (pool != null) {
                pool.close();
            }
        });
        steps.add(() -> {
            if (certificates != null) {
                certificates.close();
            }
        });
        steps.add(() -> {
            if (group != null) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            }
        });
        steps.add(() -> {
            if (ca != null) {
                ca.close();
            }
        });
        steps.add(() -> {
            if (net != null) {
                net.close(); // NoLeftovers then checks that nothing is left
            }
        });
        steps.add(() -> {
            client.close();
            api.destroy();
        });
        Exception first = null;
        for (AutoCloseable step : steps) {
            try {
                step.close();
            } catch (Exception | AssertionError e) {
                if (first == null) {
                    first = e instanceof Exception x ? x : new IllegalStateException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Creates the pod in the API server; returns the UID it was given. */
    private String pod(String namespace, String name, Map<String, String> labels) {
        return client.pods().inNamespace(namespace).resource(new PodBuilder().withNewMetadata()
                .withNamespace(namespace).withName(name).withLabels(labels).endMetadata().withNewSpec()
                .withNodeName("node2").addNewContainer().withName("app").withImage("app").endContainer().endSpec()
                .build()).create().getMetadata().getUid();
    }

    /** What the plugin printed and its exit code. */
    record Run(int exit, String stdout, String stderr, long millis) {
        JsonNode json() throws IOException {
            return JSON.readTree(stdout);
        }
    }

    private String prev() {
        return PREV.formatted(web.netns(), web.address().getHostAddress());
    }

    private String conf(String version, String extra, boolean prevResult) {
        return "{\"cniVersion\":\"" + version + "\",\"name\":\"k8s-pod-network\",\"type\":\"ambit-cni\","
                + "\"agent_socket\":\"" + socket + "\",\"log_level\":\"debug\","
                + (extra.contains("timeout_seconds") ? "" : "\"timeout_seconds\":2,")
                + "\"exclude_namespaces\":[\"kube-system\",\"istio-system\"]" + extra
                + (prevResult ? ",\"prevResult\":" + prev() : "") + "}";
    }

    private Run run(String command, String namespace, String name, String podUid, String stdin) throws Exception {
        return run(command, namespace, name, podUid, web.netns(), stdin);
    }

    private Run run(String command, String namespace, String name, String podUid, Path netns, String stdin)
            throws Exception {
        ProcessBuilder pb = new ProcessBuilder(plugin.toString());
        Map<String, String> env = pb.environment();
        env.clear(); // a runtime passes the CNI variables and little else
        env.put("CNI_COMMAND", command);
        env.put("CNI_CONTAINERID", "9c4f2b7d0e1a");
        env.put("CNI_NETNS", netns.toString());
        env.put("CNI_IFNAME", "eth0");
        env.put("CNI_PATH", plugin.getParent().toString());
        env.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=" + name
                + ";K8S_POD_INFRA_CONTAINER_ID=9c4f2b7d0e1a" + (podUid == null ? "" : ";K8S_POD_UID=" + podUid));
        long start = System.nanoTime();
        Process p = pb.start();
        try {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
            return new Run(p.exitValue(), out.strip(), err, (System.nanoTime() - start) / 1_000_000);
        } finally {
            p.destroyForcibly();
        }
    }

    /** Whether Ambit's programs are attached to the pod's cgroup and namespace (and pinned). */
    private boolean captured() {
        try (NativeFd cg = Linux.open(podCgroup, true); NativeFd ns = NetNs.openNetns(web.netns())) {
            boolean connect = Bpf.attachedPrograms(cg, libbpf_h.BPF_CGROUP_INET4_CONNECT).length > 0;
            boolean lookup = Bpf.attachedPrograms(ns, libbpf_h.BPF_SK_LOOKUP).length > 0;
            assertThat(lookup).as("sk_lookup attached iff connect4 attached").isEqualTo(connect);
            return connect && redirector.enrolledPods().contains(uid);
        }
    }

    /** Whether the pod's HBONE listener (15008) answers inside its network namespace. */
    private boolean hboneListening() throws Exception {
        return NetNs.callIn(web.netns(), () -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(web.address(), 15008), 1_000);
                return true;
            } catch (IOException e) {
                return false;
            }
        });
    }

    @Test
    void addCapturesTheAmbientPodAndPassesPrevResultOn() throws Exception {
        assertThat(captured()).isFalse();
        Run r = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
        assertThat(r.exit()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo(prev()); // unchanged, byte for byte
        // Captured before the plugin returned (the runtime starts the containers next):
        // programs on the cgroup found from K8S_POD_UID and on CNI_NETNS, listeners in the pod.
        assertThat(captured()).isTrue();
        assertThat(hboneListening()).isTrue();
        assertThat(manager.enrolled()).singleElement().satisfies(e -> assertThat(e.pod()).isEqualTo("shop/web"));

        // An older runtime without K8S_POD_UID: the API server's UID; ADD is idempotent.
        Run again = run("ADD", "shop", "web", null, conf("0.3.1", "", true));
        assertThat(again.exit()).as(again.stderr()).isZero();
        assertThat(manager.enrolled()).hasSize(1);
        assertThat(captured()).isTrue();

        // CHECK succeeds; DEL naming only the sandbox (no UID): the agent knows it from the ADD.
        assertThat(run("CHECK", "shop", "web", uid, conf("1.0.0", "", true)).exit()).isZero();
        Run del = run("DEL", "shop", "web", null, conf("1.0.0", "", false));
        assertThat(del.exit()).as(del.stderr()).isZero();
        assertThat(del.stdout()).isEmpty();
        assertThat(manager.enrolled()).isEmpty();
        assertThat(captured()).isFalse();
        assertThat(net.bpffsRoot().resolve("pods").resolve(uid)).doesNotExist();
        // DEL again (runtimes repeat it): still success, nothing to do.
        Run del2 = run("DEL", "shop", "web", uid, conf("1.0.0", "", false));
        assertThat(del2.exit()).as(del2.stderr()).isZero();
        assertThat(captured()).isFalse();
    }

    @Test
    void addTurnsOnTcpMigrateReqInThePodsNamespace() throws Exception {
        // The agent in its non-privileged container cannot write /proc/sys: this one enrolls
        // (real CniServer and admission) without touching the sysctl, so what sets it is the plugin.
        server.close();
        List<String> enrolled = new CopyOnWriteArrayList<>();
        server = CniServer.builder(socket, new CniServer.Pods() {
            @Override
            public CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses) {
                enrolled.add(sandbox.uid());
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> remove(String podUid) {
                return CompletableFuture.completedFuture(null);
            }
        }).admission(KubernetesAdmission.of(client)).cgroupRoot(cgroupRoot).start();
        Path hostSysctl = Path.of("/proc/sys/net/ipv4/tcp_migrate_req");
        String host = Files.readString(hostSysctl);
        assertThat(MigrateRequests.enabled(web.netns())).as("a new namespace's default").isFalse();

        Run r = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
        assertThat(r.exit()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo(prev());
        assertThat(enrolled).containsExactly(uid);
        assertThat(MigrateRequests.enabled(web.netns())).isTrue();
        assertThat(r.stderr()).contains("net.ipv4.tcp_migrate_req=1 in " + web.netns());
        assertThat(Files.readString(hostSysctl)).as("the host's own is not the plugin's to change").isEqualTo(host);

        // A pod the agent does not enroll (not ambient) keeps the kernel's default.
        TestNetwork.Node other = net.host("db");
        pod("plain", "db", Map.of());
        Run plain = run("ADD", "plain", "db", null, other.netns(), conf("1.0.0", "", true));
        assertThat(plain.exit()).as(plain.stderr()).isZero();
        assertThat(MigrateRequests.enabled(other.netns())).isFalse();

        // When it cannot be set (here: CNI_NETNS is no namespace; on Linux < 5.14: no such
        // sysctl) the pod still starts, captured: the failure is logged, not fatal.
        Path notNetns = Files.writeString(dir.resolve("not-a-netns"), "");
        String uid2 = pod("shop", "web2", Map.of("app", "web"));
        Files.createDirectories(cgroupRoot.resolve("kubepods/besteffort/pod" + uid2));
        Run broken = run("ADD", "shop", "web2", uid2, notNetns, conf("1.0.0", "", true));
        assertThat(broken.exit()).as(broken.stderr()).isZero();
        assertThat(broken.stdout()).isEqualTo(prev());
        assertThat(broken.stderr()).contains("net.ipv4.tcp_migrate_req not set: cannot enter " + notNetns);
    }

    @Test
    void podsNotForTheMeshPassThrough() throws Exception {
        pod("plain", "db", Map.of());
        pod("shop", "legacy", Map.of("istio.io/dataplane-mode", "none"));
        for (String[] p : List.of(new String[] {"plain", "db"}, new String[] {"shop", "legacy"})) {
            Run r = run("ADD", p[0], p[1], null, conf("1.0.0", "", true));
            assertThat(r.exit()).as(r.stderr()).isZero();
            assertThat(r.stdout()).isEqualTo(prev());
        }
        assertThat(manager.enrolled()).isEmpty();
        assertThat(redirector.enrolledPods()).isEmpty();
        // Excluded namespaces are not even sent: they start with the agent down too.
        server.close();
        server = null;
        Run r = run("ADD", "kube-system", "coredns-1", null, conf("1.0.0", "", true));
        assertThat(r.exit()).isZero();
        assertThat(r.stdout()).isEqualTo(prev());
    }

    @Test
    void agentDownOrHungFailsTheSandboxWithTryAgainLater() throws Exception {
        server.close();
        server = null;
        Run down = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
        assertThat(down.exit()).isEqualTo(1);
        JsonNode e = down.json();
        assertThat(e.path("cniVersion").asText()).isEqualTo("1.0.0");
        assertThat(e.path("code").asInt()).isEqualTo(11);
        assertThat(e.path("msg").asText()).isEqualTo("pod shop/web: not captured by the node agent");
        assertThat(e.path("details").asText()).contains("cannot connect to the node agent at " + socket);
        assertThat(captured()).isFalse();

        // Accepts but never answers: bounded by timeout_seconds (2 s), then try again later.
        try (ServerSocketChannel hung = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            Files.deleteIfExists(socket);
            hung.bind(UnixDomainSocketAddress.of(socket));
            Run r = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
            assertThat(r.exit()).isEqualTo(1);
            assertThat(r.json().path("code").asInt()).isEqualTo(11);
            assertThat(r.json().path("details").asText()).contains("no answer before the timeout");
            assertThat(r.millis()).isBetween(1_900L, 6_000L);
        } finally {
            Files.deleteIfExists(socket);
        }

        // DEL with the agent down still succeeds (best effort); CHECK succeeds.
        assertThat(run("DEL", "shop", "web", uid, conf("1.0.0", "", false)).exit()).isZero();
        assertThat(run("CHECK", "shop", "web", uid, conf("1.0.0", "", true)).exit()).isZero();

        // The agent is back: the kubelet's retry captures the pod.
        server = startAgent();
        Run retry = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
        assertThat(retry.exit()).as(retry.stderr()).isZero();
        assertThat(captured()).isTrue();
    }

    @Test
    void ambientPodTheAgentCannotCaptureFailsTheSandbox() throws Exception {
        // The sandbox comes before its cgroup (a kubelet race): the agent cannot attach, try again later.
        Files.delete(podCgroup);
        Run r = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.json().path("code").asInt()).isEqualTo(11);
        assertThat(r.json().path("details").asText()).contains("no cgroup for pod uid " + uid);
        assertThat(manager.enrolled()).isEmpty();
        assertThat(redirector.enrolledPods()).isEmpty();

        // The API server has another pod under this name: cannot tell which, try again later.
        Files.createDirectories(podCgroup);
        Run stale = run("ADD", "shop", "web", "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f55", conf("1.0.0", "", true));
        assertThat(stale.exit()).isEqualTo(1);
        assertThat(stale.json().path("code").asInt()).isEqualTo(11);
        assertThat(stale.json().path("details").asText()).contains("has uid " + uid);
        assertThat(manager.enrolled()).isEmpty();
        assertThat(captured()).isFalse();

        // The kubelet's retry, with the cgroup there now, captures it.
        Run retry = run("ADD", "shop", "web", uid, conf("1.0.0", "", true));
        assertThat(retry.exit()).as(retry.stderr()).isZero();
        assertThat(captured()).isTrue();
    }

    @Test
    void versionAndMalformedInput() throws Exception {
        Run v = run("VERSION", "shop", "web", uid, "");
        assertThat(v.exit()).isZero();
        assertThat(v.json().path("cniVersion").asText()).isEqualTo("1.0.0");
        assertThat(v.json().path("supportedVersions")).extracting(JsonNode::asText)
                .containsExactly("0.3.1", "0.4.0", "1.0.0");

        List<Run> bad = new ArrayList<>();
        bad.add(run("ADD", "shop", "web", uid, "{\"cniVersion\":\"1.0.0\", \"name\":"));
        bad.add(run("ADD", "shop", "web", uid, conf("0.2.0", "", true)));
        bad.add(run("ADD", "shop", "web", uid, conf("1.0.0", "", false)));
        bad.add(run("ADD", "shop", "web", uid, conf("1.0.0", ",\"timeout_seconds\":\"soon\"", true)));
        bad.add(run("GC", "shop", "web", uid, conf("1.0.0", "", true)));
        assertThat(bad).extracting(Run::exit).containsOnly(1);
        List<Integer> codes = new ArrayList<>();
        for (Run r : bad) {
            codes.add(r.json().path("code").asInt());
        }
        // decode failure, incompatible version, invalid config (no prevResult, bad setting), bad environment
        assertThat(codes).containsExactly(6, 1, 7, 7, 4);
        assertThat(bad.get(1).json().path("details").asText()).contains("0.2.0");
        assertThat(bad.get(2).json().path("details").asText()).contains("prevResult: missing");
        assertThat(bad.get(3).json().path("details").asText()).contains("timeout_seconds");
        assertThat(manager.enrolled()).isEmpty();
        assertThat(redirector.enrolledPods()).isEmpty();
    }
}
