package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One state-of-the-world ADS stream ({@code StreamAggregatedResources}) of a proxyless
 * gRPC client: grpc-java's xDS client asks for the Listener {@code host:port} of an
 * {@code xds:///host:port} target, then the RouteConfiguration it names, the Clusters
 * its routes name, and their ClusterLoadAssignments (gRFC A27). Each is served from
 * {@link dev.ambit.istiod.l7.L7Resources#forGrpc()}; see {@link SotwSubscription} for the
 * per-type rules.
 *
 * <p>The first request must carry a node with {@code metadata.GENERATOR: grpc}; any other
 * client is refused with {@code UNIMPLEMENTED}, pointing at the delta method, since
 * gRPC's resources would configure an Envoy wrongly without an error.
 *
 * <p>Threading and flow control as {@link XdsStream}: callbacks queue work on a serial
 * executor; a response is written only while the call is ready, otherwise the stream
 * waits for on-ready and then sends the state current at that time.
 */
final class SotwStream implements StreamObserver<DiscoveryRequest>, AdsStream {

    private static final Logger log = LoggerFactory.getLogger(SotwStream.class);

    private final long id;
    private final XdsService service;
    private final XdsMetrics metrics;
    private final ServerCallStreamObserver<DiscoveryResponse> out;
    private final SerialExecutor serial;
    private final String peer;
    private final Instant connectedAt = Instant.now();
    private final AtomicBoolean closed = new AtomicBoolean();

    private final Object lock = new Object();
    /** By type URL, in the order first requested. Guarded by {@link #lock}. */
    private final Map<String, SotwSubscription> subscriptions = new LinkedHashMap<>();
    /** Guarded by {@link #lock}. */
    private String nodeId = "";

    private volatile boolean awaitingReady;

    // Touched only on the serial executor.
    private boolean identified;
    private final Set<String> unknownTypesLogged = new HashSet<>();
    private boolean outClosed;

    SotwStream(long id, XdsService service, XdsMetrics metrics, ServerCallStreamObserver<DiscoveryResponse> out,
               Executor executor, String peer) {
        this.id = id;
        this.service = requireNonNull(service, "service");
        this.metrics = requireNonNull(metrics, "metrics");
        this.out = requireNonNull(out, "out");
        this.serial = new SerialExecutor(executor);
        this.peer = requireNonNull(peer, "peer");
        out.setOnReadyHandler(() -> {
            if (awaitingReady) {
                run(this::push);
            }
        });
        out.setOnCancelHandler(() -> closeState("cancelled"));
    }

    @Override
    public long id() {
        return id;
    }

    // ---- gRPC callbacks ----

    @Override
    public void onNext(DiscoveryRequest request) {
        run(() -> handle(request));
    }

    @Override
    public void onError(Throwable t) {
        Status status = Status.fromThrowable(t);
        closeState(status.getCode() == Status.Code.CANCELLED ? "cancelled by the client" : "stream failed: " + status);
    }

    @Override
    public void onCompleted() {
        run(() -> end(null));
        closeState("closed by the client");
    }

    // ---- from the service ----

    @Override
    public void snapshotPublished() {
        run(this::push);
    }

    @Override
    public void shutdown(Status status) {
        run(() -> end(status));
        closeState("server shutting down");
    }

    @Override
    public XdsDebugView.ClientView view() {
        synchronized (lock) {
            List<XdsDebugView.SubscriptionView> views = new ArrayList<>(subscriptions.size());
            for (SotwSubscription s : subscriptions.values()) {
                views.add(s.view());
            }
            return new XdsDebugView.ClientView(id, nodeId, peer, connectedAt, awaitingReady, views,
                    XdsDebugView.Protocol.SOTW, NodeMetadata.GRPC_GENERATOR);
        }
    }

    // ---- on the serial executor ----

    private void run(Runnable task) {
        if (closed.get()) {
            return;
        }
        try {
            serial.execute(task);
        } catch (RejectedExecutionException e) {
            log.debug("xDS stream {}: task rejected, service closing", id);
        }
    }

    /** Ends the call: completed when {@code status} is null, else with that error. */
    private void end(Status status) {
        if (outClosed) {
            return;
        }
        outClosed = true;
        try {
            if (status == null) {
                out.onCompleted();
            } else {
                out.onError(status.asRuntimeException());
            }
        } catch (RuntimeException e) {
            log.debug("Ending xDS stream {} failed", id, e);
        }
    }

    private void handle(DiscoveryRequest request) {
        if (closed.get() || outClosed) {
            return;
        }
        if (!identified) {
            NodeMetadata node = request.hasNode() ? NodeMetadata.of(request.getNode()) : NodeMetadata.NONE;
            if (!node.isProxylessGrpc()) {
                String who = request.hasNode() && !request.getNode().getId().isEmpty()
                        ? request.getNode().getId() : "(no node id)";
                log.warn("xDS client {} ({}) opened a state-of-the-world stream without node metadata GENERATOR={}; "
                        + "refused", who, peer, NodeMetadata.GRPC_GENERATOR);
                end(Status.UNIMPLEMENTED.withDescription("istiod-lite serves state-of-the-world ADS "
                        + "(StreamAggregatedResources) to proxyless gRPC clients only (node.metadata GENERATOR: grpc, "
                        + "sent in the first request); proxies use DeltaAggregatedResources "
                        + "(Envoy: ads_config api_type DELTA_GRPC; ztunnel uses delta by default)"));
                closeState("refused: not a proxyless gRPC client");
                return;
            }
            identified = true;
            synchronized (lock) {
                nodeId = request.getNode().getId();
            }
            log.info("xDS proxyless gRPC client {} connected from {} (stream {})", display(nodeId()), peer, id);
        }
        String typeUrl = request.getTypeUrl();
        if (!L7Snapshots.GRPC_TYPES.contains(typeUrl)) {
            if (unknownTypesLogged.add(typeUrl)) {
                log.warn("xDS gRPC client {} ({}) asked for type URL '{}', which is not served to gRPC clients; "
                        + "ignoring it (served: {})", display(nodeId()), peer, typeUrl, L7Snapshots.GRPC_TYPES);
            }
            return;
        }
        boolean changed;
        synchronized (lock) {
            SotwSubscription sub = subscriptions.computeIfAbsent(typeUrl, SotwSubscription::new);
            String nonce = request.getResponseNonce();
            if (!nonce.isEmpty() && !sub.isCurrent(nonce)) {
                // A newer response of this type is on its way; the client answers it with
                // its then-current names (the SotW rule: stale requests are ignored).
                log.debug("xDS gRPC client {}: stale {} request (nonce {}) ignored", display(nodeId), typeUrl, nonce);
                return;
            }
            if (!nonce.isEmpty()) {
                if (request.hasErrorDetail()) {
                    String message = request.getErrorDetail().getMessage();
                    sub.nacked(message);
                    metrics.nack(typeUrl);
                    log.warn("xDS gRPC client {} ({}) rejected {} response {} (still at version '{}'): {}",
                            display(nodeId), peer, typeUrl, nonce, request.getVersionInfo(), message);
                } else {
                    sub.acked(request.getVersionInfo());
                }
            }
            changed = sub.request(request.getResourceNamesList());
        }
        if (changed) {
            push();
        }
    }

    /** Sends each subscription its resources where they changed, or where it changed. */
    private void push() {
        if (closed.get() || outClosed) {
            return;
        }
        XdsService.Published published = service.published();
        if (published == null) {
            // No model yet: an empty Listener response would tell gRPC its target does not exist.
            return;
        }
        XdsSnapshot grpc = published.l7().grpc();
        for (String typeUrl : L7Snapshots.GRPC_TYPES) {
            SotwSubscription sub;
            SotwSubscription.Response response;
            synchronized (lock) {
                sub = subscriptions.get(typeUrl);
                if (sub == null) {
                    continue;
                }
                response = sub.response(grpc);
            }
            if (response == null) {
                continue;
            }
            if (!out.isReady()) {
                awaitingReady = true;
                // Checked again: on-ready may have run before the flag was set.
                if (!out.isReady()) {
                    return;
                }
            }
            awaitingReady = false;
            DiscoveryResponse message;
            synchronized (lock) {
                String nonce = service.nextNonce();
                DiscoveryResponse.Builder b = DiscoveryResponse.newBuilder()
                        .setTypeUrl(typeUrl)
                        .setVersionInfo(response.version())
                        .setNonce(nonce)
                        .setControlPlane(service.controlPlane());
                for (XdsResource r : response.resources()) {
                    b.addResources(r.resource());
                }
                message = b.build();
                sub.sent(response, nonce);
            }
            try {
                out.onNext(message);
            } catch (RuntimeException e) {
                log.debug("xDS stream {}: writing a response failed", id, e);
                outClosed = true;
                closeState("write failed: " + e);
                return;
            }
            if (response.push()) {
                metrics.pushLatency(typeUrl, System.nanoTime() - published.firstUpdateNanos());
            }
            metrics.responseSent(typeUrl, response.resources().size());
            if (log.isDebugEnabled()) {
                log.debug("xDS gRPC client {}: sent {} version {} nonce {} with {}", display(nodeId()), typeUrl,
                        response.version(), message.getNonce(),
                        response.resources().stream().map(XdsResource::name).toList());
            }
        }
    }

    private String nodeId() {
        synchronized (lock) {
            return nodeId;
        }
    }

    private static String display(String nodeId) {
        return nodeId.isEmpty() ? "(no node id)" : nodeId;
    }

    private void closeState(String why) {
        if (closed.compareAndSet(false, true)) {
            service.streamClosed(this);
            log.info("xDS gRPC client {} ({}) disconnected (stream {}): {}", display(nodeId()), peer, id, why);
        }
    }
}
