package dev.ambit.waypoint;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.config.Limits;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.admin.ConfigDumpSections;
import dev.ambit.proxy.admin.ProxyLogging;
import dev.ambit.proxy.admin.ProxyProcess;
import dev.ambit.proxy.admin.Readiness;
import dev.ambit.proxy.admin.StatsServer;
import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.TrustBundle;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import dev.ambit.waypoint.config.WaypointConfig;
import dev.ambit.waypoint.config.WaypointConfigStore;
import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.telemetry.trace.Tracers;
import dev.ambit.waypoint.http.HttpTracing;
import dev.ambit.waypoint.http.WaypointServer;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waypoint process: the one class that wires the parts together (as {@code NodeAgent}
 * does for the agent). Start order: the control-plane channels (xDS and CA over TLS on
 * 15012, one channel when they share an address), the waypoint's own certificate
 * ({@code spiffe://TD/ns/NS/sa/SA}), the xDS client (Istio's Address and Authorization into
 * {@link ProxyState}, Envoy's four types into {@link WaypointConfigStore}, one delta ADS
 * stream, node id and metadata per CONTRACT.md), the data path's event loops, TLS and HBONE
 * pool, the data path itself ({@link #startDataPath}), then stats, readiness and admin.
 *
 * <p>Ready ({@code /healthz/ready}) once the first xDS sync and the certificate are in and the
 * data path is listening. Shutdown (SIGTERM): readiness turns false, the data path drains for
 * {@code --drain-timeout}, then everything closes.
 */
public final class Waypoint implements AutoCloseable {

    static {
        // Before the first logger exists (the next line): JUL's manager is chosen once.
        if (System.getProperty("java.util.logging.manager") == null) {
            System.setProperty("java.util.logging.manager", ProxyLogging.MANAGER);
        }
    }

    private static final Logger log = LoggerFactory.getLogger(Waypoint.class);

    /** {@code node.user_agent_name} of a waypoint (CONTRACT.md). */
    public static final String USER_AGENT = "ambit-waypoint";
    /** {@code node.user_agent_name} of an ingress gateway ({@code --mode gateway}). */
    public static final String GATEWAY_USER_AGENT = "ambit-gateway";
    /** The label naming a waypoint pod's Gateway, in the node metadata's {@code LABELS}. */
    public static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

    private final WaypointFlags flags;
    private final ProxyProcess process = new ProxyProcess(); // what close() closes, in reverse order
    private final AtomicBoolean draining = new AtomicBoolean();
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final WaypointConfigStore config;
    private final ProxyState state = ProxyState.create();
    private XdsClient xds;
    private Tracers tracers;
    private CertificateManager certificates;
    private HbonePool pool;
    private DataPath dataPath = DataPath.NONE;
    private StatsServer stats;
    private AdminServer admin;
    /** The data path's cluster manager, for the admin's endpoint state (resilience). */
    private final java.util.concurrent.atomic.AtomicReference<ClusterManager> upstreams =
            new java.util.concurrent.atomic.AtomicReference<>();

    private Waypoint(WaypointFlags flags) {
        this.flags = flags;
        this.config = WaypointConfigStore.builder().listenerPort(flags.hbonePort()).gateway(flags.gateway()).build();
    }

    /**
     * Starts a waypoint. Returns once every listener is bound; xDS and the certificate follow
     * in the background (readiness reports them).
     *
     * @throws RuntimeException naming the part that could not start; what had started is closed
     */
    public static Waypoint start(WaypointFlags flags) {
        requireNonNull(flags, "flags");
        Waypoint w = new Waypoint(flags);
        try {
            w.startAll();
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }

    private void startAll() {
        TrustBundle bundle = TrustBundle.fromPem(flags.trustDomain(), read(flags.rootCert(), "root certificate"));
        ManagedChannel xdsChannel = channel(flags.xds(), flags.plaintext());
        ManagedChannel caChannel = flags.sharedChannel() ? xdsChannel : channel(flags.ca(), false);

        xds = XdsClient.builder(xdsChannel)
                .handlers(state.handlers())
                .handlers(config.handlers())
                .nodeId(flags.nodeId())
                .userAgentName(flags.gateway() ? GATEWAY_USER_AGENT : USER_AGENT)
                .nodeMetadata(nodeMetadata(flags))
                .bearerToken(this::token)
                .metrics(metrics)
                .build();
        process.add(xds);

        SpiffeId identity = flags.identity();
        certificates = CertificateManager.builder(CaClient.builder(caChannel, flags.tokenFile()).trustBundle(bundle).build())
                .metrics(metrics)
                .build();
        process.add(certificates);
        // Tracked from now on: renewed at half life, retried with backoff while the CA is away.
        certificates.fetch(identity).whenComplete((c, e) -> {
            if (e != null) {
                log.warn("certificate for {}: {} (retrying)", identity.uri(), e.getMessage());
            } else {
                log.info("certificate for {}: serial {}, valid until {}", identity.uri(), c.serialNumber().toString(16),
                        c.notAfter());
            }
        });
        TlsContexts tls = TlsContexts.builder(bundle).provider(flags.tlsProvider()).build();
        log.info("TLS: {}", tls.provider());

        Transport transport = Transport.parse(flags.transport());
        if (!transport.isAvailable()) {
            throw new IllegalStateException("--transport " + transport + " is not available here: "
                    + transport.unavailabilityCause() + " (use --transport epoll)", transport.unavailabilityCause());
        }
        EventLoopGroup workers = transport.newEventLoopGroup(flags.workerThreads(), "ambit-worker");
        process.add(() -> workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS));
        pool = HbonePool.builder(tls).metrics(metrics).build();
        process.add(pool);
        // Endpoints that left the mesh's view: their pooled connections go now, not after the idle timeout.
        state.addListener(() -> pool.retainDestinations(uid -> state.workload(uid) != null));
        xds.start();

        // tracing (issue 19): export pipelines per collector, closed after the data path (added first).
        tracers = Tracers.builder(metrics, this::collectorEndpoint).build();
        process.add(tracers);
        dataPath = requireNonNull(startDataPath(new DataPath.Context(flags, config, state, certificates, identity, tls,
                transport, workers, SocketFactory.host("waypoint", transport), pool, metrics)), "startDataPath");
        process.add(dataPath);

        Readiness readiness = Readiness.builder()
                .xdsSynced(xds)
                .condition("certificate", () -> certificates.current(identity).isPresent())
                .condition("data path listening", () -> dataPath != DataPath.NONE)
                .condition("not draining", () -> !draining.get())
                .build();
        InetAddress listen = listenAddress();
        stats = StatsServer.builder(metrics, readiness)
                .statsAddress(new InetSocketAddress(listen, flags.statsPort()))
                .readinessAddress(new InetSocketAddress(listen, flags.readyPort()))
                .start();
        process.add(stats);
        admin = WaypointAdmin.builder(config, state, certificates, () -> ConfigDumpSections.XdsStatus.of(xds),
                        this.upstreams::get)
                .address(new InetSocketAddress(InetAddress.getLoopbackAddress(), flags.adminPort()))
                .start();
        process.add(admin);
        log.info("waypoint {}/{} ({}) started as {}: admin {}, stats {}, readiness {}, xDS {}{}", flags.namespace(),
                flags.name(), flags.podName(), identity.uri(), admin.localAddress(), stats.statsAddress(),
                stats.readinessAddress(), flags.xdsAddress(), flags.plaintext() ? " (plaintext)" : "");
    }

    /**
     * Starts the data path: the cluster manager ({@code dev.ambit.waypoint.upstream}: endpoint
     * picking, HBONE through {@code ctx.pool()} with the waypoint's own certificate, plaintext to
     * unmeshed endpoints) and the HBONE listener on {@code --hbone-port} ({@code
     * dev.ambit.waypoint.http}: terminates the tunnels with the waypoint's certificate, picks the
     * filter chain of each CONNECT's {@code :authority}, runs the HTTP engine or the TCP relay),
     * returned as one {@link DataPath}: the listener drains first, then both close.
     */
    private DataPath startDataPath(DataPath.Context ctx) {
        Supplier<WorkloadCertificate> certificate = () -> ctx.certificates().current(ctx.identity()).orElse(null);
        ClusterManager upstreams = ClusterManager.builder(ctx.config()::current, ctx.sockets(), ctx.workers())
                .hbone(ctx.pool(), certificate)
                .workloads(ctx.state()::workloadByAddress)
                .hbonePort(IstioPorts.HBONE)
                .metrics(ctx.metrics())
                .build();
        this.upstreams.set(upstreams);
        if (ctx.flags().gateway()) {
            return GatewayDataPath.start(ctx, upstreams, listenAddress(), httpTracing(ctx.flags()));
        }
        WaypointServer server;
        try {
            server = WaypointServer.builder(ctx.sockets(), ctx.workers(), ctx.tls(), certificate, ctx.config()::current,
                            upstreams, ctx.state(), ctx.metrics())
                    .bindAddress(new InetSocketAddress(listenAddress(), ctx.flags().hbonePort()))
                    .tracing(httpTracing(ctx.flags()))
                    .build()
                    .start();
        } catch (RuntimeException e) {
            upstreams.close();
            throw e;
        }
        return new DataPath() {
            @Override
            public CompletableFuture<Integer> drain(Duration deadline) {
                return server.drain(deadline);
            }

            @Override
            public void close() {
                server.close();
                upstreams.close();
            }

            @Override
            public String toString() {
                return "HBONE listener " + server.localAddress();
            }
        };
    }

    /** The engine's spans (issue 19) as this proxy: node id, canonical service, {@code <name>.<namespace>}. */
    private HttpTracing httpTracing(WaypointFlags f) {
        Workload self = GatewayDataPath.self(f);
        return HttpTracing.of(tracers, new HttpTracing.Identity(f.nodeId(), f.labels().getOrDefault(
                "topology.kubernetes.io/zone", ""), self.getCanonicalName(), self.getCanonicalRevision(), f.namespace(),
                f.trustDomain(), f.name() + "." + f.namespace(), f.gateway()));
    }

    /**
     * A trace collector's endpoint: the first endpoint of its cluster (Istio's
     * {@code outbound|PORT||HOST}) in the current EDS, reached in plaintext (CONTRACT T1); null if none.
     */
    private InetSocketAddress collectorEndpoint(String cluster) {
        WaypointConfig current = config.current();
        if (current == null) {
            return null;
        }
        for (var lb : current.endpoints(cluster)) {
            var a = lb.getEndpoint().getAddress().getSocketAddress();
            if (!a.getAddress().isEmpty() && a.getPortValue() > 0) {
                return new InetSocketAddress(a.getAddress(), a.getPortValue());
            }
        }
        return null;
    }

    /**
     * CONTRACT.md's node metadata: istiod-lite serves a proxy its resources by LABELS and
     * NAMESPACE. A waypoint's LABELS name its Gateway; a gateway's are its pod's labels
     * ({@code --label}, {@code --labels-file}), which its Gateways' selectors match.
     */
    static Struct nodeMetadata(WaypointFlags flags) {
        Struct.Builder labels = Struct.newBuilder();
        if (flags.gateway()) {
            flags.labels().forEach((k, v) -> labels.putFields(k, string(v)));
        } else {
            labels.putFields(GATEWAY_NAME_LABEL, string(flags.name()));
        }
        return Struct.newBuilder()
                .putFields("NAMESPACE", string(flags.namespace()))
                .putFields("NAME", string(flags.podName()))
                .putFields("SERVICE_ACCOUNT", string(flags.serviceAccount()))
                .putFields("LABELS", Value.newBuilder().setStructValue(labels).build())
                .putFields("GENERATOR", string("waypoint"))
                .putFields("CLUSTER_ID", string(flags.clusterId()))
                .build();
    }

    private static Value string(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    private InetAddress listenAddress() {
        String a = flags.listenAddress();
        try {
            return InetAddress.getByName(a); // a literal (checked by the flags): no lookup
        } catch (IOException e) {
            throw new IllegalArgumentException("--listen-address: " + a + " (expected: an IP address)", e);
        }
    }

    private ManagedChannel channel(InetSocketAddress address, boolean plaintext) {
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(address.getHostString(), address.getPort())
                // A full push of a big mesh exceeds gRPC's 4 MiB default.
                .maxInboundMessageSize(Limits.MAX_GRPC_MESSAGE_BYTES);
        if (plaintext) {
            b.usePlaintext();
        } else {
            try {
                b.overrideAuthority(flags.istiodName()).sslContext(GrpcSslContexts.forClient()
                        .trustManager(flags.rootCert().toFile())
                        .protocols("TLSv1.3")
                        .build());
            } catch (IOException e) {
                throw new UncheckedIOException("control plane TLS: cannot use root certificate " + flags.rootCert()
                        + ": " + e.getMessage(), e);
            }
        }
        ManagedChannel channel = b.build();
        process.add(() -> {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
        });
        return channel;
    }

    private String token() {
        return read(flags.tokenFile(), "token").trim();
    }

    private static String read(Path file, String what) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(what + " " + file + ": cannot read: " + e.getMessage()
                    + " (is it mounted, and readable by the waypoint?)", e);
        }
    }

    public WaypointConfigStore config() {
        return config;
    }

    public ProxyState state() {
        return state;
    }

    public XdsClient xds() {
        return xds;
    }

    public MetricsRegistry metrics() {
        return metrics;
    }

    /** Where admin listens (the bound port when configured with 0). */
    public InetSocketAddress adminAddress() {
        return admin.localAddress();
    }

    /** Where Prometheus {@code /metrics} listens. */
    public InetSocketAddress statsAddress() {
        return stats.statsAddress();
    }

    /** Where {@code /healthz/ready} listens. */
    public InetSocketAddress readinessAddress() {
        return stats.readinessAddress();
    }

    /** Drains and stops: readiness turns false, the data path drains, then everything closes. Idempotent. */
    public void shutdown() {
        if (!draining.compareAndSet(false, true)) {
            awaitTermination();
            return;
        }
        Duration deadline = flags.drainTimeout();
        log.info("shutting down: draining connections for up to {}", deadline);
        long end = System.nanoTime() + deadline.toNanos();
        try {
            int forced = dataPath.drain(deadline).get(deadline.toMillis() + 10_000, TimeUnit.MILLISECONDS);
            log.info("data path drained{}", forced > 0 ? ": " + forced + " connections closed at the deadline" : "");
        } catch (Exception e) {
            log.warn("drain did not finish: {}", e.toString());
        }
        if (pool != null) {
            Duration rest = Duration.ofNanos(Math.max(0, end - System.nanoTime()));
            try {
                pool.drain(rest).get(rest.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                log.warn("HBONE pool drain did not finish: {}", e.toString());
            }
        }
        close();
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitTermination() {
        process.awaitTermination();
    }

    /** Closes everything at once, without draining. */
    @Override
    public void close() {
        draining.set(true);
        process.close();
    }

    /** The waypoint's version from its jar's Maven metadata, or {@code "dev"} when run from classes. */
    static String version() {
        try (InputStream in = Waypoint.class.getResourceAsStream(
                "/META-INF/maven/dev.ambit/waypoint-proxy/pom.properties")) {
            if (in == null) {
                return "dev";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "dev");
        } catch (IOException e) {
            return "dev";
        }
    }

    public static void main(String[] args) {
        ProxyProcess.leakDetectionOffUnlessAsked();
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            System.out.print(WaypointFlags.USAGE);
            return;
        }
        if (List.of(args).contains("--version")) {
            System.out.println("waypoint-proxy " + version());
            return;
        }
        WaypointFlags flags;
        try {
            flags = WaypointFlags.parse(System.getenv(), args);
        } catch (IllegalArgumentException e) {
            System.err.println("waypoint-proxy: " + e.getMessage());
            System.err.print(WaypointFlags.USAGE);
            System.exit(2);
            return;
        }
        try {
            ProxyLogging.configure(flags.logLevel(), flags.logJson());
        } catch (IllegalArgumentException e) {
            System.err.println("waypoint-proxy: --log-level: " + e.getMessage());
            System.exit(2);
            return;
        }
        Waypoint waypoint;
        try {
            waypoint = start(flags);
        } catch (RuntimeException e) {
            log.error("waypoint failed to start: {}", e.getMessage(), e);
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            waypoint.shutdown();
            ProxyLogging.shutdownComplete();
        }, "ambit-shutdown"));
        waypoint.awaitTermination();
    }
}
