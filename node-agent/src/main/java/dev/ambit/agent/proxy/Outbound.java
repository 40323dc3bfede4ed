package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.identity.CertificateManager;
import dev.ambit.agent.identity.WorkloadCertificate;
import dev.ambit.agent.state.Endpoint;
import dev.ambit.agent.state.ProxyState;
import dev.ambit.agent.telemetry.ConnectionLabels;
import dev.ambit.agent.telemetry.TcpTelemetry;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.hbone.HboneRequest;
import dev.ambit.common.hbone.Relay;
import dev.ambit.common.hbone.RelayResult;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outbound listener of one enrolled pod, ztunnel's {@code Outbound}: every TCP connection
 * the pod opens is captured to {@code 127.0.0.1:15001} inside the pod, accepted here, and
 * sent on to its original destination.
 *
 * <ol>
 *   <li>The original destination comes from {@link OriginalDestinations}.</li>
 *   <li>It is resolved in {@link ProxyState}: a Service VIP:port picks one of the service's
 *       healthy endpoints, round robin per service, with the endpoint's target port; a
 *       workload address is that workload; anything else is unknown.</li>
 *   <li>A destination workload using HBONE gets a tunnel through the {@link HbonePool} to
 *       {@code <workload ip>:15008}, {@code :authority} {@code <workload ip>:<target port>},
 *       presenting the pod's certificate and requiring the workload's identity, with
 *       {@code Forwarded: for=<pod ip>}, Istio's {@code baggage} and a new
 *       {@code traceparent}. Otherwise (unmeshed or unknown): plain TCP to the destination,
 *       from the pod's namespace ({@link TcpRelay}).</li>
 * </ol>
 *
 * <p>Failures close the client connection with a reset and are reported with Istio's
 * response flags: {@code NR} (no original destination, or the pod is unknown), {@code UH}
 * (the service has no healthy endpoint), {@code UF} (the upstream or tunnel could not be
 * opened). Telemetry reports as {@code reporter="source"}.
 *
 * <p>Each accepted connection stays on one event loop, with its upstream channel or tunnel:
 * no locks on the data path. The event loops are of the {@link PodNetwork}'s
 * {@link Transport} (epoll or io_uring).
 *
 * <p>Shutting down: {@link #drain} (SIGTERM, or the pod leaving the mesh) stops accepting
 * and waits for the open connections to end, up to a deadline; {@link #close} only stops
 * accepting.
 */
public final class Outbound implements AutoCloseable {

    /** Istio's outbound capture port. */
    public static final int DEFAULT_PORT = 15001;

    public static final String ACCEPTED = "ambit_outbound_connections_total";
    public static final String FAILED = "ambit_outbound_failures_total";

    private static final Logger log = LoggerFactory.getLogger(Outbound.class);

    private final PodNetwork network;
    private final Supplier<String> workloadUid;
    private final ProxyState state;
    private final CertificateManager certificates;
    private final HbonePool pool;
    private final OriginalDestinations destinations;
    private final TcpTelemetry telemetry;
    private final EventLoopGroup group;
    private final InetSocketAddress bindAddress;
    private final int hbonePort;
    private final Duration connectTimeout;
    private final Counter.Family accepted;
    private final Counter.Family failed;
    /** Round-robin position per service key; monotonically increasing, modulo at use. */
    private final ConcurrentHashMap<String, AtomicInteger> roundRobin = new ConcurrentHashMap<>();
    private final ListenerChannel server = new ListenerChannel();

    private Outbound(Builder b) {
        network = b.network;
        workloadUid = b.workloadUid;
        state = requireNonNull(b.state, "state");
        certificates = requireNonNull(b.certificates, "certificates");
        pool = requireNonNull(b.pool, "pool");
        destinations = requireNonNull(b.destinations, "originalDestinations");
        group = requireNonNull(b.group, "eventLoopGroup");
        telemetry = TcpTelemetry.of(b.metrics);
        bindAddress = b.bindAddress;
        hbonePort = b.hbonePort;
        connectTimeout = b.connectTimeout;
        accepted = b.metrics.counter(ACCEPTED, "Connections accepted by outbound listeners, by route.", "route");
        failed = b.metrics.counter(FAILED, "Outbound connections that failed, by response flag.", "flag");
    }

    /** Starts configuring the outbound listener of the pod whose workload uid is {@code workloadUid}. */
    public static Builder builder(PodNetwork network, String workloadUid) {
        requireNonNull(workloadUid, "workloadUid");
        return new Builder(network, () -> workloadUid);
    }

    /**
     * As {@link #builder(PodNetwork, String)}, with the pod's workload uid read per connection:
     * for a pod captured before its workload was known (it is bound later).
     */
    public static Builder builder(PodNetwork network, Supplier<String> workloadUid) {
        return new Builder(network, workloadUid);
    }

    /**
     * Binds the listener inside the pod's namespace. The returned future completes when it
     * is bound (or failed to bind).
     *
     * @throws IllegalStateException if it was started or drained before
     */
    public ChannelFuture start() {
        ChannelFuture[] bound = new ChannelFuture[1];
        server.bind(() -> {
            bound[0] = new ServerBootstrap()
                    .group(group)
                    // Created by the pod's network: the listener lives inside the pod's namespace.
                    .channelFactory(network::newServerChannel)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .handler(server.acceptHandler())
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    // Reset, never FIN, unless a relay ends it gracefully; also if this process dies (Linger).
                    .childOption(ChannelOption.SO_LINGER, 0)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            // Reads are the relay's (backpressure); until it starts, EarlyInput's.
                            ch.config().setAutoRead(false);
                            ch.pipeline().addLast("early-input", new EarlyInput());
                            // Registered on its event loop: everything of this connection happens there.
                            handle((DuplexChannel) ch);
                        }
                    })
                    .bind(bindAddress);
            return bound[0].channel();
        });
        return bound[0];
    }

    /** The bound address; {@code null} before {@link #start} completed. */
    public InetSocketAddress localAddress() {
        return server.localAddress();
    }

    /** Captured connections accepted by this listener that are still open (failed ones close at once). */
    public int activeConnections() {
        return server.activeConnections();
    }

    /**
     * Drains the listener: stops accepting at once (the listening socket is closed, so the
     * pod's new outbound connections are refused), lets every accepted connection relay
     * (directly or through its HBONE tunnel) until its peers end it, and completes once all
     * of them ended. Those still open at {@code deadline} are reset, with their upstream
     * connection or tunnel, and counted in the future's value. Calling it again returns the
     * same future (the first deadline holds); a drained listener cannot be started. Returns
     * once the listening socket is closed, without waiting for connections; the future
     * completes on an event loop or a timer thread. The {@link HbonePool} is not drained: it
     * is shared by every pod's listener ({@link HbonePool#drain}).
     *
     * @throws IllegalArgumentException if {@code deadline} is negative
     */
    public CompletableFuture<Integer> drain(Duration deadline) {
        return server.drain(deadline);
    }

    /**
     * Stops accepting and waits until the listening socket is closed; connections already
     * relaying continue until they end (use {@link #drain} to wait for them, or to end them).
     */
    @Override
    public void close() {
        server.close();
    }

    /** What a captured connection is sent to. */
    private record Route(Workload workload, Service service, InetSocketAddress target) {}

    private void handle(DuplexChannel client) {
        Instant start = Instant.now();
        InetSocketAddress peer = (InetSocketAddress) client.remoteAddress();
        String sourceUid = workloadUid.get();
        Workload source = state.workload(sourceUid);
        Optional<InetSocketAddress> original = destinations.lookup(client);
        if (original.isEmpty() || source == null) {
            // Without a destination there is nowhere to go; without the pod's workload there is
            // no identity to present: both fail closed.
            refuse(client, labels(source, null, null, "unknown"), peer, null, start, "NR",
                    original.isEmpty() ? "no original destination" : "pod workload " + sourceUid + " unknown");
            return;
        }
        InetSocketAddress dst = original.get();
        Service service = state.serviceByVip(dst.getAddress(), dst.getPort());
        Route route;
        if (service != null) {
            Endpoint e = pick(service, dst.getPort());
            if (e == null) {
                refuse(client, labels(source, null, service, "unknown"), peer, dst, start, "UH",
                        "no healthy endpoint of " + ProxyState.serviceKey(service) + ":" + dst.getPort());
                return;
            }
            InetAddress ip = address(e.workload());
            route = new Route(e.workload(), service, ip == null ? dst : new InetSocketAddress(ip, e.targetPort()));
        } else {
            route = new Route(state.workloadByAddress(dst.getAddress()), null, dst);
        }
        if (route.workload != null && route.workload.getTunnelProtocol() == TunnelProtocol.HBONE
                && address(route.workload) != null) {
            accepted.labels("hbone").inc();
            hbone(client, source, route, peer, start);
        } else {
            accepted.labels("passthrough").inc();
            passthrough(client, source, route, peer, start);
        }
    }

    /** The next healthy endpoint, round robin; {@code null} if none is healthy. */
    private Endpoint pick(Service service, int port) {
        List<Endpoint> endpoints = state.endpoints(service, port);
        int healthy = 0; // healthy endpoints come first
        while (healthy < endpoints.size() && endpoints.get(healthy).healthy()) {
            healthy++;
        }
        if (healthy == 0) {
            return null;
        }
        AtomicInteger next = roundRobin.computeIfAbsent(ProxyState.serviceKey(service), k -> new AtomicInteger());
        return endpoints.get(Math.floorMod(next.getAndIncrement(), healthy));
    }

    private void hbone(DuplexChannel client, Workload source, Route route, InetSocketAddress peer, Instant start) {
        ConnectionLabels labels = labels(source, route.workload, route.service, "mutual_tls");
        SpiffeId sourceId = identity(source);
        SpiffeId destinationId = identity(route.workload);
        InetAddress sourceIp = address(source);
        InetSocketAddress hboneAddress = new InetSocketAddress(route.target.getAddress(), hbonePort);
        HboneRequest request = HboneRequest.builder(route.target)
                .forwardedFor(sourceIp != null ? sourceIp : peer.getAddress())
                .baggage(baggage(source))
                .traceparent(traceparent())
                .build();
        EventLoop loop = client.eventLoop();
        telemetry.opened(labels);
        certificates.fetch(sourceId).whenComplete((cert, error) -> loop.execute(() -> {
            if (error != null) {
                fail(client, labels, peer, route.target, start, "UF", "no certificate for " + sourceId + ": " + error);
                return;
            }
            tunnel(client, cert, destinationId, route.workload.getUid(), hboneAddress, request, labels, peer,
                    route.target, start);
        }));
    }

    private void tunnel(DuplexChannel client, WorkloadCertificate cert, SpiffeId destinationId, String destinationUid,
                        InetSocketAddress hboneAddress, HboneRequest request, ConnectionLabels labels,
                        InetSocketAddress peer, InetSocketAddress target, Instant start) {
        // Keyed by the destination's uid too: a pod that reuses a gone pod's address gets fresh connections.
        Future<Http2StreamChannel> f = pool.connect(network, cert, destinationId, destinationUid, hboneAddress,
                request, client.eventLoop());
        client.closeFuture().addListener(c -> f.cancel(false)); // the client gave up while connecting
        f.addListener((Future<Http2StreamChannel> r) -> {
            if (!r.isSuccess()) {
                if (!r.isCancelled()) {
                    fail(client, labels, peer, target, start, "UF", String.valueOf(r.cause()));
                } else {
                    telemetry.closed(labels.withResponseFlags("DC"), peer, target, 0, 0, start,
                            Duration.between(start, Instant.now()), null);
                }
                return;
            }
            Relay.start(client, r.getNow(), (RelayResult result) -> telemetry.closed(
                    result.termination() == RelayResult.Termination.STREAM_ABORTED ? labels.withResponseFlags("UR")
                            : labels, peer, target, result.tcpToStream(), result.streamToTcp(), start,
                    result.duration(), null));
        });
    }

    private void passthrough(DuplexChannel client, Workload source, Route route, InetSocketAddress peer,
                             Instant start) {
        ConnectionLabels labels = labels(source, route.workload, route.service, "unknown");
        telemetry.opened(labels);
        SocketChannel upstream;
        try {
            upstream = network.newChannel(); // in the pod's namespace: the source is the pod's address
        } catch (RuntimeException e) {
            fail(client, labels, peer, route.target, start, "UF", e.toString());
            return;
        }
        upstream.config().setAutoRead(false);
        upstream.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        upstream.config().setOption(ChannelOption.TCP_NODELAY, true);
        upstream.config().setOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis());
        client.eventLoop().register(upstream).addListener((ChannelFuture r) -> {
            if (!r.isSuccess()) {
                upstream.unsafe().closeForcibly();
                fail(client, labels, peer, route.target, start, "UF", String.valueOf(r.cause()));
                return;
            }
            upstream.connect(route.target).addListener((ChannelFuture c) -> {
                if (!c.isSuccess()) {
                    upstream.close();
                    fail(client, labels, peer, route.target, start, "UF", String.valueOf(c.cause()));
                    return;
                }
                TcpRelay.start(client, upstream, result -> telemetry.closed(
                        result.completed() || result.cause() == null ? labels : labels.withResponseFlags("UR"),
                        peer, route.target, result.clientToServer(), result.serverToClient(), start,
                        result.duration(), null));
            });
        });
    }

    /** Refused before any upstream was tried: counted as opened and closed at once. */
    private void refuse(DuplexChannel client, ConnectionLabels labels, InetSocketAddress peer, InetSocketAddress dst,
                        Instant start, String flag, String why) {
        telemetry.opened(labels);
        fail(client, labels, peer, dst, start, flag, why);
    }

    private void fail(DuplexChannel client, ConnectionLabels labels, InetSocketAddress peer, InetSocketAddress dst,
                      Instant start, String flag, String why) {
        log.debug("outbound {} -> {} of pod {} failed ({}): {}", peer, dst, network.podUid(), flag, why);
        // A reset, not a FIN: the application must not take the failure for an empty answer.
        client.config().setOption(ChannelOption.SO_LINGER, 0);
        client.close();
        telemetry.closed(labels.withResponseFlags(flag), peer, dst, 0, 0, start,
                Duration.between(start, Instant.now()), why);
        failed.labels(flag).inc();
    }

    private static ConnectionLabels labels(Workload source, Workload destination, Service service, String security) {
        return new ConnectionLabels("source",
                source == null ? null : workloadName(source),
                source == null ? null : source.getNamespace(),
                source == null ? null : identity(source).uri(),
                source == null ? null : source.getCanonicalName(),
                source == null ? null : source.getCanonicalRevision(),
                source == null ? null : source.getCanonicalName(),
                source == null ? null : source.getCanonicalRevision(),
                source == null ? null : source.getClusterId(),
                destination == null ? null : workloadName(destination),
                destination == null ? null : destination.getNamespace(),
                destination == null || destination.getTunnelProtocol() != TunnelProtocol.HBONE ? null
                        : identity(destination).uri(),
                destination == null ? null : destination.getCanonicalName(),
                destination == null ? null : destination.getCanonicalRevision(),
                service == null ? null : service.getHostname(),
                service == null ? null : service.getName(),
                service == null ? null : service.getNamespace(),
                destination == null ? null : destination.getCanonicalName(),
                destination == null ? null : destination.getCanonicalRevision(),
                destination == null ? null : destination.getClusterId(),
                security, null);
    }

    private static String workloadName(Workload w) {
        return w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName();
    }

    static SpiffeId identity(Workload w) {
        String sa = w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount();
        String td = w.getTrustDomain().isEmpty() ? "cluster.local" : w.getTrustDomain();
        return SpiffeId.of(td, w.getNamespace(), sa);
    }

    private static InetAddress address(Workload w) {
        if (w == null || w.getAddressesCount() == 0) {
            return null;
        }
        try {
            return InetAddress.getByAddress(w.getAddresses(0).toByteArray()); // raw bytes: no DNS
        } catch (java.net.UnknownHostException e) {
            return null;
        }
    }

    /** Istio's baggage for the source: the peer learns who is calling without asking the control plane. */
    static String baggage(Workload w) {
        StringBuilder b = new StringBuilder();
        append(b, "k8s.cluster.name", w.getClusterId());
        append(b, "k8s.namespace.name", w.getNamespace());
        String kind = switch (w.getWorkloadType()) {
            case DEPLOYMENT -> "deployment";
            case CRONJOB -> "cronjob";
            case JOB -> "job";
            default -> "pod";
        };
        append(b, "k8s." + kind + ".name", workloadName(w));
        append(b, "service.name", w.getCanonicalName());
        append(b, "service.version", w.getCanonicalRevision());
        return b.toString();
    }

    private static void append(StringBuilder b, String key, String value) {
        if (value == null || value.isEmpty()) {
            return;
        }
        if (!b.isEmpty()) {
            b.append(',');
        }
        b.append(key).append('=').append(value);
    }

    /** A new W3C trace context: version 00, random trace and span ids, not sampled. */
    static String traceparent() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        long hi;
        long lo;
        do {
            hi = r.nextLong();
            lo = r.nextLong();
        } while (hi == 0 && lo == 0); // all-zero ids are invalid
        long span;
        do {
            span = r.nextLong();
        } while (span == 0);
        return "00-" + hex(hi) + hex(lo) + "-" + hex(span) + "-00";
    }

    private static String hex(long v) {
        String s = Long.toHexString(v);
        return "0".repeat(16 - s.length()) + s;
    }

    /** Configures an {@link Outbound}. */
    public static final class Builder {
        private final PodNetwork network;
        private final Supplier<String> workloadUid;
        private ProxyState state;
        private CertificateManager certificates;
        private HbonePool pool;
        private OriginalDestinations destinations;
        private EventLoopGroup group;
        private MetricsRegistry metrics = MetricsRegistry.create();
        private InetSocketAddress bindAddress = new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT);
        private int hbonePort = HbonePool.DEFAULT_PORT;
        private Duration connectTimeout = Duration.ofSeconds(10);

        private Builder(PodNetwork network, Supplier<String> workloadUid) {
            this.network = requireNonNull(network, "network");
            this.workloadUid = requireNonNull(workloadUid, "workloadUid");
        }

        public Builder state(ProxyState state) {
            this.state = requireNonNull(state, "state");
            return this;
        }

        public Builder certificates(CertificateManager certificates) {
            this.certificates = requireNonNull(certificates, "certificates");
            return this;
        }

        /** The HBONE pool; normally one per agent, shared by all pods' outbound listeners. */
        public Builder pool(HbonePool pool) {
            this.pool = requireNonNull(pool, "pool");
            return this;
        }

        public Builder originalDestinations(OriginalDestinations destinations) {
            this.destinations = requireNonNull(destinations, "destinations");
            return this;
        }

        /**
         * The event loops of the listener and its connections. Required; of the network's
         * {@link PodNetwork#transport() transport} (Netty registers a channel only with a
         * loop of its own transport), e.g. from {@link Transport#newEventLoopGroup}.
         */
        public Builder eventLoopGroup(EventLoopGroup group) {
            this.group = requireNonNull(group, "group");
            return this;
        }

        /** Where telemetry and the listener's counters go; a private registry by default. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        /** {@code 127.0.0.1:15001} (inside the pod) by default. */
        public Builder bindAddress(InetSocketAddress bindAddress) {
            this.bindAddress = requireNonNull(bindAddress, "bindAddress");
            return this;
        }

        /** The peers' HBONE port; 15008 by default (other values are for tests). */
        public Builder hbonePort(int hbonePort) {
            if (hbonePort <= 0 || hbonePort > 65535) {
                throw new IllegalArgumentException("hbonePort: " + hbonePort + " (expected: 1-65535)");
            }
            this.hbonePort = hbonePort;
            return this;
        }

        /** Connect timeout of passthrough upstreams; 10 seconds by default. */
        public Builder connectTimeout(Duration connectTimeout) {
            requireNonNull(connectTimeout, "connectTimeout");
            if (connectTimeout.isNegative() || connectTimeout.isZero()) {
                throw new IllegalArgumentException("connectTimeout: " + connectTimeout + " (expected: > 0)");
            }
            this.connectTimeout = connectTimeout;
            return this;
        }

        /**
         * @throws NullPointerException if a required setting is missing
         * @throws IllegalArgumentException if the event loop group is not of the network's transport
         */
        public Outbound build() {
            if (group != null && !network.transport().isCompatible(group)) {
                throw new IllegalArgumentException("eventLoopGroup: " + group + " (expected: a group of the "
                        + network.transport() + " transport, as the pod network's channels)");
            }
            return new Outbound(this);
        }
    }
}
