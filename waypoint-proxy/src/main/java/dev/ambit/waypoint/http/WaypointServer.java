package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.Checks;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.HboneServer;
import dev.ambit.proxy.hbone.HboneTarget;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.identity.WorkloadIdentity;
import dev.ambit.proxy.net.ProxyListener;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.TcpTelemetry;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfig;
import dev.ambit.waypoint.upstream.Upstreams;
import dev.ambit.waypoint.upstream.UpstreamTunnel;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waypoint's HBONE listener (15008): mutual TLS 1.3 with the waypoint's current
 * certificate (looked up per connection, so a renewal applies to the next one), the peer's
 * SPIFFE identity required, then HTTP/2 {@code CONNECT} tunnels ({@link HboneServer}). Per
 * tunnel, its {@code :authority} (the original VIP:port) picks the filter chain of the
 * current {@link WaypointConfig}: none → {@code 503} (reason in {@code ambit-hbone-error});
 * a TCP chain → a tunnel to the chain's cluster ({@link Upstreams#open}, {@code 503} if it
 * fails) and bytes relayed both ways; an HTTP chain → the tunnel is terminated and HTTP/1.1
 * or h2c is spoken in it ({@link HttpConnections}) through the filter chain
 * (authorization slot, fault, CORS, router).
 *
 * <pre>{@code
 * WaypointServer server = WaypointServer.builder(SocketFactory.host("waypoint", transport), group, tls,
 *                 certificateSupplier, configStore::current, upstreams, proxyState, metrics)
 *         .build().start();
 * ...
 * server.drain(Duration.ofSeconds(30)).join();
 * }</pre>
 */
public final class WaypointServer extends ProxyListener {

    public static final int PORT = IstioPorts.HBONE;
    /**
     * No request body limit by default: bodies stream (issue 14), the first
     * {@link dev.ambit.waypoint.upstream.RequestBody#DEFAULT_BUFFER_LIMIT} bytes kept for retries.
     */
    public static final int DEFAULT_MAX_REQUEST_BYTES = 0;

    private static final Logger log = LoggerFactory.getLogger(WaypointServer.class);
    private static final AttributeKey<SpiffeId> PEER = AttributeKey.valueOf(WaypointServer.class, "peer");

    private final SocketFactory sockets;
    private final EventLoopGroup group;
    private final TlsContexts tls;
    private final Supplier<WorkloadCertificate> certificate;
    private final Supplier<WaypointConfig> config;
    private final Upstreams upstreams;
    private final ProxyState state;
    private final InetSocketAddress bindAddress;
    private final Duration handshakeTimeout;
    private final int maxRequestBytes;
    private final HboneServer hbone;
    private final RequestProcessor processor;
    private final TcpTelemetry tcpTelemetry;
    private final DownstreamRejections rejections;

    private WaypointServer(Builder b) {
        super(WaypointServer::goAway);
        sockets = b.sockets;
        group = b.group;
        tls = b.tls;
        certificate = b.certificate;
        config = b.config;
        upstreams = b.upstreams;
        state = b.state;
        bindAddress = b.bindAddress;
        handshakeTimeout = b.handshakeTimeout;
        maxRequestBytes = b.maxRequestBytes;
        hbone = HboneServer.builder(this::decide).build();
        processor = new RequestProcessor(filters(b), HttpTelemetry.of(b.metrics, state), this::isDraining, config,
                b.tracing);
        tcpTelemetry = TcpTelemetry.of(b.metrics);
        rejections = DownstreamRejections.of(b.metrics);
    }

    /**
     * The HTTP filters each chain's HCM may list (CONTRACT seam 5), by Envoy name; an HCM
     * listing none gets fault, CORS and router. The authorization slot comes first in all.
     */
    private static HttpFilters filters(Builder b) {
        return HttpEngine.filters(b.upstreams, b.authorizer, b.metrics);
    }

    /**
     * Starts configuring a server.
     *
     * @param sockets where the listening socket comes from ({@code SocketFactory.host(...)})
     * @param group the event loops of the listener and its connections
     * @param tls the TLS contexts (trust bundle)
     * @param certificate the waypoint's current certificate ({@code null}: none yet, connections are refused)
     * @param config the current configuration snapshot ({@code null}: none yet, tunnels are refused 503)
     * @param upstreams the cluster manager
     * @param state the Address/Workload state (telemetry's source and destination workloads)
     * @param metrics where Istio's metrics go
     */
    public static Builder builder(SocketFactory sockets, EventLoopGroup group, TlsContexts tls,
                                  Supplier<WorkloadCertificate> certificate, Supplier<WaypointConfig> config,
                                  Upstreams upstreams, ProxyState state, MetricsRegistry metrics) {
        return new Builder(sockets, group, tls, certificate, config, upstreams, state, metrics);
    }

