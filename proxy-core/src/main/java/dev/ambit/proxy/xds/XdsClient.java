package dev.ambit.proxy.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.rpc.Code;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.backoff.Backoff;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.CallCredentials;
import io.grpc.Channel;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A delta ADS client ({@code DeltaAggregatedResources}) that keeps a proxy's view in step
 * with the control plane, as ztunnel's does with istiod: one {@link ResourceHandler} per
 * resource type, all types on one stream.
 *
 * <p>It subscribes, wildcard, to the type of every handler registered
 * ({@link Builder#handler}, e.g. the node agent's state for {@code istio.workload.Address}
 * and {@code istio.security.Authorization}) and hands each response to its type's
 * handler: added or updated resources, then removed names. A response is applied whole or
 * not at all: if any resource does not unpack or the handler rejects one, the response is
 * NACKed ({@code error_detail} says why) and the handler's state is unchanged; otherwise it
 * is ACKed with its nonce. ACKs and NACKs are per type: a NACK of one type leaves the
 * others as they are.
 *
 * <p>When the stream fails, the client reconnects after an exponential backoff with
 * jitter ({@link Builder#backoff}; 100 ms doubling up to 1 s by default, so an agent is back
 * within about a second of the control plane's return however long it was away) and sends,
 * per type, the names and versions it holds as {@code initial_resource_versions}, so the
 * server sends only what changed. gRPC's channel has a reconnect backoff of its own (growing
 * to two minutes, failing calls at once meanwhile): while it is in TRANSIENT_FAILURE each
 * backoff step cuts it short ({@link ManagedChannel#resetConnectBackoff}) instead of opening a
 * stream that would fail without trying, and the stream opens as soon as the channel leaves
 * that state. The state
 * is never cleared while disconnected: the data path keeps serving the last known
 * configuration, which is what a node agent must do when the control plane is down.
 *
 * <p>All stream work runs on one thread ({@code ambit-xds-client}) owned by the client,
 * so responses are applied in order and each handler has a single caller. The channel is
 * the caller's (TLS, if any, is configured there) and is not shut down by {@link #close()}.
 */
public final class XdsClient implements AutoCloseable {

    /** {@code node.user_agent_name} unless {@link Builder#userAgentName} says otherwise: the node agent's. */
    public static final String DEFAULT_USER_AGENT_NAME = "ambit-node-agent";
    public static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofMillis(100);
    /**
     * Small on purpose: a failed attempt costs one TCP connect, and an agent disconnected
     * longer than this can miss that long of the mesh's changes after the control plane is back.
     */
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(1);

    private static final Logger log = LoggerFactory.getLogger(XdsClient.class);
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final Channel channel;
    /** By type URL, in registration order: the order the first requests are sent. */
    private final Map<String, ResourceHandler<?>> handlers;
    private final Node node;
    private final Backoff backoff;
    private final CallCredentials credentials;
    private final XdsClientMetrics metrics;
    private final ScheduledExecutorService executor;
    /** gRPC's callbacks, on our thread; dropped once closed (the stream is cancelled by then). */
    private final Executor callbacks;
    private final AtomicBoolean started = new AtomicBoolean();
    private final CountDownLatch firstSync = new CountDownLatch(1);

    // Owned by the executor thread.
    /** Per type, the names and versions held: what a reconnect sends as initial_resource_versions. */
    private final Map<String, Map<String, String>> versions = new HashMap<>();
    private final Set<String> synced = new java.util.HashSet<>();
    private Stream current;
    private ScheduledFuture<?> reconnect;
    /** Set while a callback waits for the channel to leave TRANSIENT_FAILURE. */
    private AtomicBoolean channelWatch;
    private int failures;
    private boolean closed;

    private volatile boolean connected;
    private volatile String lastNack = "";

    private XdsClient(Builder b) {
        channel = b.channel;
        handlers = new LinkedHashMap<>(b.handlers);
        Node.Builder n = Node.newBuilder().setId(b.nodeId).setUserAgentName(b.userAgentName);
        if (b.nodeMetadata != null) {
            n.setMetadata(b.nodeMetadata);
        }
        node = n.build();
        backoff = Backoff.of(b.initialBackoff, b.maxBackoff);
        credentials = b.token == null ? null : new BearerToken(b.token);
        metrics = new XdsClientMetrics(b.metrics, handlers.keySet());
        for (String type : handlers.keySet()) {
            versions.put(type, new HashMap<>());
        }
        executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ambit-xds-client");
            t.setDaemon(true);
            return t;
        });
        callbacks = task -> {
            try {
                executor.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                log.debug("xDS: client closed, dropping a stream callback");
            }
        };
    }

    /**
     * A builder for a client on {@code channel} (plaintext or TLS, as the caller built it);
     * register at least one {@link Builder#handler}.
     */
    public static Builder builder(Channel channel) {
        return new Builder(channel);
    }

    /**
     * Istio's node id for a node agent: {@code ztunnel~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local}.
     */
    public static String istioNodeId(String ip, String pod, String namespace) {
        requireNonNull(ip, "ip");
        requireNonNull(pod, "pod");
        requireNonNull(namespace, "namespace");
        return "ztunnel~" + ip + "~" + pod + "." + namespace + "~" + namespace + ".svc.cluster.local";
    }

    /** Opens the stream; returns at once. Failures are retried in the background. */
    public XdsClient start() {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("xDS client for " + node.getId() + " already started");
        }
        executor.execute(this::connect);
        return this;
    }

    /**
     * Waits until a response of every subscribed type has been applied once (the first
     * complete sync; an empty response counts: it says there is nothing).
     *
     * @return true if synced, false if {@code timeout} passed first
     */
    public boolean awaitFirstSync(Duration timeout) throws InterruptedException {
        requireNonNull(timeout, "timeout");
        return firstSync.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Whether the first complete sync happened. */
    public boolean isSynced() {
        return firstSync.getCount() == 0;
    }

    /** True while the stream is up: a response arrived on it and it has not failed since. */
    public boolean isConnected() {
        return connected;
    }

    /** The type URLs subscribed to, in the order their first requests are sent. */
    public List<String> typeUrls() {
        return List.copyOf(handlers.keySet());
    }

    /** The node id sent to the control plane. */
    public String nodeId() {
        return node.getId();
    }

    /** The error message of the last NACK sent; empty if none. */
    public String lastNack() {
        return lastNack;
    }

    /** Ends the stream and the client's thread; the state keeps its content. Idempotent. */
    @Override
    public void close() {
        java.util.concurrent.Future<?> done;
        try {
            done = executor.submit(() -> {
                closed = true;
                if (reconnect != null) {
                    reconnect.cancel(false);
                }
                if (current != null) {
                    current.cancel();
                    current = null;
                }
                setConnected(false);
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return; // already closed
        }
        try {
            done.get(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            log.warn("xDS: closing the client did not finish cleanly", e);
        }
        // Pending reconnects are dropped: nothing is left to run once closed is set.
        executor.shutdownNow();
    }

    // ---------------------------------------------------------------- executor thread

    private void connect() {
        reconnect = null;
        if (closed) {
            return;
        }
        if (channel instanceof ManagedChannel managed
                && managed.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            awaitChannel(managed);
            return;
        }
        Stream stream = new Stream();
        current = stream;
        metrics.streamOpened();
        // Callbacks on our thread: responses are applied in order, by one writer.
        AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceStub stub =
                AggregatedDiscoveryServiceGrpc.newStub(channel).withExecutor(callbacks);
        if (credentials != null) {
            stub = stub.withCallCredentials(credentials);
        }
        stub.deltaAggregatedResources(stream);
        for (String type : handlers.keySet()) {
            // No resource_names_subscribe: the first request of a type is then a wildcard
            // subscription (incremental xDS). The versions held let the server skip them.
            stream.send(DeltaDiscoveryRequest.newBuilder()
                    .setNode(node)
                    .setTypeUrl(type)
                    .putAllInitialResourceVersions(versions.get(type))
                    .build());
        }
    }

    /**
     * The channel is in TRANSIENT_FAILURE: it has its own reconnect backoff (growing to two
     * minutes) and fails calls at once meanwhile, so a stream opened now would fail without
     * trying. Ours decides when to try: restart the channel's attempt now, open the stream as
     * soon as the channel leaves TRANSIENT_FAILURE (connecting or ready), and if it is still
     * there after our next backoff step, restart it again. The stream follows the control
     * plane's return by one connect, not by a backoff step.
     */
    private void awaitChannel(ManagedChannel managed) {
        managed.resetConnectBackoff();
        if (channelWatch == null) {
            // One watch per stay in TRANSIENT_FAILURE: the channel keeps its callbacks until it changes.
            AtomicBoolean fired = new AtomicBoolean();
            channelWatch = fired;
            managed.notifyWhenStateChanged(ConnectivityState.TRANSIENT_FAILURE, () -> callbacks.execute(() -> {
                if (channelWatch == fired) {
                    channelWatch = null;
                }
                if (fired.compareAndSet(false, true) && !closed && current == null) {
                    if (reconnect != null) {
                        reconnect.cancel(false);
                    }
                    connect();
                }
            }));
        }
        reconnect = executor.schedule(this::connect, backoffMillis(failures++), TimeUnit.MILLISECONDS);
    }

    private void received(Stream stream, DeltaDiscoveryResponse response) {
        if (stream != current) {
            return; // a late response on a stream we already gave up
        }
        failures = 0;
        setConnected(true);
        String type = response.getTypeUrl();
        try {
            apply(response);
        } catch (XdsException e) {
            lastNack = e.getMessage();
            metrics.nacked(type);
            log.warn("xDS: rejecting {} response {} from {}: {}", type, response.getNonce(),
                    response.getControlPlane().getIdentifier(), e.getMessage());
            stream.send(DeltaDiscoveryRequest.newBuilder()
                    .setTypeUrl(type)
                    .setResponseNonce(response.getNonce())
                    .setErrorDetail(com.google.rpc.Status.newBuilder()
                            .setCode(Code.INVALID_ARGUMENT_VALUE)
                            .setMessage(e.getMessage()))
                    .build());
            return;
        }
        metrics.applied(type);
        stream.send(DeltaDiscoveryRequest.newBuilder()
                .setTypeUrl(type)
                .setResponseNonce(response.getNonce())
                .build());
        if (synced.add(type) && synced.size() == handlers.size()) {
            List<String> held = new ArrayList<>();
            versions.forEach((t, names) -> held.add(names.size() + " " + XdsClientMetrics.typeLabel(t)));
            log.info("xDS: first sync complete ({})", String.join(", ", held));
            firstSync.countDown();
        }
    }

    /** Applies one response whole, or throws before changing anything. */
    private void apply(DeltaDiscoveryResponse response) {
        String type = response.getTypeUrl();
        Map<String, String> held = versions.get(type);
        if (held == null) {
            throw new XdsException("type URL '" + type + "' was not subscribed to (expected: one of "
                    + handlers.keySet() + ")");
        }
        List<String> removed = response.getRemovedResourcesList();
        List<Rejection> rejected;
        try {
            rejected = applyTo(handlers.get(type), response, removed);
        } catch (IllegalArgumentException e) {
            throw new XdsException(e.getMessage(), e);
        }
        if (!rejected.isEmpty()) {
            throw new XdsException(String.join("; ", rejected.stream().map(Rejection::reason).toList()));
        }
        for (String name : removed) {
            held.remove(name);
        }
        for (Resource r : response.getResourcesList()) {
            held.put(r.getName(), r.getVersion());
        }
        metrics.held(type, held.size());
        if (log.isDebugEnabled()) {
            log.debug("xDS: applied {} response {}: {} resources, {} removed", type, response.getNonce(),
                    response.getResourcesCount(), removed.size());
        }
    }

    private static <T extends Message> List<Rejection> applyTo(ResourceHandler<T> handler,
                                                               DeltaDiscoveryResponse response, List<String> removed) {
        Map<String, T> out = new LinkedHashMap<>();
        for (Resource r : response.getResourcesList()) {
            if (r.getName().isEmpty()) {
                throw new XdsException("resource without a name in " + response.getTypeUrl() + " response");
            }
            if (!r.hasResource()) {
                throw new XdsException(r.getName() + ": no resource body (expected: " + response.getTypeUrl() + ")");
            }
            Any any = r.getResource();
            try {
                out.put(r.getName(), requireNonNull(handler.parse(any), "parsed " + r.getName()));
            } catch (InvalidProtocolBufferException e) {
                throw new XdsException(r.getName() + ": cannot unpack " + any.getTypeUrl() + " as "
                        + response.getTypeUrl() + ": " + e.getMessage(), e);
            }
        }
        return handler.apply(out, removed);
    }

    private void ended(Stream stream, Throwable cause) {
        if (stream != current) {
            return;
        }
        current = null;
        setConnected(false);
        if (closed) {
            return;
        }
        long delayMillis = backoffMillis(failures++);
        Status status = cause == null ? Status.OK : Status.fromThrowable(cause);
        log.warn("xDS: stream to the control plane ended ({}{}); reconnecting in {} ms, keeping the last state",
                status.getCode(), status.getDescription() == null ? "" : ": " + status.getDescription(), delayMillis);
        reconnect = executor.schedule(this::connect, delayMillis, TimeUnit.MILLISECONDS);
    }

    /**
     * Exponential backoff with "equal jitter" ({@link Backoff}): half the step is fixed, half
     * random, so agents restarted together do not reconnect in lockstep, yet never retry at once.
     */
    long backoffMillis(int attempt) {
        return backoff.delay(attempt).toMillis();
    }

    private void setConnected(boolean up) {
        if (connected != up) {
            connected = up;
            metrics.connected(up);
            if (up) {
                log.info("xDS: connected to the control plane as {}", node.getId());
            }
        }
    }

    /** One delta ADS stream; a reconnect makes a new one. */
    private final class Stream implements ClientResponseObserver<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
        private ClientCallStreamObserver<DeltaDiscoveryRequest> requests;

        @Override
        public void beforeStart(ClientCallStreamObserver<DeltaDiscoveryRequest> requests) {
            this.requests = requests;
        }

        void send(DeltaDiscoveryRequest request) {
            try {
                requests.onNext(request);
            } catch (RuntimeException e) {
                // The call is already failing; onError follows and reconnects.
                log.debug("xDS: sending a request failed", e);
            }
        }

        void cancel() {
            requests.cancel("xDS client closed", null);
        }

        @Override
        public void onNext(DeltaDiscoveryResponse response) {
            received(this, response);
        }

        @Override
        public void onError(Throwable t) {
            ended(this, t);
        }

        @Override
        public void onCompleted() {
            ended(this, null);
        }
    }

    /** {@code authorization: Bearer <token>} on every stream, the token read per stream (it may rotate). */
    private static final class BearerToken extends CallCredentials {
        private final Supplier<String> token;

        BearerToken(Supplier<String> token) {
            this.token = token;
        }

        @Override
        public void applyRequestMetadata(RequestInfo info, Executor appExecutor, MetadataApplier applier) {
            try {
                String value = requireNonNull(token.get(), "token");
                Metadata headers = new Metadata();
                headers.put(AUTHORIZATION, "Bearer " + value);
                applier.apply(headers);
            } catch (RuntimeException e) {
                applier.fail(Status.UNAUTHENTICATED.withDescription("xDS bearer token: " + e).withCause(e));
            }
        }
    }

    /** Configures an {@link XdsClient}. */
    public static final class Builder {
        private final Channel channel;
        private final Map<String, ResourceHandler<?>> handlers = new LinkedHashMap<>();
        private String nodeId = "ambit-node-agent";
        private String userAgentName = DEFAULT_USER_AGENT_NAME;
        private Struct nodeMetadata;
        private Duration initialBackoff = DEFAULT_INITIAL_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private Supplier<String> token;
        private MetricsRegistry metrics;

        private Builder(Channel channel) {
            this.channel = requireNonNull(channel, "channel");
        }

        /**
         * Subscribes to {@code handler}'s type and hands it that type's responses. Types are
         * subscribed in the order their handlers are registered.
         */
        public Builder handler(ResourceHandler<?> handler) {
            requireNonNull(handler, "handler");
            String type = requireNonNull(handler.typeUrl(), "handler.typeUrl()");
            if (!type.startsWith(TypeUrls.PREFIX) || type.length() == TypeUrls.PREFIX.length()) {
                throw new IllegalArgumentException("type URL of " + handler + ": " + type
                        + " (expected: " + TypeUrls.PREFIX + "<message full name>)");
            }
            ResourceHandler<?> previous = handlers.putIfAbsent(type, handler);
            if (previous != null) {
                throw new IllegalArgumentException("type URL " + type + ": handled by " + previous + " already"
                        + " (expected: one handler per type; combine them in one handler)");
            }
            return this;
        }

        /** Registers each of {@code handlers}, in order, as {@link #handler}. */
        public Builder handlers(Iterable<? extends ResourceHandler<?>> handlers) {
            requireNonNull(handlers, "handlers").forEach(this::handler);
            return this;
        }

        /** {@code node.id} sent to the control plane, e.g. {@link XdsClient#istioNodeId}. */
        public Builder nodeId(String nodeId) {
            requireNonNull(nodeId, "nodeId");
            if (nodeId.isBlank()) {
                throw new IllegalArgumentException("nodeId: blank (expected: e.g. ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local)");
            }
            this.nodeId = nodeId;
            return this;
        }

        /**
         * {@code node.user_agent_name} sent to the control plane ({@value XdsClient#DEFAULT_USER_AGENT_NAME}
         * by default); a waypoint sends {@code ambit-waypoint}.
         */
        public Builder userAgentName(String userAgentName) {
            requireNonNull(userAgentName, "userAgentName");
            if (userAgentName.isBlank()) {
                throw new IllegalArgumentException("userAgentName: blank (expected: e.g. ambit-waypoint)");
            }
            this.userAgentName = userAgentName;
            return this;
        }

        /**
         * {@code node.metadata} sent with the first request of each type on every stream (none
         * by default). The control plane chooses what to serve from it, as istiod does from a
         * proxy's metadata: a waypoint names its namespace, Gateway ({@code LABELS}) and
         * {@code GENERATOR}.
         */
        public Builder nodeMetadata(Struct nodeMetadata) {
            this.nodeMetadata = requireNonNull(nodeMetadata, "nodeMetadata");
            return this;
        }

        /** The reconnect backoff: starts at {@code initial}, doubles per failure up to {@code max}, jittered. */
        public Builder backoff(Duration initial, Duration max) {
            requireNonNull(initial, "initial");
            requireNonNull(max, "max");
            if (initial.isNegative() || initial.isZero()) {
                throw new IllegalArgumentException("backoff: " + initial + " (expected: positive)");
            }
            if (max.compareTo(initial) < 0) {
                throw new IllegalArgumentException("max backoff: " + max + " (expected: >= " + initial + ")");
            }
            this.initialBackoff = initial;
            this.maxBackoff = max;
            return this;
        }

        /** Sends {@code authorization: Bearer <token>}; the supplier is asked on every (re)connect. */
        public Builder bearerToken(Supplier<String> token) {
            this.token = requireNonNull(token, "token");
            return this;
        }

        /** Where the client's metrics go; default: a private registry. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        public XdsClient build() {
            if (handlers.isEmpty()) {
                throw new IllegalStateException("xDS client without a handler (expected: at least one, "
                        + "e.g. .handlers(proxyState.handlers()))");
            }
            if (metrics == null) {
                metrics = MetricsRegistry.create();
            }
            return new XdsClient(this);
        }
    }
}
