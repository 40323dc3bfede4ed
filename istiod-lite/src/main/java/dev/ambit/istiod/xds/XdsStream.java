package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ProtocolStringList;
import dev.ambit.istiod.xds.Subscription.Delta;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
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
 * One delta ADS stream: the request observer gRPC calls, and the owner of everything
 * per stream — subscriptions per type URL, nonces, ACK/NACK bookkeeping and flow
 * control.
 *
 * <p>Threading: gRPC callbacks and snapshot notifications only queue work on the
 * stream's {@link SerialExecutor}, so no gRPC thread computes diffs or serializes
 * responses, and the stream's state has a single writer. The lock only lets the debug
 * view read a consistent copy from another thread.
 *
 * <p>Flow control: a response is only written while the call {@linkplain
 * ServerCallStreamObserver#isReady() is ready}. Otherwise the stream waits for the
 * on-ready callback and then diffs against the snapshot current at that time, so a slow
 * client never has more than what it is already reading buffered for it, and it gets
 * the latest state in one response instead of every intermediate one.
 *
 * <p>Per proxy: the node of the first request says which waypoint the client is
 * ({@link NodeMetadata#proxyKey()}); the Envoy types are served from that proxy's
 * snapshot for the life of the stream, the other types from the shared one. A waypoint
 * that reconnects under another name opens a new stream, as Envoy does.
 */
final class XdsStream implements StreamObserver<DeltaDiscoveryRequest>, AdsStream {

    private static final Logger log = LoggerFactory.getLogger(XdsStream.class);

    private final long id;
    private final XdsService service;
    private final XdsMetrics metrics;
    private final ServerCallStreamObserver<DeltaDiscoveryResponse> out;
    private final SerialExecutor serial;
    private final String peer;
    private final Instant connectedAt = Instant.now();
    private final AtomicBoolean closed = new AtomicBoolean();

    private final Object lock = new Object();
    /** By type URL, in the order first requested. Guarded by {@link #lock}. */
    private final Map<String, Subscription> subscriptions = new LinkedHashMap<>();
    /** From the first request that carries one. Guarded by {@link #lock}. */
    private String nodeId = "";
    /**
     * Waypoint "NS/NAME" this client is, from the first request's node; empty for any
     * other client. Written once, before the first push, on the serial executor.
     */
    private volatile String proxyKey = "";

    /** Set when a response is held back by flow control; the on-ready callback clears it. */
    private volatile boolean awaitingReady;

    // Touched only on the serial executor.
    private final Set<String> unknownTypesLogged = new HashSet<>();
    private boolean outClosed;

    XdsStream(long id, XdsService service, XdsMetrics metrics, ServerCallStreamObserver<DeltaDiscoveryResponse> out,
              Executor executor, String peer) {
        this.id = id;
        this.service = requireNonNull(service, "service");
        this.metrics = requireNonNull(metrics, "metrics");
        this.out = requireNonNull(out, "out");
        this.serial = new SerialExecutor(executor);
        this.peer = requireNonNull(peer, "peer");
        // Both must be set before the service method returns (gRPC's rule).
        out.setOnReadyHandler(this::onReady);
        out.setOnCancelHandler(() -> closeState("cancelled"));
    }

    @Override
    public long id() {
        return id;
    }

    // ---- gRPC callbacks (gRPC threads): queue and return ----

    @Override
    public void onNext(DeltaDiscoveryRequest request) {
        run(() -> handle(request));
    }

    @Override
    public void onError(Throwable t) {
        Status status = Status.fromThrowable(t);
        if (status.getCode() == Status.Code.CANCELLED) {
            closeState("cancelled by the client");
        } else {
            closeState("stream failed: " + status);
        }
    }

    @Override
    public void onCompleted() {
        run(() -> {
            if (!outClosed) {
                outClosed = true;
                try {
                    out.onCompleted();
                } catch (RuntimeException e) {
                    log.debug("Completing xDS stream {} failed", id, e);
                }
            }
        });
        closeState("closed by the client");
    }

    private void onReady() {
        if (awaitingReady) {
            run(this::push);
        }
    }

    // ---- from the service ----

    /** A new snapshot is current: send each subscription what changed. */
    @Override
    public void snapshotPublished() {
        run(this::push);
    }

    /** Ends the stream with {@code status}; the client is expected to reconnect. */
    @Override
    public void shutdown(Status status) {
        run(() -> {
            if (!outClosed) {
                outClosed = true;
                try {
                    out.onError(status.asRuntimeException());
                } catch (RuntimeException e) {
                    log.debug("Ending xDS stream {} failed", id, e);
                }
            }
        });
        closeState("server shutting down");
    }

    @Override
    public XdsDebugView.ClientView view() {
        synchronized (lock) {
            List<XdsDebugView.SubscriptionView> views = new ArrayList<>(subscriptions.size());
            for (Subscription s : subscriptions.values()) {
                views.add(s.view());
            }
            return new XdsDebugView.ClientView(id, nodeId, peer, connectedAt, awaitingReady, views,
                    XdsDebugView.Protocol.DELTA, proxyKey);
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
            // The service is closing; its shutdown ends this stream.
            log.debug("xDS stream {}: task rejected, service closing", id);
        }
    }

    private void handle(DeltaDiscoveryRequest request) {
        if (closed.get()) {
            return;
        }
        String typeUrl = request.getTypeUrl();
        String node;
        synchronized (lock) {
            if (nodeId.isEmpty() && request.hasNode() && !request.getNode().getId().isEmpty()) {
                nodeId = request.getNode().getId();
                proxyKey = NodeMetadata.of(request.getNode()).proxyKey();
                if (proxyKey.isEmpty()) {
                    log.info("xDS client {} connected from {} (stream {})", nodeId, peer, id);
                } else {
                    log.info("xDS client {} connected from {} (stream {}) as proxy {}", nodeId, peer, id,
                            proxyKey);
                }
            }
            node = nodeId;
        }
        if (!service.serves(typeUrl)) {
            if (unknownTypesLogged.add(typeUrl)) {
                log.warn("xDS client {} ({}) asked for type URL '{}', which istiod-lite does not serve; "
                        + "ignoring it (served: {})", display(node), peer, typeUrl, service.typeUrls());
            }
            return;
        }
        boolean subscriptionChanged;
        synchronized (lock) {
            Subscription sub = subscriptions.get(typeUrl);
            ProtocolStringList subscribe = request.getResourceNamesSubscribeList();
            ProtocolStringList unsubscribe = request.getResourceNamesUnsubscribeList();
            if (sub == null) {
                sub = new Subscription(typeUrl);
                subscriptions.put(typeUrl, sub);
                sub.start(subscribe, request.getInitialResourceVersionsMap());
                subscriptionChanged = true;
            } else {
                if (request.getInitialResourceVersionsCount() > 0) {
                    log.debug("xDS client {}: initial_resource_versions on a later {} request ignored "
                            + "(only the first request of a type may carry them)", display(node), typeUrl);
                }
                sub.change(subscribe, unsubscribe);
                subscriptionChanged = !subscribe.isEmpty() || !unsubscribe.isEmpty();
            }
            acknowledge(sub, request, node);
        }
        // A plain ACK or NACK changes nothing to send: the next snapshot will.
        if (subscriptionChanged) {
            push();
        }
    }

    /** Records an ACK or NACK; called with the lock held. */
    private void acknowledge(Subscription sub, DeltaDiscoveryRequest request, String node) {
        String nonce = request.getResponseNonce();
        if (nonce.isEmpty()) {
            return;
        }
        String typeUrl = sub.typeUrl();
        if (!sub.isCurrent(nonce)) {
            // Envoy's rule: only the latest response's nonce counts; an older one answers a
            // response that a newer one already superseded.
            if (request.hasErrorDetail()) {
                log.info("xDS client {} ({}) rejected superseded {} response {}: {}", display(node), peer, typeUrl,
                        nonce, request.getErrorDetail().getMessage());
            }
            return;
        }
        if (request.hasErrorDetail()) {
            String message = request.getErrorDetail().getMessage();
            sub.nacked(message);
            metrics.nack(typeUrl);
            // The same versions are not sent again: they would be rejected again. The next
            // change of the model is what the client gets.
            log.warn("xDS client {} ({}) rejected {} response {} (code {}): {}", display(node), peer, typeUrl, nonce,
                    request.getErrorDetail().getCode(), message);
        } else {
            sub.acked();
        }
    }

    /** Sends every subscription what it lacks of the current snapshot, while the client reads. */
    private void push() {
        if (closed.get() || outClosed) {
            return;
        }
        XdsService.Published published = service.published();
        if (published == null) {
            // No model yet: answering now would tell clients that nothing exists.
            return;
        }
        String proxy = proxyKey;
        for (String typeUrl : service.typeUrls()) {
            Subscription sub;
            Delta delta;
            XdsSnapshot snapshot = published.snapshotFor(typeUrl, proxy);
            synchronized (lock) {
                sub = subscriptions.get(typeUrl);
                if (sub == null) {
                    continue;
                }
                delta = sub.diff(snapshot, published.generation(), published.changesFromPrevious(typeUrl, proxy));
                if (delta == null) {
                    sub.synced(published.generation());
                    continue;
                }
                if (!delta.initial() && published.generation() > sub.syncedGeneration()) {
                    sub.pushDue(published.firstUpdateNanos());
                }
            }
            if (!out.isReady()) {
                awaitingReady = true;
                // Checked again: if the call became ready before the flag was set, the
                // on-ready callback may already have run and seen it clear.
                if (!out.isReady()) {
                    return;
                }
            }
            awaitingReady = false;
            DeltaDiscoveryResponse response;
            long dueSince;
            synchronized (lock) {
                String nonce = service.nextNonce();
                response = response(typeUrl, snapshot.version(typeUrl), nonce, delta);
                dueSince = sub.sent(delta, nonce, published.generation());
            }
            try {
                out.onNext(response);
            } catch (RuntimeException e) {
                log.debug("xDS stream {}: writing a response failed", id, e);
                outClosed = true;
                closeState("write failed: " + e);
                return;
            }
            if (dueSince != 0) {
                metrics.pushLatency(typeUrl, System.nanoTime() - dueSince);
            }
            metrics.responseSent(typeUrl, delta.resources().size());
            if (log.isDebugEnabled()) {
                log.debug("xDS client {}: sent {} response {} with {} resources, {} removed",
                        display(nodeIdForLog()), typeUrl, response.getNonce(), delta.resources().size(),
                        delta.removed().size());
            }
        }
    }

    private DeltaDiscoveryResponse response(String typeUrl, String systemVersion, String nonce, Delta delta) {
        DeltaDiscoveryResponse.Builder response = DeltaDiscoveryResponse.newBuilder()
                .setTypeUrl(typeUrl)
                .setSystemVersionInfo(systemVersion)
                .setNonce(nonce)
                .setControlPlane(service.controlPlane())
                .addAllRemovedResources(delta.removed());
        for (XdsResource r : delta.resources()) {
            // Shared by every stream: see XdsResource#wire.
            response.addResources(r.wire());
        }
        return response.build();
    }

    private String nodeIdForLog() {
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
            log.info("xDS client {} ({}) disconnected (stream {}): {}", display(nodeIdForLog()), peer, id, why);
        }
    }
}