    /**
     * Binds and returns the server; waits for the bind (call from a platform thread).
     *
     * @throws IllegalStateException if it was started or drained before, or the bind fails
     */
    public WaypointServer start() {
        ChannelFuture f = bind(bootstrap(group, sockets), bindAddress).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new IllegalStateException("waypoint HBONE listener: cannot bind " + bindAddress, f.cause());
        }
        log.info("waypoint HBONE listener on {}", localAddress());
        return this;
    }

    private static void goAway(Channel ch) {
        Http2FrameCodec codec = ch.pipeline().get(Http2FrameCodec.class);
        if (codec == null) {
            ch.close();
            return;
        }
        codec.gracefulShutdownTimeoutMillis(-1);
        ch.close(); // GOAWAY, then a close once the streams ended
    }

    @Override
    protected void initConnection(Channel ch) {
        WorkloadCertificate cert = certificate.get();
        if (cert == null) {
            log.debug("{} refused: the waypoint has no certificate yet", ch);
            ch.close();
            return;
        }
        SslHandler ssl;
        try {
            ssl = tls.server(cert).newHandler(ch.alloc());
        } catch (SSLException e) {
            log.warn("{} refused: cannot use the waypoint's certificate: {}", ch, e.getMessage());
            ch.close();
            return;
        }
        ssl.setHandshakeTimeoutMillis(handshakeTimeout.toMillis());
        ch.pipeline().addLast("tls", ssl).addLast("hbone-handshake", new Handshake(ssl));
    }

    /** Checks what the handshake negotiated and who the peer is, then installs the HBONE server. */
    private final class Handshake extends ChannelInboundHandlerAdapter {
        private final SslHandler ssl;

        Handshake(SslHandler ssl) {
            this.ssl = ssl;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (!(evt instanceof SslHandshakeCompletionEvent done)) {
                ctx.fireUserEventTriggered(evt);
                return;
            }
            if (!done.isSuccess()) {
                log.debug("{} TLS handshake failed: {}", ctx.channel(), String.valueOf(done.cause()));
                ctx.close();
                return;
            }
            try {
                TlsContexts.checkNegotiated(ssl);
                ctx.channel().attr(PEER).set(TlsContexts.peerIdentity(ctx.channel()));
            } catch (SSLException e) {
                log.debug("{} refused: {}", ctx.channel(), e.getMessage());
                ctx.close();
                return;
            }
            ctx.pipeline().replace(this, "hbone", hbone.newConnectionHandler());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("{} HBONE connection failed before HTTP/2", ctx.channel(), cause);
            ctx.close();
        }
    }

    /** The HBONE decider: on the connection's event loop, never blocks. */
    private CompletionStage<HboneTarget> decide(HboneRequest request, Channel stream) {
        Channel connection = stream.parent();
        SpiffeId peer = connection.attr(PEER).get();
        WaypointConfig current = config.get();
        if (peer == null || current == null) {
            return reject(503, current == null ? "waypoint has no configuration yet" : "no peer identity");
        }
        InetSocketAddress destination = request.destination();
        Optional<FilterChain> chain = current.filterChain(destination.getAddress(), destination.getPort());
        if (chain.isEmpty()) {
            return reject(503, "no filter chain for " + request.authority());
        }
        InetSocketAddress source = sourceOf(request, (InetSocketAddress) connection.remoteAddress());
        Workload w = state.workloadByAddress(source.getAddress());
        Workload sourceWorkload = w != null && WorkloadIdentity.is(w, peer) ? w : null;
        Downstream downstream = new Downstream(peer, source, sourceWorkload, destination, chain.get(), current, request);
        if (chain.get().kind() == FilterChain.Kind.TCP) {
            return tcp(downstream);
        }
        return CompletableFuture.completedFuture(HboneTarget.handOff(s -> HttpConnections.install(s,
                chain.get().codec(), downstream, processor, upstreams, maxRequestBytes, rejections)));
    }

    /** A TCP chain: the upstream tunnel first, then the 200 and a relay. */
    private CompletionStage<HboneTarget> tcp(Downstream d) {
        String cluster = d.chain().cluster();
        Instant start = Instant.now();
        CompletionStage<UpstreamTunnel> open;
        try {
            open = upstreams.open(cluster, d.destination(), Set.of());
        } catch (RuntimeException e) {
            open = CompletableFuture.failedFuture(e);
        }
        return open.handle((tunnel, failure) -> {
            if (failure != null) {
                var e = Router.upstreamFailure(failure);
                ConnectionLabels labels = tcpLabels(d, null, cluster).withResponseFlags(e.flag().code());
                var overrides = StatsOverrides.tcp(d.chain(), new ConnectionAttributes(labels, d.source(),
                        d.destination(), null, true, null)); // issue 19: Telemetry API overrides
                tcpTelemetry.opened(labels, overrides);
                tcpTelemetry.closed(labels, d.source(), d.destination(), 0, 0, start, Duration.ZERO, null, null,
                        overrides);
                return HboneTarget.reject(503, "upstream connect to " + cluster + " failed: " + e.getMessage());
            }
            ConnectionLabels labels = tcpLabels(d, tunnel.endpoint(), cluster);
            var overrides = StatsOverrides.tcp(d.chain(), new ConnectionAttributes(labels, d.source(),
                    d.destination(), tunnel.endpoint(), true, null)); // issue 19: Telemetry API overrides
            return HboneTarget.handOff(new HboneTarget.StreamHandoff() {
                @Override
                public void accepted(Http2StreamChannel stream) {
                    tcpTelemetry.opened(labels, overrides);
                    dev.ambit.proxy.hbone.StreamBytes.install(stream);
                    long t0 = System.nanoTime();
                    ByteRelay.start(stream, tunnel.channel(), (received, sent) -> tcpTelemetry.closed(labels,
                            d.source(), tunnel.endpoint(), received, sent, start,
                            Duration.ofNanos(System.nanoTime() - t0), null, null, overrides));
                }

                @Override
                public void abandoned(Throwable cause) {
                    tunnel.channel().close();
                }
            });
        });
    }

    private ConnectionLabels tcpLabels(Downstream d, InetSocketAddress endpoint, String cluster) {
        Workload destination = endpoint == null ? null : state.workloadByAddress(endpoint.getAddress());
        var service = state.serviceByVip(d.destination().getAddress(), d.destination().getPort());
        ConnectionLabels.Builder b = ConnectionLabels.builder(ConnectionLabels.Reporter.WAYPOINT)
                .source(d.sourceWorkload()).peer(d.peer()).destination(destination, service)
                .security(ConnectionLabels.SecurityPolicy.MUTUAL_TLS);
        String host = HttpTelemetry.hostOfCluster(cluster);
        if (service == null && host != null) {
            String[] parts = host.split("\\.");
            b.destinationService(host, parts[0], parts.length > 1 ? parts[1] : null);
        }
        return b.build();
    }

    private static CompletionStage<HboneTarget> reject(int status, String reason) {
        return CompletableFuture.completedFuture(HboneTarget.reject(status, reason));
    }

    /** {@code Forwarded: for=} when it is an IP literal (the sending agent names the client), else the TLS peer. */
    static InetSocketAddress sourceOf(HboneRequest request, InetSocketAddress tlsPeer) {
        String forwardedFor = request.forwardedFor();
        if (forwardedFor != null) {
            InetAddress ip = NetUtil.createInetAddressFromIpAddressString(forwardedFor);
            if (ip != null) {
                return new InetSocketAddress(ip, 0);
            }
        }
        return tlsPeer;
    }

    /** Configures a {@link WaypointServer}. */
    public static final class Builder {
        private final SocketFactory sockets;
        private final EventLoopGroup group;
        private final TlsContexts tls;
        private final Supplier<WorkloadCertificate> certificate;
        private final Supplier<WaypointConfig> config;
        private final Upstreams upstreams;
        private final ProxyState state;
        private final MetricsRegistry metrics;
        private InetSocketAddress bindAddress = new InetSocketAddress(
                NetUtil.createInetAddressFromIpAddressString("0.0.0.0"), PORT);
        private Duration handshakeTimeout = Duration.ofSeconds(10);
        private int maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;
        private RequestAuthorizer authorizer = RequestAuthorizer.ALLOW_ALL;
        private HttpTracing tracing = HttpTracing.NONE;

        private Builder(SocketFactory sockets, EventLoopGroup group, TlsContexts tls,
                        Supplier<WorkloadCertificate> certificate, Supplier<WaypointConfig> config, Upstreams upstreams,
                        ProxyState state, MetricsRegistry metrics) {
            this.sockets = requireNonNull(sockets, "sockets");
            this.group = requireNonNull(group, "group");
            this.tls = requireNonNull(tls, "tls");
            this.certificate = requireNonNull(certificate, "certificate");
            this.config = requireNonNull(config, "config");
            this.upstreams = requireNonNull(upstreams, "upstreams");
            this.state = requireNonNull(state, "state");
            this.metrics = requireNonNull(metrics, "metrics");
        }

        /** Where to listen; default {@code 0.0.0.0:15008}. */
        public Builder bindAddress(InetSocketAddress bindAddress) {
            this.bindAddress = requireNonNull(bindAddress, "bindAddress");
            return this;
        }

        public Builder handshakeTimeout(Duration handshakeTimeout) {
            Checks.positive(handshakeTimeout, "handshakeTimeout");
            this.handshakeTimeout = handshakeTimeout;
            return this;
        }

        /**
         * A request body limit: requests are then buffered whole and larger ones answered 413
         * (Envoy's buffer filter). Default none: bodies stream.
         */
        public Builder maxRequestBytes(int maxRequestBytes) {
            Checks.positive(maxRequestBytes, "maxRequestBytes");
            this.maxRequestBytes = maxRequestBytes;
            return this;
        }

        /** The request authorizer (issue 15's L7 policies); default allows everything. */
        public Builder authorizer(RequestAuthorizer authorizer) {
            this.authorizer = requireNonNull(authorizer, "authorizer");
            return this;
        }

        /** Spans where a chain's HCM has {@code tracing} (issue 19); default none. */
        public Builder tracing(HttpTracing tracing) {
            this.tracing = requireNonNull(tracing, "tracing");
            return this;
        }

        public WaypointServer build() {
            return new WaypointServer(this);
        }
    }
}
