package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.GatewayAddress;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.identity.WorkloadIdentity;
import dev.ambit.proxy.net.EarlyInput;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.ProxyListener;
import dev.ambit.proxy.net.Relay;
import dev.ambit.proxy.net.RelayResult;
import dev.ambit.proxy.net.TcpRelay;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.Baggage;
import dev.ambit.proxy.telemetry.ConnectionLabels.Reporter;
import dev.ambit.proxy.telemetry.ConnectionLabels.SecurityPolicy;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.TcpTelemetry;
import dev.ambit.proxy.telemetry.Traceparent;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
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
 *       healthy endpoints, round robin per service, with the endpoint's target port, avoiding
 *       those {@link EndpointHealth} ejected unless all are ({@link EndpointPicker}); a
 *       workload address is that workload; anything else is unknown.</li>
 *   <li>A destination with a waypoint ({@link WaypointRoute}: the Service's, for a VIP; the
 *       workload's, for a pod address) gets a tunnel to one of the waypoint's pods, on its
 *       HBONE port, with {@code :authority} the original destination and the waypoint's
 *       identity required; a waypoint that cannot be resolved or reached fails the connection
 *       ({@code UH}/{@code UF}, reason {@code waypoint_*}), never bypassing it.</li>
 *   <li>Otherwise a destination workload using HBONE gets a tunnel through the {@link HbonePool} to
 *       {@code <workload ip>:15008}, {@code :authority} {@code <workload ip>:<target port>},
 *       presenting the pod's certificate and requiring the workload's identity, with
 *       {@code Forwarded: for=<pod ip>}, Istio's {@code baggage} and a new
 *       {@code traceparent}. Otherwise (unmeshed or unknown): plain TCP to the destination,
 *       from the pod's namespace ({@link TcpRelay}).</li>
 * </ol>
 *
 * <p><b>Failover.</b> When a Service endpoint cannot be reached (TCP connect refused or timed
 * out, TLS handshake failed, the {@code CONNECT} reset or unanswered, or answered 502/503/504
 * by the destination's agent), the endpoint is reported to {@link EndpointHealth} and
 * another endpoint of the service is tried, up to {@link OutboundBuilder#failover} attempts within
 * its budget, as Envoy's TCP proxy with {@code max_connect_attempts}. Only before the relay
 * starts: the client's early bytes wait in {@link EarlyInput}, so they are sent once, to the
 * endpoint that answered. A destination that answers with a refusal (403 for a policy, 400)
 * decided, and is not second-guessed elsewhere. A connection to a workload address (not a
 * VIP) has one destination and one attempt.
 *
 * <p>Failures close the client connection with a reset and are reported with Istio's
 * response flags: {@code NR} (no original destination, or the pod is unknown), {@code UH}
 * (the service has no endpoint xDS reports healthy; ejected ones are still tried), {@code UF}
 * (no attempt could open the upstream or tunnel). Telemetry reports as
 * {@code reporter="source"}, once per connection, with the endpoint of the last attempt.
 *
 * <p>Each accepted connection stays on one event loop, with its upstream channel or tunnel:
 * no locks on the data path. The event loops are of the {@link PodNetwork}'s
 * {@link Transport} (epoll or io_uring).
 *
 * <p>Shutting down: {@link #drain} (SIGTERM, or the pod leaving the mesh) stops accepting
 * and waits for the open connections to end (directly relayed or through their HBONE tunnel),
 * up to a deadline; {@link #close} only stops accepting. The {@link HbonePool} is not drained:
 * it is shared by every pod's listener ({@link HbonePool#drain}).
 */
public final class Outbound extends ProxyListener {

    /** Istio's outbound capture port. */
    public static final int DEFAULT_PORT = IstioPorts.OUTBOUND;

    public static final String ACCEPTED = "ambit_outbound_connections_total";
    public static final String FAILED = "ambit_outbound_failures_total";
    public static final String FAILOVERS = "ambit_outbound_failovers_total";

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
    private final int maxAttempts;
    private final Duration connectBudget;
    private final EndpointHealth health;
    private final EndpointPicker picker;
    private final Counter.Family accepted;
    private final Counter.Family failed;
    private final Counter.Family failovers;

    Outbound(OutboundBuilder b) {
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
        maxAttempts = b.maxAttempts;
        connectBudget = b.connectBudget;
        health = b.health != null ? b.health : EndpointHealth.builder().build();
        picker = new EndpointPicker(state, health);
        accepted = b.metrics.counter(ACCEPTED, "Connections accepted by outbound listeners, by route.", "route");
        failed = b.metrics.counter(FAILED, "Outbound connections that failed, by response flag and reason.",
                "flag", "reason");
        failovers = b.metrics.counter(FAILOVERS,
                "Outbound connect attempts that failed and were retried on another endpoint, by reason.", "reason");
    }

    /** Starts configuring the outbound listener of the pod whose workload uid is {@code workloadUid}. */
    public static OutboundBuilder builder(PodNetwork network, String workloadUid) {
        requireNonNull(workloadUid, "workloadUid");
        return new OutboundBuilder(network, () -> workloadUid);
    }

    /**
     * As {@link #builder(PodNetwork, String)}, with the pod's workload uid read per connection:
     * for a pod captured before its workload was known (it is bound later).
     */
    public static OutboundBuilder builder(PodNetwork network, Supplier<String> workloadUid) {
        return new OutboundBuilder(network, workloadUid);
    }

    /**
     * Binds the listener inside the pod's namespace. The returned future completes when it
     * is bound (or failed to bind).
     *
     * @throws IllegalStateException if it was started or drained before
     */
    public ChannelFuture start() {
        // Sockets from the pod's network: the listener lives inside the pod's namespace.
        // SO_REUSEPORT: a new agent binds beside this listener during a hand-over.
        return bind(relayBootstrap(group, network).childOption(ChannelOption.TCP_NODELAY, true)
                .option(io.netty.channel.unix.UnixChannelOption.SO_REUSEPORT, true), bindAddress);
    }

    @Override
    protected void initConnection(Channel ch) {
        // Registered on its event loop: everything of this connection happens there.
        handle((DuplexChannel) ch);
    }

    /**
     * Where one attempt of a captured connection goes; {@code key} only for a Service's endpoint
     * or a waypoint's pod. Through a waypoint, {@code workload} is the waypoint's pod,
     * {@code target} its HBONE address and {@code authority} the original destination (the
     * {@code :authority} of the tunnel); {@code service} is always the destination's (what the
     * client meant to reach, as ztunnel reports it).
     */
    private record Route(Workload workload, Service service, InetSocketAddress target, EndpointHealth.Key key,
                         InetSocketAddress authority) {
        /** Whether this attempt goes to a waypoint (always HBONE: waypoints terminate it themselves). */
        boolean waypoint() {
            return authority != null;
        }

        boolean hbone() {
            return waypoint() || workload != null && workload.getTunnelProtocol() == TunnelProtocol.HBONE
                    && EndpointPicker.address(workload) != null;
        }
    }

    private void handle(DuplexChannel client) {
        Instant start = Instant.now();
        InetSocketAddress peer = (InetSocketAddress) client.remoteAddress();
        String sourceUid = workloadUid.get();
        Workload source = state.workload(sourceUid);
        Optional<InetSocketAddress> original = destinations.lookup(client);
        if (original.isEmpty() || source == null) {
            // Without a destination there is nowhere to go; without the pod's workload there is
            // no identity to present: both fail closed.
            refuse(client, labels(source, null, null, false), peer, null, start, "NR",
                    original.isEmpty() ? "no_original_destination" : "unknown_pod",
                    original.isEmpty() ? "no original destination" : "pod workload " + sourceUid + " unknown");
            return;
        }
        InetSocketAddress dst = original.get();
        Service service = state.serviceByVip(dst.getAddress(), dst.getPort());
        GatewayAddress gateway = WaypointRoute.gatewayOf(state, service, dst.getAddress());
        WaypointRoute.Resolved waypoint = null;
        if (gateway != null) {
            // Fail closed: a destination with a waypoint is reached through it or not at all.
            switch (WaypointRoute.resolve(state, gateway)) {
                case WaypointRoute.Unresolved u -> {
                    refuse(client, labels(source, null, service, false), peer, dst, start, "UH",
                            "waypoint_not_found", u.why());
                    return;
                }
                case WaypointRoute.Resolved r -> waypoint = r;
            }
            if (!picker.hasHealthy(waypoint)) {
                refuse(client, labels(source, null, service, false), peer, dst, start, "UH",
                        "no_healthy_waypoint_endpoint",
                        "waypoint " + waypoint.name() + ": no healthy waypoint endpoint");
                return;
            }
        } else if (service != null && !picker.hasHealthy(service, dst.getPort())) {
            refuse(client, labels(source, null, service, false), peer, dst, start, "UH", "no_healthy_endpoint",
                    "no healthy endpoint of " + ProxyState.serviceKey(service) + ":" + dst.getPort());
            return;
        }
        new Attempts(client, source, service, waypoint, dst, peer, start).next();
    }

    /**
     * The attempts of one captured connection to reach an upstream: a Service's connection
     * tries up to {@code maxAttempts} endpoints within {@code connectBudget}, each attempt
     * bounded by {@code connectTimeout}. Nothing is read from the client before an attempt
     * succeeded ({@link EarlyInput} holds its early bytes until the relay starts), so no byte
     * is lost or sent twice. Touched only from the client's event loop.
     */
    private final class Attempts {
        private final DuplexChannel client;
        private final Workload source;
        private final Service service;
        private final WaypointRoute.Resolved waypoint;
        private final InetSocketAddress dst;
        private final InetSocketAddress peer;
        private final Instant start;
        private final long deadline;
        private final Set<EndpointHealth.Key> tried = new HashSet<>(4);
        private int attempts;
        private Route last;
        /** The reason the last attempt failed, counted if no endpoint is left to fail over to. */
        private String lastFailure = "no_endpoint_left";
        private WorkloadCertificate certificate;

        Attempts(DuplexChannel client, Workload source, Service service, WaypointRoute.Resolved waypoint,
                 InetSocketAddress dst, InetSocketAddress peer, Instant start) {
            this.client = client;
            this.source = source;
            this.service = service;
            this.waypoint = waypoint;
            this.dst = dst;
            this.peer = peer;
            this.start = start;
            this.deadline = System.nanoTime() + connectBudget.toNanos();
        }

        void next() {
            Route route;
            if (waypoint != null) {
                route = nextWaypoint();
                if (route == null) {
                    return;
                }
            } else if (service == null) {
                route = new Route(state.workloadByAddress(dst.getAddress()), null, dst, null, null);
            } else {
                EndpointPicker.Pick p = picker.next(service, dst, tried);
                if (p == null) { // the endpoints went away meanwhile
                    String why = "no healthy endpoint of " + ProxyState.serviceKey(service) + ":" + dst.getPort();
                    if (last == null) {
                        refuse(client, Outbound.labels(source, null, service, false), peer, dst, start,
                                "UH", "no_healthy_endpoint", why);
                    } else {
                        giveUp(last, lastFailure, why + " left to try");
                    }
                    return;
                }
                tried.add(p.key());
                if (p.panic()) {
                    log.debug("outbound {} -> {}: every endpoint left is ejected, trying {} anyway", peer, dst, p.key());
                }
                route = new Route(p.endpoint().workload(), service, p.target(), p.key(), null);
            }
            last = route;
            if (++attempts == 1) {
                accepted.labels(route.waypoint() ? "waypoint" : route.hbone() ? "hbone" : "passthrough").inc();
            }
            if (route.hbone()) {
                hbone(route);
            } else {
                passthrough(route);
            }
        }

        /** The next pod of the waypoint to try; {@code null} (the connection failed) if none is left. */
        private Route nextWaypoint() {
            EndpointPicker.Pick p = picker.next(waypoint, tried);
            if (p == null) { // the waypoint's pods went away meanwhile, or all were tried
                String why = "waypoint " + waypoint.name() + ": no healthy waypoint endpoint";
                if (last == null) {
                    refuse(client, Outbound.labels(source, null, service, false), peer, dst, start, "UH",
                            "no_healthy_waypoint_endpoint", why);
                } else {
                    giveUp(last, lastFailure, why + " left to try");
                }
                return null;
            }
            tried.add(p.key());
            if (p.panic()) {
                log.debug("outbound {} -> {}: every pod of waypoint {} left is ejected, trying {} anyway",
                        peer, dst, waypoint.name(), p.key());
            }
            return new Route(p.endpoint().workload(), service, p.target(), p.key(), dst);
        }

        private void hbone(Route route) {
            if (certificate != null) {
                tunnel(route);
                return;
            }
            SpiffeId sourceId = WorkloadIdentity.of(source);
            EventLoop loop = client.eventLoop();
            certificates.fetch(sourceId).whenComplete((cert, error) -> loop.execute(() -> {
                if (error != null) {
                    giveUp(route, "no_certificate", "no certificate for " + sourceId + ": " + error);
                    return;
                }
                certificate = cert;
                tunnel(route);
            }));
        }

        private void tunnel(Route route) {
            if (!client.isActive()) {
                clientGone(route);
                return;
            }
            InetAddress sourceIp = EndpointPicker.address(source);
            // To a waypoint: its pod's HBONE address, :authority the original destination (Istio's
            // semantics: the waypoint routes on what the client asked for). Else the endpoint's 15008.
            InetSocketAddress hboneAddress = route.waypoint() ? route.target
                    : new InetSocketAddress(route.target.getAddress(), hbonePort);
            String traceparent = Traceparent.random();
            HboneRequest request = HboneRequest.builder(route.waypoint() ? route.authority : route.target)
                    .forwardedFor(sourceIp != null ? sourceIp : peer.getAddress())
                    .baggage(Baggage.of(source))
                    .traceparent(traceparent)
                    .build();
            // Keyed by the destination's uid too: a pod that reuses a gone pod's address gets fresh connections.
            Future<Http2StreamChannel> f = pool.connect(network, certificate, WorkloadIdentity.of(route.workload),
                    route.workload.getUid(), hboneAddress, request, client.eventLoop());
            long timeout = attemptTimeoutNanos();
            boolean[] timedOut = new boolean[1];
            // TCP connect is bounded by the pool; the handshake and the CONNECT's answer by this.
            ScheduledFuture<?> timer = client.eventLoop().schedule(() -> {
                timedOut[0] = true;
                f.cancel(false);
            }, timeout, TimeUnit.NANOSECONDS);
            client.closeFuture().addListener(c -> f.cancel(false)); // the client gave up while connecting
            f.addListener((Future<Http2StreamChannel> r) -> {
                timer.cancel(false);
                if (r.isSuccess()) {
                    succeeded(route);
                    ConnectionLabels labels = labels(route);
                    telemetry.opened(labels);
                    Relay.start(client, r.getNow(), (RelayResult result) -> telemetry.closed(
                            result.termination() == RelayResult.Termination.STREAM_ABORTED
                                    ? labels.withResponseFlags("UR") : labels, peer, route.target,
                            result.tcpToStream(), result.streamToTcp(), start, result.duration(), null,
                            Traceparent.traceId(traceparent))); // tracing (issue 19): joins the peer's line
                } else if (timedOut[0]) {
                    failed(route, "timeout", "timeout", "no tunnel to " + hboneAddress + " within "
                            + TimeUnit.NANOSECONDS.toMillis(timeout) + " ms");
                } else if (r.isCancelled()) {
                    clientGone(route);
                } else {
                    String reason = ConnectFailures.unreachable(r.cause());
                    failed(route, reason, reason != null ? reason : ConnectFailures.refusal(r.cause()), String.valueOf(r.cause()));
                }
            });
        }

        private void passthrough(Route route) {
            SocketChannel upstream;
            try {
                upstream = network.newChannel(); // in the pod's namespace: the source is the pod's address
            } catch (RuntimeException e) {
                giveUp(route, "local", e.toString());
                return;
            }
            upstream.config().setAutoRead(false);
            upstream.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            upstream.config().setOption(ChannelOption.TCP_NODELAY, true);
            upstream.config().setOption(ChannelOption.CONNECT_TIMEOUT_MILLIS,
                    (int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(attemptTimeoutNanos())));
            client.eventLoop().register(upstream).addListener((ChannelFuture r) -> {
                if (!r.isSuccess()) {
                    upstream.unsafe().closeForcibly();
                    giveUp(route, "local", String.valueOf(r.cause())); // local: not the endpoint's failure
                    return;
                }
                upstream.connect(route.target).addListener((ChannelFuture c) -> {
                    if (!c.isSuccess()) {
                        upstream.close();
                        String reason = c.cause() instanceof ConnectTimeoutException ? "timeout" : "connect";
                        failed(route, reason, reason, String.valueOf(c.cause()));
                        return;
                    }
                    succeeded(route);
                    ConnectionLabels labels = labels(route);
                    telemetry.opened(labels);
                    TcpRelay.start(client, upstream, result -> telemetry.closed(
                            result.completed() || result.cause() == null ? labels : labels.withResponseFlags("UR"),
                            peer, route.target, result.clientToServer(), result.serverToClient(), start,
                            result.duration(), null));
                });
            });
        }

        private void succeeded(Route route) {
            if (route.key != null) {
                health.succeeded(route.key);
            }
        }

        /**
         * An attempt failed: {@code reason} (an {@link EndpointHealth} reason) non-null means
         * the endpoint could not be reached, which counts against it and, for a Service or a
         * waypoint, lets another endpoint be tried while attempts and time are left;
         * {@code failure} is the reason counted if the connection fails with it.
         */
        private void failed(Route route, String reason, String failure, String why) {
            if (reason == null) {
                giveUp(route, failure, why);
                return;
            }
            if (route.key != null) {
                health.failed(route.key, reason);
            }
            if (!client.isActive()) {
                clientGone(route); // it gave up meanwhile: nobody to fail over for
                return;
            }
            if ((service != null || waypoint != null) && attempts < maxAttempts && deadline - System.nanoTime() > 0) {
                log.debug("outbound {} -> {} of pod {}: attempt {} to {} failed ({}): {}; trying another endpoint",
                        peer, dst, network.podUid(), attempts, route.target, reason, why);
                failovers.labels(reason).inc();
                lastFailure = failure;
                next();
                return;
            }
            giveUp(route, failure, attempts > 1 ? why + " (after " + attempts + " endpoints)" : why);
        }

        /** The connection fails with {@code UF}; through a waypoint, the reason says so (fail closed, no bypass). */
        private void giveUp(Route route, String reason, String why) {
            if (route.waypoint()) {
                refuse(client, labels(route), peer, route.target, start, "UF", "waypoint_" + reason,
                        "waypoint " + waypoint.name() + " (" + route.target + "): " + why);
            } else {
                refuse(client, labels(route), peer, route.target, start, "UF", reason, why);
            }
        }

        private void clientGone(Route route) {
            ConnectionLabels labels = labels(route);
            telemetry.opened(labels);
            telemetry.closed(labels.withResponseFlags("DC"), peer, route.target, 0, 0, start,
                    Duration.between(start, Instant.now()), null);
        }

        private ConnectionLabels labels(Route route) {
            if (route.waypoint()) {
                // ztunnel's report: the destination is the waypoint's pod (whose identity the
                // handshake checks, whatever its tunnel protocol), the service the one addressed.
                return ConnectionLabels.builder(Reporter.SOURCE)
                        .source(source)
                        .destination(route.workload, route.service)
                        .peer(WorkloadIdentity.of(route.workload))
                        .security(SecurityPolicy.MUTUAL_TLS)
                        .build();
            }
            return Outbound.labels(source, route.workload, route.service, route.hbone());
        }

        private long attemptTimeoutNanos() {
            return Math.max(TimeUnit.MILLISECONDS.toNanos(1), Math.min(connectTimeout.toNanos(),
                    deadline - System.nanoTime()));
        }
    }

    /** The source's report of a connection; {@code destination} and {@code service} may be unknown (null). */
    private static ConnectionLabels labels(Workload source, Workload destination, Service service, boolean tunnel) {
        return ConnectionLabels.builder(Reporter.SOURCE)
                .source(source)
                .destination(destination, service)
                .security(tunnel ? SecurityPolicy.MUTUAL_TLS : SecurityPolicy.UNKNOWN)
                .build();
    }

    /**
     * Refused before any upstream was tried, or after every attempt failed: opened and closed at
     * once; counted by {@code flag} and {@code reason} (a short, bounded code; {@code why} is logged).
     */
    private void refuse(DuplexChannel client, ConnectionLabels labels, InetSocketAddress peer, InetSocketAddress dst,
                        Instant start, String flag, String reason, String why) {
        telemetry.opened(labels);
        fail(client, labels, peer, dst, start, flag, reason, why);
    }

    private void fail(DuplexChannel client, ConnectionLabels labels, InetSocketAddress peer, InetSocketAddress dst,
                      Instant start, String flag, String reason, String why) {
        // Failures through a waypoint are the operator's business (a waypoint deleted or down):
        // logged where they are seen by default, not only at debug.
        if (reason.startsWith("waypoint_") || reason.endsWith("waypoint_endpoint")) {
            log.warn("outbound {} -> {} of pod {} failed ({}): {}", peer, dst, network.podUid(), flag, why);
        } else {
            log.debug("outbound {} -> {} of pod {} failed ({}): {}", peer, dst, network.podUid(), flag, why);
        }
        // A reset, not a FIN: the application must not take the failure for an empty answer.
        client.config().setOption(ChannelOption.SO_LINGER, 0);
        client.close();
        telemetry.closed(labels.withResponseFlags(flag), peer, dst, 0, 0, start,
                Duration.between(start, Instant.now()), why);
        failed.labels(flag, reason).inc();
    }
}
