package dev.ambit.agent;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.admin.AgentAdmin;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.agent.handover.HandoverClient;
import dev.ambit.agent.handover.HandoverProtocol;
import dev.ambit.agent.handover.HandoverServer;
import dev.ambit.agent.handover.Takeover;
import dev.ambit.agent.inpod.Capture;
import dev.ambit.agent.inpod.CniServer;
import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.agent.inpod.KubernetesAdmission;
import dev.ambit.agent.inpod.KubernetesSandboxes;
import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodProxy;
import dev.ambit.agent.inpod.SandboxSource;
import dev.ambit.agent.proxy.OriginalDestinations;
import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.RedirectConfig;
import dev.ambit.agent.tracing.AgentTracing;
import dev.ambit.common.config.Limits;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.admin.ProxyLogging;
import dev.ambit.proxy.admin.ProxyProcess;
import dev.ambit.proxy.admin.Readiness;
import dev.ambit.proxy.admin.StatsServer;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.TrustBundle;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent process: the one class that wires the subsystems together (as ztunnel's
 * {@code app.rs}). Start order follows the data's path: capture (re-opening the pins a
 * previous process left, so enrolled pods stay captured and fail closed meanwhile), the
 * control plane channel (xDS and CA over TLS on 15012), certificates, the data path's
 * event loops and HBONE pool, pod enrollment (the CNI endpoint at once, xDS-driven after the
 * first sync), then the stats, readiness and admin listeners.
 *
 * <p>Shutdown ({@link #shutdown()}, SIGTERM): readiness turns false, every pod's listeners
 * stop accepting, open connections get {@code --drain-timeout} to finish, then everything
 * closes. Capture stays attached: pods fail closed until the next agent re-enrolls them.
 */
public final class NodeAgent implements AutoCloseable {

    static {
        // Before the first logger exists (the next line): JUL's manager is chosen once.
        if (System.getProperty("java.util.logging.manager") == null) {
            System.setProperty("java.util.logging.manager", ProxyLogging.MANAGER);
        }
    }

    private static final Logger log = LoggerFactory.getLogger(NodeAgent.class);

    private final NodeAgentConfig config;
    private final ProxyProcess process = new ProxyProcess(); // what close() closes, in reverse order
    private final AtomicBoolean draining = new AtomicBoolean();
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private EbpfRedirector redirector;
    private ProxyState state;
    private XdsClient xds;
    private AgentTracing tracing;
    private CertificateManager certificates;
    private InPodManager inpod;
    private HbonePool pool;
    private StatsServer stats;
    private AdminServer admin;
    // Hand-over (issue 17): the agent this one replaces, and whether this one was replaced.
    private volatile Takeover takeover;
    private volatile boolean handedOver;
    /** The API client in Kubernetes mode (pods for enrollment and CNI admission), else null. */
    private KubernetesClient kubernetes;

    private NodeAgent(NodeAgentConfig config) {
        this.config = config;
    }

    /**
     * Starts an agent. Returns once every listener is bound; enrollment follows the first
     * xDS sync in the background.
     *
     * @throws RuntimeException naming the part that could not start; what had started is closed
     */
    public static NodeAgent start(NodeAgentConfig config) {
        requireNonNull(config, "config");
        NodeAgent agent = new NodeAgent(config);
        try {
            agent.startAll();
            return agent;
        } catch (RuntimeException e) {
            agent.close();
            throw e;
        }
    }

    private void startAll() {
        // Kernel features (issue 17): on a node that lacks one the agent stays unready, naming it
        // in its `kernel` readiness condition, and enrols nothing: no capture, no CNI socket (the
        // CNI plugin then fails the sandbox and the kubelet retries), so no pod is half enrolled.
        String kernelProblem = KernelCheck.problems(KernelCheck.forAgent(config).run());
        if (kernelProblem != null) {
            log.error("this node's kernel lacks what the agent needs; unready until it is fixed and the agent "
                    + "restarted: {}", kernelProblem);
            startStats(Readiness.builder().conditionWithReason("kernel", () -> kernelProblem).build(), null);
            return;
        }

        redirector = EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(config.bpffsRoot()).build());
        process.add(redirector);
        log.info("capture: {} programs under {} ({})", redirector.reopened() ? "re-opened" : "loaded",
                config.bpffsRoot(), redirector.version());

        TrustBundle bundle = TrustBundle.fromPem(config.trustDomain(), read(config.rootCert(), "root certificate"));
        ManagedChannel channel = controlPlaneChannel();
        process.add(() -> {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
        });

        state = ProxyState.create();
        String nodeId = XdsClient.istioNodeId(config.node(), "ambit-node-agent-" + config.node(), "istio-system");
        // tracing (issue 19): spans of traced tunnels, configured over xDS (LDS + EDS); closed after the data path.
        tracing = AgentTracing.of(metrics, AgentTracing.SERVICE_NAME, nodeId);
        process.add(tracing);
        xds = XdsClient.builder(channel)
                .handlers(state.handlers())
                .handlers(tracing.handlers())
                .nodeId(nodeId)
                .bearerToken(this::token)
                .metrics(metrics)
                .build();
        process.add(xds);

        certificates = CertificateManager.builder(CaClient.builder(channel, config.token()).trustBundle(bundle).build())
                .metrics(metrics)
                .build();
        process.add(certificates);
        TlsContexts tls = TlsContexts.builder(bundle).provider(config.tlsProvider()).build();
        log.info("TLS: {}", tls.provider());

        Transport transport = Transport.parse(config.transport());
        if (!transport.isAvailable()) {
            throw new IllegalStateException("--transport " + transport + " is not available here: "
                    + transport.unavailabilityCause() + " (use --transport epoll)", transport.unavailabilityCause());
        }
        EventLoopGroup group = transport.newEventLoopGroup(config.workerThreads(), "ambit-worker");
        log.info("data path: {} with {} event loops", transport, config.workerThreads());
        process.add(() -> group.shutdownGracefully(0, 2, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS));
        pool = HbonePool.builder(tls).metrics(metrics).build();
        process.add(pool);
        EndpointHealth endpointHealth = EndpointHealth.builder().metrics(metrics).build();
        // Pods that left the mesh's view: their pooled connections go now, not after the idle
        // timeout, and their endpoints' health is forgotten.
        state.addListener(() -> {
            pool.retainDestinations(uid -> state.workload(uid) != null);
            endpointHealth.retainWorkloads(uid -> state.workload(uid) != null);
        });

        // Hand-over (issue 17): a running agent of this node hands its pods to this one.
        java.nio.file.Path handoverSocket = HandoverProtocol.socketFor(config.cniSocket());
        HandoverClient previous = HandoverClient.connect(handoverSocket).orElse(null);
        if (previous != null) {
            process.add(previous);
            log.info("hand-over: agent pid {} runs on this node: taking its pods over", previous.peerPid());
        }

        SandboxSource sandboxes = sandboxes();
        inpod = InPodManager.builder(config.node(),
                        new PodProxy.Shared(state, certificates, tls, pool, OriginalDestinations.of(redirector), group,
                                metrics, PodProxy.Ports.ISTIO, endpointHealth, tracing.spans()),
                        sandboxes, Capture.of(redirector))
                .ready(xds::isSynced)
                .networks((workloadUid, sandbox) -> PodNetwork.namespace(workloadUid, sandbox.netns(), transport))
                .drainDeadline(config.drainTimeout())
                .connectionWait(config.connectionWait())
                .build();
        process.add(inpod);
        if (previous != null) { // hand-over: none of its pods is unenrolled before it is taken
            inpod.expectAdoption(previous.pods().stream().map(h -> h.sandbox().uid()).toList());
        }
        inpod.start();
        // Pods reported here are captured before their containers start, xDS or not.
        // CNI plugin (ambit-cni): on Kubernetes every pod of the node is reported; the API
        // server's labels decide which are meshed, and their cgroup is found from the UID.
        CniServer cni = (kubernetes == null ? CniServer.builder(config.cniSocket(), CniServer.Pods.of(inpod))
                : CniServer.builder(config.cniSocket(), CniServer.Pods.of(inpod))
                        .admission(KubernetesAdmission.of(kubernetes)).cgroupRoot(config.cgroupRoot())).start();
        process.add(cni);
        xds.start();

        Readiness readiness = Readiness.builder()
                .conditionWithReason("kernel", () -> null) // checked above
                .xdsSynced(xds)
                .condition("not draining", () -> !draining.get())
                .condition("hand-over done", () -> takeover == null || takeover.done()) // issue 17
                .build();
        if (previous != null && previous.sharesNetworkNamespace()) {
            previous.releasePorts(); // local mode: both agents in the node's namespace, one set of ports
        }
        startStats(readiness, AgentAdmin.meshView(state, inpod::enrolled)); // issue 19: the mesh view in Kubernetes
        InetSocketAddress a = config.adminAddress();
        admin = AgentAdmin.builder(state, xds, certificates, endpointHealth, inpod::enrolled)
                .address(new InetSocketAddress(a.getHostString(), a.getPort()))
                .start();
        process.add(admin);
        // Hand-over (issue 17): take the previous agent's pods, then listen for the next agent.
        Runnable listen = () -> {
            if (!draining.get()) {
                process.add(HandoverServer.start(handoverSocket, HandoverServer.Giver.of(inpod, this::releasePorts,
                        this::handedOver)));
            }
        };
        if (previous != null) {
            takeover = Takeover.start(previous, inpod, xds::isSynced, Duration.ofSeconds(30), metrics, listen);
        } else {
            listen.run();
        }
        log.info("node agent for node {} started: admin {}, stats {}, readiness {}, control plane {}", config.node(),
                admin.localAddress(), stats.statsAddress(), stats.readinessAddress(), config.istiod());
    }

    /** @param meshView the mesh view's read-only JSON on the stats port; null: none (nothing enrolled) */
    private void startStats(Readiness readiness, HttpEndpoints.Handler meshView) {
        StatsServer.Builder b = StatsServer.builder(metrics, readiness)
                .statsAddress(new InetSocketAddress(config.statsPort()))
                .readinessAddress(new InetSocketAddress(config.readinessPort()));
        if (meshView != null) {
            b.get(AgentAdmin.MESH_VIEW_PATH, meshView);
        }
        stats = b.start();
        process.add(stats);
    }

    /** Where {@code /healthz/ready} is served (the bound port when configured with 0). */
    public InetSocketAddress readinessAddress() {
        return stats.readinessAddress();
    }

    private SandboxSource sandboxes() {
        if (config.podsDir() != null) {
            return LocalSandboxes.of(config.podsDir(), Duration.ofMillis(200));
        }
        // In-cluster config (service account) or kubeconfig: fabric8's usual discovery.
        KubernetesClient client = new KubernetesClientBuilder().build();
        process.add(client);
        kubernetes = client;
        return KubernetesSandboxes.builder(client, config.node()).cgroupRoot(config.cgroupRoot()).build();
    }

    private ManagedChannel controlPlaneChannel() {
        InetSocketAddress cp = config.istiodAddress();
        try {
            return NettyChannelBuilder.forAddress(cp.getHostString(), cp.getPort())
                    .overrideAuthority(config.istiodName())
                    .sslContext(GrpcSslContexts.forClient()
                            .trustManager(config.rootCert().toFile())
                            .protocols("TLSv1.3")
                            .build())
                    // A full push of a big mesh exceeds gRPC's 4 MiB default.
                    .maxInboundMessageSize(Limits.MAX_GRPC_MESSAGE_BYTES)
                    .build();
        } catch (IOException e) {
            throw new UncheckedIOException("control plane TLS: cannot use root certificate " + config.rootCert()
                    + ": " + e.getMessage(), e);
        }
    }

    private String token() {
        return read(config.token(), "token").trim();
    }

    private static String read(java.nio.file.Path file, String what) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(what + " " + file + ": cannot read: " + e.getMessage()
                    + " (is it mounted, and readable by the agent?)", e);
        }
    }

    public MetricsRegistry metrics() {
        return metrics;
    }

    public ProxyState state() {
        return state;
    }

    public InPodManager pods() {
        return inpod;
    }

    /** The agent's tracing (issue 19); null before {@code start} got that far. */
    public AgentTracing tracing() {
        return tracing;
    }

    public XdsClient xds() {
        return xds;
    }

    public EbpfRedirector redirector() {
        return redirector;
    }

    /**
     * Drains and stops: readiness turns false, pods' listeners stop accepting, open
     * connections get the drain timeout to finish, then everything closes. Idempotent.
     */
    public void shutdown() {
        if (!draining.compareAndSet(false, true)) {
            awaitTermination();
            return;
        }
        Duration deadline = config.drainTimeout();
        log.info("shutting down: draining pod connections for up to {}", deadline);
        long end = System.nanoTime() + deadline.toNanos();
        if (inpod != null) {
            try {
                int forced = inpod.drainAll(deadline).get(deadline.toMillis() + 10_000, TimeUnit.MILLISECONDS);
                log.info("pods drained{}", forced > 0 ? ": " + forced + " connections closed at the deadline" : "");
            } catch (Exception e) {
                log.warn("drain did not finish: {}", e.toString());
            }
        }
        if (pool != null) {
            // Outbound tunnels have ended with their client connections; what is left is idle.
            Duration rest = Duration.ofNanos(Math.max(0, end - System.nanoTime()));
            try {
                pool.drain(rest).get(rest.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                log.warn("HBONE pool drain did not finish: {}", e.toString());
            }
        }
        close();
    }

    /** Hand-over: this agent's pods are another's now; its ports go to it. */
    private void releasePorts() {
        stats.close();
        admin.close();
    }

    /** Hand-over complete: drain what is left and stop ({@link #main} then exits, or waits in Kubernetes). */
    private void handedOver() {
        handedOver = true;
        Thread.ofPlatform().name("ambit-retire").start(this::shutdown);
    }

    /** The hand-over this agent is taking, or null if it replaced no agent. */
    public Takeover takeover() {
        return takeover;
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitTermination() {
        process.awaitTermination();
    }

    /** Closes everything at once, without draining. Capture stays attached. */
    @Override
    public void close() {
        draining.set(true);
        process.close();
    }

    public static void main(String[] args) {
        ProxyProcess.leakDetectionOffUnlessAsked();
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            System.out.print(NodeAgentConfig.USAGE);
            System.out.print(KernelCheck.USAGE);
            System.out.print(dev.ambit.cni.CniInstaller.USAGE);
            return;
        }
        if (List.of(args).contains("--version")) {
            System.out.println("node-agent " + KernelCheck.version());
            return;
        }
        if (List.of(args).contains("--install-cni")) {
            // The DaemonSet's install-cni container: the CNI plugin onto the host.
            System.exit(dev.ambit.cni.CniInstaller.main(System.out, args));
            return;
        }
        if (List.of(args).contains("--prepare-node")) {
            System.exit(NodePreparation.prepareFromFlags(System.out, args));
            return;
        }
        if (List.of(args).contains("--check-kernel")) {
            System.exit(KernelCheck.checkFromFlags(args));
            return;
        }
        NodeAgentConfig config;
        try {
            config = NodeAgentConfig.parse(System.getenv("NODE_NAME"), args);
        } catch (IllegalArgumentException e) {
            System.err.println("node-agent: " + e.getMessage());
            System.err.print(NodeAgentConfig.USAGE);
            System.exit(2);
            return;
        }
        try {
            ProxyLogging.configure(config.log(), config.logJson());
        } catch (IllegalArgumentException e) {
            System.err.println("node-agent: --log: " + e.getMessage());
            System.exit(2);
            return;
        }
        NodeAgent agent;
        try {
            agent = start(config);
        } catch (RuntimeException e) {
            log.error("node agent failed to start: {}", e.getMessage(), e);
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            agent.shutdown();
            ProxyLogging.shutdownComplete();
        }, "ambit-shutdown"));
        agent.awaitTermination();
        if (agent.handedOver) { // issue 17: the hand-over ended this agent, not a signal
            if (config.podsDir() == null) {
                // Kubernetes: the DaemonSet deletes this pod once its successor is ready; exiting
                // would make the kubelet restart this container, which would take the pods back.
                log.info("handed over: waiting for SIGTERM");
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            log.info("handed over: exiting");
            System.exit(0);
        }
    }
}
