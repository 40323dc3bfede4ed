package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.model.MeshResources;
import io.envoyproxy.envoy.config.core.v3.ControlPlane;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ADS server of istiod-lite.
 *
 * <p><b>Delta</b> ({@code DeltaAggregatedResources}, node agents and waypoints):
 * {@value TypeUrls#ADDRESS} and {@value TypeUrls#AUTHORIZATION}, one snapshot shared by
 * every client; and Envoy's Listener, RouteConfiguration, Cluster, ClusterLoadAssignment
 * and Secret <em>per proxy</em>: a client whose node metadata names a waypoint or gateway
 * ({@link NodeMetadata#proxyKey()}) gets that proxy's resources, any other client an
 * empty set of them.
 *
 * <p>Feed it the model with {@link #update(MeshResources, L7Resources)} from any thread;
 * bursts are debounced and the latest model wins. Each connected client then gets, per
 * type it subscribed to, one response with only what changed for it (new or changed
 * resources, and the names of removed ones), or nothing when nothing changed. Clients may
 * subscribe to everything (wildcard) or to names, resume with
 * {@code initial_resource_versions}, and ACK or NACK each response; a NACK is logged and
 * counted, the client keeps what it had, and the stream stays open.
 *
 * <p><b>State of the world</b> ({@code StreamAggregatedResources}) is served to proxyless
 * gRPC clients only (node metadata {@code GENERATOR: grpc}, as Istio tells them apart):
 * they get {@link L7Resources#forGrpc()} following gRFC A27 (see {@link SotwStream}).
 * Other clients are refused with {@code UNIMPLEMENTED}, naming the delta method: serving
 * them gRPC's resources would configure an Envoy wrongly, without an error.
 *
 * <p>Nothing is answered before the first update: until the model is known, an answer
 * would tell clients that nothing exists.
 *
 * <pre>{@code
 * XdsService xds = XdsService.builder(metrics)
 *         .debounce(Duration.ofMillis(100), Duration.ofSeconds(1))
 *         .build();
 * modelSource.onChange(xds::update);
 * XdsServer server = XdsServer.builder(xds).address(new InetSocketAddress(15010)).build().start();
 * }</pre>
 */
public final class XdsService implements AggregatedDiscoveryServiceGrpc.AsyncService, BindableService,
                                         AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(XdsService.class);

    /**
     * The type URLs served on delta streams, in the order they are pushed within one
     * update: workloads and policies, then Envoy's in its make-before-break order (CDS,
     * EDS, SDS, LDS, RDS), so a listener never points at a secret, route or cluster not sent yet.
     */
    public static final List<String> TYPE_URLS = List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION,
            TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, TypeUrls.SECRET, TypeUrls.LISTENER,
            TypeUrls.ROUTE_CONFIGURATION);

    public static final Duration DEFAULT_QUIET_PERIOD = Duration.ofMillis(100);
    public static final Duration DEFAULT_MAX_DELAY = Duration.ofSeconds(1);

    private static final Context.Key<SocketAddress> PEER = Context.key("ambit-xds-peer");

    /** What {@link #update} hands the debouncer: the latest of both wins. */
    private record Model(MeshResources mesh, L7Resources l7) {}

    /**
     * The snapshots being served (the shared one, and the Envoy ones per waypoint and for
     * gRPC), their number, when the oldest update they carry was made, and per type URL
     * what changed from generation {@code generation - 1} (empty maps for the first).
     * Streams in sync with that generation send just these changes.
     */
    record Published(XdsSnapshot snapshot, long generation, long firstUpdateNanos,
                     Map<String, XdsSnapshot.Changes> changes, L7Snapshots l7,
                     Map<String, Map<String, XdsSnapshot.Changes>> l7Changes) {

        Published {
            changes = Map.copyOf(changes);
            l7Changes = Map.copyOf(l7Changes);
        }

        /** What a client of waypoint {@code proxyKey} (empty: none) is served of {@code typeUrl}. */
        XdsSnapshot snapshotFor(String typeUrl, String proxyKey) {
            return L7Snapshots.ENVOY_TYPES.contains(typeUrl) ? l7.waypoint(proxyKey) : snapshot;
        }

        /**
         * What changed in {@code typeUrl} for waypoint {@code proxyKey} since the previous
         * generation; null when unknown (the first generation).
         */
        XdsSnapshot.Changes changesFromPrevious(String typeUrl, String proxyKey) {
            if (!L7Snapshots.ENVOY_TYPES.contains(typeUrl)) {
                return changes.get(typeUrl);
            }
            if (changes.isEmpty()) {
                return null;
            }
            Map<String, XdsSnapshot.Changes> byType = l7Changes.get(proxyKey);
            // No entry: a waypoint in neither generation (or no waypoint), empty in both.
            return byType != null ? byType.get(typeUrl) : NO_CHANGES;
        }
    }

    private static final XdsSnapshot.Changes NO_CHANGES = new XdsSnapshot.Changes(List.of(), List.of());

    private final XdsMetrics metrics;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final ScheduledExecutorService scheduler;
    private final Debouncer<Model> debouncer;
    private final ControlPlane controlPlane;
    private final String noncePrefix = String.format("%08x-", ThreadLocalRandom.current().nextInt());
    private final AtomicLong nonces = new AtomicLong();
    private final AtomicLong streamIds = new AtomicLong();
    private final Map<Long, AdsStream> streams = new ConcurrentSkipListMap<>();
    private volatile Published published;
    private volatile boolean closed;

    private XdsService(Builder builder) {
        metrics = new XdsMetrics(builder.metrics);
        if (builder.executor != null) {
            executor = builder.executor;
            ownedExecutor = null;
        } else {
            // Push work (diffing, serializing) runs here, never on gRPC's threads.
            ownedExecutor = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("ambit-xds-push-", 0).factory());
            executor = ownedExecutor;
        }
        scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ambit-xds-debounce");
            t.setDaemon(true);
            return t;
        });
        debouncer = new Debouncer<>(builder.quietPeriod, builder.maxDelay, scheduler, this::publish);
        controlPlane = ControlPlane.newBuilder().setIdentifier(builder.controlPlaneId).build();
    }

    /** A builder; metrics go to {@code metrics}. */
    public static Builder builder(MetricsRegistry metrics) {
        return new Builder(metrics);
    }

    /**
     * Makes {@code resources} the model to serve, with no L7 resources (waypoints and
     * gRPC clients get empty sets). See {@link #update(MeshResources, L7Resources)}.
     */
    public void update(MeshResources resources) {
        update(resources, L7Resources.empty());
    }

    /**
     * Makes {@code resources} (workloads, policies) and {@code l7} (Envoy resources per
     * waypoint and for gRPC) the model to serve, after the debounce delay; a later call
     * before then replaces both. Safe from any thread; returns at once. Ignored once
     * closed. Passing the same {@code l7} object again costs nothing for the L7 part.
     */
    public void update(MeshResources resources, L7Resources l7) {
        requireNonNull(resources, "resources");
        requireNonNull(l7, "l7");
        if (closed) {
            log.debug("xDS service closed; update ignored");
            return;
        }
        debouncer.submit(new Model(resources, l7));
    }

    /** The Address/Authorization snapshot being served; empty before the first update has been published. */
    public Optional<XdsSnapshot> snapshot() {
        Published p = published;
        return p == null ? Optional.empty() : Optional.of(p.snapshot());
    }

    /**
     * The Envoy resources served to waypoint {@code "NS/NAME"} (the four types, empty for an
     * unknown waypoint); empty before the first update has been published.
     */
    public Optional<XdsSnapshot> waypointSnapshot(String key) {
        requireNonNull(key, "key");
        Published p = published;
        return p == null ? Optional.empty() : Optional.of(p.l7().waypoint(key));
    }

    /** The Envoy resources served to proxyless gRPC clients; empty before the first update. */
    public Optional<XdsSnapshot> grpcSnapshot() {
        Published p = published;
        return p == null ? Optional.empty() : Optional.of(p.l7().grpc());
    }

    /** The L7 resources being served (as the translator gave them); empty before the first update. */
    public L7Resources l7Resources() {
        Published p = published;
        return p == null ? L7Resources.empty() : p.l7().source();
    }

    /** Open streams. */
    public int connectedClients() {
        return streams.size();
    }

    /** The current snapshot and every connected client's state. */
    public XdsDebugView debugView() {
        Published p = published;
        XdsDebugView.SnapshotView snapshotView;
        Map<String, XdsDebugView.SnapshotView> waypoints = new LinkedHashMap<>();
        XdsDebugView.SnapshotView grpc;
        if (p == null) {
            snapshotView = new XdsDebugView.SnapshotView(0, Map.of(), Map.of());
            grpc = snapshotView;
        } else {
            snapshotView = view(p.generation(), p.snapshot());
            p.l7().waypoints().forEach((key, s) -> waypoints.put(key, view(p.generation(), s)));
            grpc = view(p.generation(), p.l7().grpc());
        }
        List<XdsDebugView.ClientView> clients = new ArrayList<>(streams.size());
        for (AdsStream stream : streams.values()) {
            clients.add(stream.view());
        }
        return new XdsDebugView(snapshotView, waypoints, grpc, clients);
    }

    private static XdsDebugView.SnapshotView view(long generation, XdsSnapshot snapshot) {
        Map<String, String> typeVersions = new LinkedHashMap<>();
        Map<String, SortedMap<String, String>> resources = new LinkedHashMap<>();
        for (String typeUrl : snapshot.typeUrls()) {
            typeVersions.put(typeUrl, snapshot.version(typeUrl));
            resources.put(typeUrl, snapshot.versions(typeUrl));
        }
        return new XdsDebugView.SnapshotView(generation, typeVersions, resources);
    }

    @Override
    public StreamObserver<DeltaDiscoveryRequest> deltaAggregatedResources(
            StreamObserver<DeltaDiscoveryResponse> responseObserver) {
        ServerCallStreamObserver<DeltaDiscoveryResponse> out =
                (ServerCallStreamObserver<DeltaDiscoveryResponse>) responseObserver;
        if (closed) {
            out.onError(Status.UNAVAILABLE.withDescription("istiod-lite is shutting down; reconnect")
                    .asRuntimeException());
            return new IgnoringObserver<>();
        }
        long id = streamIds.incrementAndGet();
        String peer = peer();
        XdsStream stream = new XdsStream(id, this, metrics, out, executor, peer);
        streams.put(id, stream);
        metrics.clientConnected();
        log.debug("xDS stream {} opened from {}", id, peer);
        return stream;
    }

    /**
     * State-of-the-world ADS, for proxyless gRPC clients ({@code GENERATOR: grpc}); the
     * stream checks the node of the first request and refuses any other client.
     */
    @Override
    public StreamObserver<DiscoveryRequest> streamAggregatedResources(
            StreamObserver<DiscoveryResponse> responseObserver) {
        ServerCallStreamObserver<DiscoveryResponse> out = (ServerCallStreamObserver<DiscoveryResponse>) responseObserver;
        if (closed) {
            out.onError(Status.UNAVAILABLE.withDescription("istiod-lite is shutting down; reconnect")
                    .asRuntimeException());
            return new IgnoringObserver<>();
        }
        long id = streamIds.incrementAndGet();
        String peer = peer();
        SotwStream stream = new SotwStream(id, this, metrics, out, executor, peer);
        streams.put(id, stream);
        metrics.clientConnected();
        log.debug("xDS state-of-the-world stream {} opened from {}", id, peer);
        return stream;
    }

    @Override
    public ServerServiceDefinition bindService() {
        return ServerInterceptors.intercept(AggregatedDiscoveryServiceGrpc.bindService(this), new PeerInterceptor());
    }

    /**
     * Stops publishing and ends every stream with {@code UNAVAILABLE}, so clients
     * reconnect (to another instance, or to this one when it is back).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        debouncer.close();
        scheduler.shutdownNow();
        Status status = Status.UNAVAILABLE.withDescription("istiod-lite is shutting down; reconnect");
        for (AdsStream stream : streams.values()) {
            stream.shutdown(status);
        }
        if (ownedExecutor != null) {
            ownedExecutor.shutdown();
            try {
                // Lets the queued stream endings go out; they are quick.
                if (!ownedExecutor.awaitTermination(2, TimeUnit.SECONDS)) {
                    ownedExecutor.shutdownNow();
                }
            } catch (InterruptedException e) {
                ownedExecutor.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---- for streams ----

    Published published() {
        return published;
    }

    boolean serves(String typeUrl) {
        return TYPE_URLS.contains(typeUrl);
    }

    List<String> typeUrls() {
        return TYPE_URLS;
    }

    ControlPlane controlPlane() {
        return controlPlane;
    }

    /** Unique across streams and, thanks to a random prefix, across restarts. */
    String nextNonce() {
        return noncePrefix + nonces.incrementAndGet();
    }

    void streamClosed(AdsStream stream) {
        if (streams.remove(stream.id()) != null) {
            metrics.clientDisconnected();
        }
    }

    // ---- publishing (on the debounce thread) ----

    private void publish(Model model, long firstUpdateNanos) {
        Published current = published;
        XdsSnapshot snapshot = current == null
                ? XdsSnapshot.of(model.mesh())
                : XdsSnapshot.of(model.mesh(), current.snapshot());
        L7Snapshots l7 = L7Snapshots.of(model.l7(), current == null ? L7Snapshots.NONE : current.l7());
        if (current != null && current.snapshot().sameContent(snapshot) && current.l7().sameContent(l7)) {
            log.debug("Model recomputed with no xDS change; nothing to push");
            return;
        }
        // Once here rather than in every stream: most streams are in sync with the
        // current snapshot and need only what changed since.
        Map<String, XdsSnapshot.Changes> changes = new LinkedHashMap<>();
        Map<String, Map<String, XdsSnapshot.Changes>> l7Changes = Map.of();
        if (current != null) {
            for (String typeUrl : List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION)) {
                changes.put(typeUrl, snapshot.changesFrom(current.snapshot(), typeUrl));
            }
            l7Changes = l7.changesFrom(current.l7());
        }
        Published next = new Published(snapshot, current == null ? 1 : current.generation() + 1, firstUpdateNanos,
                changes, l7, l7Changes);
        published = next;
        log.debug("Publishing xDS snapshot {}: {}; {} waypoints, gRPC {}", next.generation(), snapshot,
                l7.waypoints().size(), l7.grpc());
        for (AdsStream stream : streams.values()) {
            stream.snapshotPublished();
        }
    }

    private static String peer() {
        SocketAddress address = PEER.get();
        if (address instanceof InetSocketAddress inet && inet.getAddress() != null) {
            String host = inet.getAddress().getHostAddress();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
        }
        return address == null ? "unknown" : address.toString();
    }

    /** Puts the client's socket address where the service method can read it. */
    private static final class PeerInterceptor implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                           ServerCallHandler<Q, R> next) {
            SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
            Context context = Context.current().withValue(PEER, remote);
            return Contexts.interceptCall(context, call, headers, next);
        }
    }

    private static final class IgnoringObserver<T> implements StreamObserver<T> {
        @Override
        public void onNext(T value) {}

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
    }

    /** Configures an {@link XdsService}. */
    public static final class Builder {
        private final MetricsRegistry metrics;
        private Duration quietPeriod = DEFAULT_QUIET_PERIOD;
        private Duration maxDelay = DEFAULT_MAX_DELAY;
        private Executor executor;
        private String controlPlaneId = "istiod-lite";

        private Builder(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
        }

        /**
         * Pushes once updates have paused for {@code quietPeriod}, and at the latest
         * {@code maxDelay} after the first unpushed update (defaults: 100 ms, 1 s). Zero for
         * both publishes as soon as the publishing thread gets to it; updates arriving
         * meanwhile still coalesce.
         */
        public Builder debounce(Duration quietPeriod, Duration maxDelay) {
            Debouncer.checkTimes(quietPeriod, maxDelay);
            this.quietPeriod = quietPeriod;
            this.maxDelay = maxDelay;
            return this;
        }

        /**
         * Where per-stream work runs (diffing and serializing responses). Not shut down by
         * {@link XdsService#close()}. Default: a virtual thread per task, owned by the service.
         */
        public Builder executor(Executor executor) {
            this.executor = requireNonNull(executor, "executor");
            return this;
        }

        /** Sent as {@code control_plane.identifier} in every response; default {@code istiod-lite}. */
        public Builder controlPlaneId(String controlPlaneId) {
            requireNonNull(controlPlaneId, "controlPlaneId");
            if (controlPlaneId.isBlank()) {
                throw new IllegalArgumentException("controlPlaneId: blank (expected: e.g. the pod name)");
            }
            this.controlPlaneId = controlPlaneId;
            return this;
        }

        public XdsService build() {
            return new XdsService(this);
        }
    }
}
