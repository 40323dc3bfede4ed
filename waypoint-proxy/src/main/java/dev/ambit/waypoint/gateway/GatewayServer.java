package dev.ambit.waypoint.gateway;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.ProxyListener;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.TcpTelemetry;
import dev.ambit.waypoint.config.ConfigSnapshot;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.GatewayListener;
import dev.ambit.waypoint.http.ByteRelay;
import dev.ambit.waypoint.http.ConnectionAttributes;
import dev.ambit.waypoint.http.Downstream;
import dev.ambit.waypoint.http.HttpEngine;
import dev.ambit.waypoint.http.Ingress;
import dev.ambit.waypoint.http.StatsOverrides;
import dev.ambit.waypoint.upstream.UpstreamException;
import dev.ambit.waypoint.upstream.UpstreamTunnel;
import dev.ambit.waypoint.upstream.Upstreams;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ingress gateway's data path (waypoint-proxy {@code --mode gateway}): one listening socket
 * per LDS Listener's port, bound on the gateway's listen address, bound and unbound as LDS
 * changes ({@link #reconcile}, run on every accepted config change; a removed listener drains
 * its connections). Per accepted connection, the Listener current at that moment decides:
 * if a chain matches on server names its ClientHello's SNI is peeked at
 * ({@link ServerNameInspector}) and the chain chosen by it ({@link GatewayListener#select});
 * then a TLS chain terminates TLS with its Secret's certificate ({@link GatewayTls}: no Secret
 * yet → the handshake fails, other chains serve) and hands the decrypted connection to the
 * HTTP engine (h2 or HTTP/1.1 by ALPN) or relays it to its cluster; a plain HTTP chain goes
 * to the engine as it is; a TCP chain (TLS passthrough, TCP servers) relays the raw bytes,
 * ClientHello included, to an endpoint of its cluster ({@link Upstreams#open}).
 */
public final class GatewayServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(GatewayServer.class);
    /** How long a connection may take to send its ClientHello, and then to finish the TLS handshake. */
    static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    private final SocketFactory sockets;
    private final EventLoopGroup group;
    private final Supplier<ConfigSnapshot> config;
    private final Upstreams upstreams;
    private final HttpEngine engine;
    private final GatewayTls tls;
    private final Workload self;
    private final InetAddress bindAddress;
    private final Duration drainTimeout;
    private final ProxyState state;
    private final TcpTelemetry tcpTelemetry;
    /** Port → its listener; changed only under {@code this}. */
    private final Map<Integer, PortListener> bound = new TreeMap<>();
    private boolean closed;

    private GatewayServer(Builder b) {
        sockets = b.sockets;
        group = b.group;
        config = b.config;
        upstreams = b.upstreams;
        engine = b.engine;
        tls = new GatewayTls(b.provider, b.meshCertificate, b.meshRoots);
        self = b.self;
        bindAddress = b.bindAddress;
        drainTimeout = b.drainTimeout;
        state = b.state;
        tcpTelemetry = TcpTelemetry.of(b.metrics);
    }

    /**
     * Starts configuring a gateway data path.
     *
     * @param config the current snapshot (of a gateway-mode store)
     * @param self the gateway's own workload (telemetry's source)
     */
    public static Builder builder(SocketFactory sockets, EventLoopGroup group, Supplier<ConfigSnapshot> config,
                                  Upstreams upstreams, HttpEngine engine, Workload self, ProxyState state,
                                  MetricsRegistry metrics) {
        return new Builder(sockets, group, config, upstreams, engine, self, state, metrics);
    }

    /**
     * Binds the ports of the current snapshot's listeners and unbinds (drains) those no longer
     * in it; a port that cannot be bound is logged and tried again at the next change. Call from
     * a platform thread (it waits for binds): the config store's change listener.
     */
    public synchronized void reconcile() {
        if (closed) {
            return;
        }
        ConfigSnapshot c = config.get();
        tls.retain(c);
        Map<Integer, GatewayListener> wanted = c.gatewayListeners();
        for (Integer port : List.copyOf(bound.keySet())) {
            if (!wanted.containsKey(port)) {
                PortListener removed = bound.remove(port);
                log.info("gateway: listener on port {} removed by LDS: draining its connections for up to {}",
                        port, drainTimeout);
                removed.drain(drainTimeout);
            }
        }
        for (GatewayListener l : wanted.values()) {
            prepareTls(l, c);
            if (bound.containsKey(l.port())) {
                continue;
            }
            PortListener p = new PortListener(l.port());
            try {
                p.start();
                bound.put(l.port(), p);
                log.info("gateway: listener {} on {}", l.name(), p.localAddress());
            } catch (RuntimeException e) {
                log.warn("gateway: listener {}: cannot bind {}:{}: {} (retried at the next config change)", l.name(),
                        bindAddress.getHostAddress(), l.port(), e.getCause() != null ? e.getCause().getMessage()
                                : e.getMessage());
            }
        }
    }

    /**
     * Builds the TLS contexts of {@code l}'s chains now, off the event loops (the first
     * handshake after a rotation would otherwise build it); a Secret not there yet is logged.
     */
    private void prepareTls(GatewayListener l, ConfigSnapshot c) {
        for (GatewayListener.Chain chain : l.chains()) {
            if (chain.tls() == null) {
                continue;
            }
            try {
                tls.context(c, chain.tls());
            } catch (GatewayTls.MissingSecret e) {
                log.debug("gateway: listener {} chain {}: {}: its handshakes fail until it arrives", l.name(),
                        chain.chain().name(), e.getMessage());
            } catch (Exception e) {
                log.warn("gateway: listener {} chain {}: cannot use its certificate: {}", l.name(),
                        chain.chain().name(), e.getMessage());
            }
        }
    }

    /** The bound ports and their addresses (tests, admin). */
    public synchronized Map<Integer, InetSocketAddress> boundAddresses() {
        Map<Integer, InetSocketAddress> m = new TreeMap<>();
        bound.forEach((port, l) -> m.put(port, l.localAddress()));
        return m;
    }

    /** Drains every listener (see {@link ProxyListener#drain}); completes with the connections reset at the deadline. */
    public CompletableFuture<Integer> drain(Duration deadline) {
        List<CompletableFuture<Integer>> all = new ArrayList<>();
        synchronized (this) {
            closed = true;
            bound.values().forEach(l -> all.add(l.drain(deadline)));
        }
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
                .thenApply(v -> all.stream().mapToInt(CompletableFuture::join).sum());
    }

    @Override
    public synchronized void close() {
        closed = true;
        bound.values().forEach(ProxyListener::close);
        bound.clear();
    }

    // ---------------------------------------------------------------- per connection

    /** One bound port. */
    private final class PortListener extends ProxyListener {
        private final int port;
        private final HttpEngine.Listener http;

        PortListener(int port) {
            super(GatewayServer::goAway);
            this.port = port;
            this.http = engine.listener(this::isDraining);
        }

        void start() {
            ChannelFuture f = bind(bootstrap(group, sockets), new InetSocketAddress(bindAddress, port))
                    .awaitUninterruptibly();
            if (!f.isSuccess()) {
                throw new IllegalStateException("gateway listener: cannot bind port " + port, f.cause());
            }
        }

        @Override
        protected void initConnection(Channel ch) {
            ConfigSnapshot c = config.get();
            GatewayListener listener = c.gatewayListeners().get(port);
            if (listener == null) {
                ch.close(); // removed by LDS since the accept
                return;
            }
            if (listener.matchesOnServerName()) {
                ch.pipeline().addLast(ServerNameInspector.NAME, new ServerNameInspector(
                        HANDSHAKE_TIMEOUT.toMillis(), (ctx, sni) -> chosen(ctx.channel(), listener, sni, c)));
            } else {
                chosen(ch, listener, null, c);
            }
        }

        /** The connection's chain by its server name (null: none sent, or not TLS). */
        private void chosen(Channel ch, GatewayListener listener, String sni, ConfigSnapshot c) {
            var chain = listener.select(sni);
            if (chain.isEmpty()) {
                log.debug("{} refused: no filter chain of {} for server name {}", ch, listener.name(), sni);
                ch.close();
                return;
            }
            GatewayListener.Chain ch0 = chain.get();
            if (ch0.tls() != null) {
                terminate(ch, ch0, sni, c);
            } else {
                serve(ch, ch0, new Ingress(false, sni, self), ch0.chain().codec(), c);
            }
        }

        private void terminate(Channel ch, GatewayListener.Chain chain, String sni, ConfigSnapshot c) {
            SslContext context;
            try {
                context = tls.context(c, chain.tls());
            } catch (GatewayTls.MissingSecret e) {
                // Envoy keeps such a listener warming: this chain refuses handshakes, the others serve.
                log.debug("{} refused: filter chain {}: {}", ch, chain.chain().name(), e.getMessage());
                ch.close();
                return;
            } catch (Exception e) {
                log.warn("{} refused: filter chain {}: cannot use its certificate: {}", ch, chain.chain().name(),
                        e.getMessage());
                ch.close();
                return;
            }
            SslHandler ssl = context.newHandler(ch.alloc());
            ssl.setHandshakeTimeoutMillis(HANDSHAKE_TIMEOUT.toMillis());
            ch.pipeline().addLast("tls", ssl).addLast("tls-handshake", new ChannelInboundHandlerAdapter() {
                @Override
                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                    if (!(evt instanceof SslHandshakeCompletionEvent done)) {
                        ctx.fireUserEventTriggered(evt);
                        return;
                    }
                    if (!done.isSuccess()) {
                        log.debug("{} TLS handshake failed (chain {}): {}", ctx.channel(), chain.chain().name(),
                                String.valueOf(done.cause()));
                        ctx.close();
                        return;
                    }
                    ctx.pipeline().remove(this);
                    String alpn = ssl.applicationProtocol();
                    FilterChain.Codec codec = ApplicationProtocolNames.HTTP_2.equals(alpn) ? FilterChain.Codec.HTTP2
                            : ApplicationProtocolNames.HTTP_1_1.equals(alpn) ? FilterChain.Codec.HTTP1
                            : chain.chain().codec();
                    serve(ctx.channel(), chain, new Ingress(true, sni, self), codec, c);
                }

                @Override
                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    log.debug("{} TLS failed before the handshake completed: {}", ctx.channel(), cause.toString());
                    ctx.close();
                }
            });
        }

        private void serve(Channel ch, GatewayListener.Chain chain, Ingress ingress, FilterChain.Codec codec,
                           ConfigSnapshot c) {
            if (chain.chain().kind() == FilterChain.Kind.TCP) {
                relay(ch, chain.chain(), ingress);
                return;
            }
            http.serve(ch, codec, Downstream.ingress((InetSocketAddress) ch.remoteAddress(),
                    (InetSocketAddress) ch.localAddress(), chain.chain(), c, ingress));
        }

        /** A TCP chain: bytes (as received, or decrypted) relayed to an endpoint of its cluster. */
        private void relay(Channel ch, FilterChain chain, Ingress ingress) {
            ch.config().setAutoRead(false);
            ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            HeldInput held = new HeldInput();
            ch.pipeline().addLast(HeldInput.NAME, held);
            InetSocketAddress local = (InetSocketAddress) ch.localAddress();
            InetSocketAddress client = (InetSocketAddress) ch.remoteAddress();
            Instant start = Instant.now();
            CompletionStage<UpstreamTunnel> open;
            try {
                open = upstreams.open(chain.cluster(), local, Set.of());
            } catch (RuntimeException e) {
                open = CompletableFuture.failedFuture(e);
            }
            open.whenCompleteAsync((tunnel, failure) -> {
                if (failure != null) {
                    Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause()
                            != null ? failure.getCause() : failure;
                    String flag = cause instanceof UpstreamException u ? u.flag().code() : "UF";
                    ConnectionLabels labels = tcpLabels(null, chain.cluster()).withResponseFlags(flag);
                    var overrides = StatsOverrides.tcp(chain, new ConnectionAttributes(labels, client, local, null,
                            false, ingress.serverName())); // issue 19: Telemetry API overrides
                    tcpTelemetry.opened(labels, overrides);
                    tcpTelemetry.closed(labels, client, local, 0, 0, start, Duration.ZERO, null, null, overrides);
                    log.debug("{} chain {}: upstream {} failed: {}", ch, chain.name(), chain.cluster(),
                            cause.getMessage());
                    ch.close();
                    return;
                }
                if (!ch.isActive()) {
                    tunnel.channel().close();
                    return;
                }
                ConnectionLabels labels = tcpLabels(tunnel.endpoint(), chain.cluster());
                var overrides = StatsOverrides.tcp(chain, new ConnectionAttributes(labels, client, local,
                        tunnel.endpoint(), false, ingress.serverName())); // issue 19: Telemetry API overrides
                tcpTelemetry.opened(labels, overrides);
                boolean eof = held.handOver(tunnel.channel());
                long t0 = System.nanoTime();
                ByteRelay.start(ch, tunnel.channel(), (received, sent) -> tcpTelemetry.closed(labels, client,
                        tunnel.endpoint(), received, sent, start, Duration.ofNanos(System.nanoTime() - t0), null,
                        null, overrides));
                ch.pipeline().remove(held);
                if (eof) {
                    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                }
            }, ch.eventLoop());
        }

        private ConnectionLabels tcpLabels(InetSocketAddress endpoint, String cluster) {
            Workload destination = endpoint == null ? null : state.workloadByAddress(endpoint.getAddress());
            ConnectionLabels.Builder b = ConnectionLabels.builder(ConnectionLabels.Reporter.SOURCE)
                    .source(self).destination(destination, null)
                    .security(destination != null && destination.getTunnelProtocol()
                            == dev.ambit.api.workload.TunnelProtocol.HBONE
                            ? ConnectionLabels.SecurityPolicy.MUTUAL_TLS : ConnectionLabels.SecurityPolicy.UNKNOWN);
            String[] parts = cluster.split("\\|", -1);
            if (parts.length == 4 && !parts[3].isEmpty()) {
                String[] host = parts[3].split("\\.");
                b.destinationService(parts[3], host[0], host.length > 1 ? host[1] : null);
            }
            return b.build();
        }
    }

    /** A drain's step for one connection: HTTP/2 gets GOAWAY, then closes once its streams end. */
    private static void goAway(Channel ch) {
        Http2FrameCodec codec = ch.pipeline().get(Http2FrameCodec.class);
        if (codec != null) {
            codec.gracefulShutdownTimeoutMillis(-1);
            ch.close();
        }
        // HTTP/1.1: its listener's drain flag makes the next response close the connection; relays end by themselves.
    }

    /** Configures a {@link GatewayServer}. */
    public static final class Builder {
        private final SocketFactory sockets;
        private final EventLoopGroup group;
        private final Supplier<ConfigSnapshot> config;
        private final Upstreams upstreams;
        private final HttpEngine engine;
        private final Workload self;
        private final ProxyState state;
        private final MetricsRegistry metrics;
        private SslProvider provider = SslProvider.JDK;
        private Supplier<dev.ambit.proxy.identity.WorkloadCertificate> meshCertificate = () -> null;
        private dev.ambit.proxy.identity.TrustBundle meshRoots;
        private InetAddress bindAddress = InetAddress.getLoopbackAddress();
        private Duration drainTimeout = Duration.ofSeconds(5);

        private Builder(SocketFactory sockets, EventLoopGroup group, Supplier<ConfigSnapshot> config,
                        Upstreams upstreams, HttpEngine engine, Workload self, ProxyState state,
                        MetricsRegistry metrics) {
            this.sockets = requireNonNull(sockets, "sockets");
            this.group = requireNonNull(group, "group");
            this.config = requireNonNull(config, "config");
            this.upstreams = requireNonNull(upstreams, "upstreams");
            this.engine = requireNonNull(engine, "engine");
            this.self = requireNonNull(self, "self");
            this.state = requireNonNull(state, "state");
            this.metrics = requireNonNull(metrics, "metrics");
        }

        /** The TLS provider (proxy-core's {@code TlsContexts.provider()}: BoringSSL or the JDK); JDK by default. */
        public Builder provider(SslProvider provider) {
            this.provider = requireNonNull(provider, "provider");
            return this;
        }

        /**
         * The gateway's own mesh identity for Istio's ISTIO_MUTUAL servers: SDS {@code default} is
         * {@code certificate} (null while not issued: those handshakes fail), SDS {@code ROOTCA} the
         * roots of {@code roots}. Without it such chains refuse handshakes.
         */
        public Builder meshIdentity(Supplier<dev.ambit.proxy.identity.WorkloadCertificate> certificate,
                                    dev.ambit.proxy.identity.TrustBundle roots) {
            this.meshCertificate = requireNonNull(certificate, "certificate");
            this.meshRoots = requireNonNull(roots, "roots");
            return this;
        }

        /** Where every listener binds (a Listener's {@code 0.0.0.0}); loopback by default. */
        public Builder bindAddress(InetAddress bindAddress) {
            this.bindAddress = requireNonNull(bindAddress, "bindAddress");
            return this;
        }

        /** How long a listener removed by LDS lets its connections finish; 5 s by default. */
        public Builder drainTimeout(Duration drainTimeout) {
            this.drainTimeout = requireNonNull(drainTimeout, "drainTimeout");
            return this;
        }

        /** A server with nothing bound yet: call {@link GatewayServer#reconcile}. */
        public GatewayServer build() {
            return new GatewayServer(this);
        }
    }
}
