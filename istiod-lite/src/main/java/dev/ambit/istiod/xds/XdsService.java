package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
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
 * The delta ADS server ({@code DeltaAggregatedResources}) for workload discovery:
 * {@value TypeUrls#ADDRESS} and {@value TypeUrls#AUTHORIZATION}.
 *
 * <p>Feed it the model with {@link #update(MeshResources)} from any thread; bursts are
 * debounced and the latest model wins. Each connected client then gets, per type it
 * subscribed to, one response with only what changed for it (new or changed resources,
 * and the names of removed ones), or nothing when nothing changed. Clients may subscribe
 * to everything (wildcard) or to names, resume with {@code initial_resource_versions},
 * and ACK or NACK each response; a NACK is logged and counted, and the stream stays open.
 *
 * <p>Nothing is answered before the first {@link #update(MeshResources)}: until the model
 * is known, an answer would tell clients that nothing exists.
 *
 * <p>The state-of-the-world {@code StreamAggregatedResources} is not served; it fails
 * with {@code UNIMPLEMENTED}, naming the delta method.
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

    /** The type URLs served, in the order they are pushed within one update. */
    public static final List<String> TYPE_URLS = List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION);

    public static final Duration DEFAULT_QUIET_PERIOD = Duration.ofMillis(100);
    public static final Duration DEFAULT_MAX_DELAY = Duration.ofSeconds(1);

    private static final Context.Key<SocketAddress> PEER = Context.key("ambit-xds-peer");

    /**
     * The snapshot being served, its number, when the oldest update it carries was made,
     * and per type URL what changed from the snapshot of generation {@code generation - 1}
     * (empty for the first). Streams in sync with that one send just these changes.
     */
    record Published(XdsSnapshot snapshot, long generation, long firstUpdateNanos,
                     Map<String, XdsSnapshot.Changes> changes) {

        Published {
            changes = Map.copyOf(changes);
        }

        /** What changed in {@code typeUrl} since the previous generation; null when unknown. */
        XdsSnapshot.Changes changesFromPrevious(String typeUrl) {
            return changes.get(typeUrl);
        }
    }

    private final XdsMetrics metrics;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final ScheduledExecutorService scheduler;
    private final Debouncer<MeshResources> debouncer;
    private final ControlPlane controlPlane;
    private final String noncePrefix = String.format("%08x-", ThreadLocalRandom.current().nextInt());
    private final AtomicLong nonces = new AtomicLong();
    private final AtomicLong streamIds = new AtomicLong();
    private final Map<Long, XdsStream> streams = new ConcurrentSkipListMap<>();
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
     * Makes {@code resources} the model to serve, after the debounce delay; a later call
     * before then replaces it. Safe from any thread; returns at once. Ignored once closed.
     */
    public void update(MeshResources resources) {
        requireNonNull(resources, "resources");
        if (closed) {
            log.debug("xDS service closed; update ignored");
            return;
        }
        debouncer.submit(resources);
    }

    /** The snapshot being served; empty before the first update has been published. */
    public Optional<XdsSnapshot> snapshot() {
        Published p = published;
        return p == null ? Optional.empty() : Optional.of(p.snapshot());
    }

    /** Open streams. */
    public int connectedClients() {
        return streams.size();
    }

    /** The current snapshot and every connected client's state. */
    public XdsDebugView debugView() {
        Published p = published;
        XdsDebugView.SnapshotView snapshotView;
        if (p == null) {
            snapshotView = new XdsDebugView.SnapshotView(0, Map.of(), Map.of());
        } else {
            Map<String, String> typeVersions = new LinkedHashMap<>();
            Map<String, SortedMap<String, String>> resources = new LinkedHashMap<>();
            for (String typeUrl : p.snapshot().typeUrls()) {
                typeVersions.put(typeUrl, p.snapshot().version(typeUrl));
                resources.put(typeUrl, p.snapshot().versions(typeUrl));
            }
            snapshotView = new XdsDebugView.SnapshotView(p.generation(), typeVersions, resources);
        }
        List<XdsDebugView.ClientView> clients = new ArrayList<>(streams.size());
        for (XdsStream stream : streams.values()) {
            clients.add(stream.view());
        }
        return new XdsDebugView(snapshotView, clients);
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

    @Override
    public StreamObserver<DiscoveryRequest> streamAggregatedResources(
            StreamObserver<DiscoveryResponse> responseObserver) {
        responseObserver.onError(Status.UNIMPLEMENTED.withDescription(
                "istiod-lite serves delta xDS only: use DeltaAggregatedResources "
                        + "(Envoy: ads_config api_type DELTA_GRPC; ztunnel uses delta by default)")
                .asRuntimeException());
        return new IgnoringObserver<>();
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
        for (XdsStream stream : streams.values()) {
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

    void streamClosed(XdsStream stream) {
        if (streams.remove(stream.id()) != null) {
            metrics.clientDisconnected();
        }
    }

    // ---- publishing (on the debounce thread) ----

    private void publish(MeshResources resources, long firstUpdateNanos) {
        Published current = published;
        XdsSnapshot snapshot = current == null
                ? XdsSnapshot.of(resources)
                : XdsSnapshot.of(resources, current.snapshot());
        if (current != null && current.snapshot().sameContent(snapshot)) {
            log.debug("Model recomputed with no xDS change; nothing to push");
            return;
        }
        // Once here rather than in every stream: most streams are in sync with the
        // current snapshot and need only what changed since.
        Map<String, XdsSnapshot.Changes> changes = new LinkedHashMap<>();
        if (current != null) {
            for (String typeUrl : TYPE_URLS) {
                changes.put(typeUrl, snapshot.changesFrom(current.snapshot(), typeUrl));
            }
        }
        Published next = new Published(snapshot, current == null ? 1 : current.generation() + 1, firstUpdateNanos,
                changes);
        published = next;
        log.debug("Publishing xDS snapshot {}: {}", next.generation(), snapshot);
        for (XdsStream stream : streams.values()) {
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
