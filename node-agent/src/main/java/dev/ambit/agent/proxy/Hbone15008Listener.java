package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.Checks;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.authz.ConnectionAttributes;
import dev.ambit.proxy.authz.Decision;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.HboneServer;
import dev.ambit.proxy.hbone.HboneTarget;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.identity.WorkloadIdentity;
import dev.ambit.proxy.net.ProxyListener;
import dev.ambit.proxy.telemetry.ConnectionLabels.Reporter;
import dev.ambit.proxy.telemetry.ConnectionLabels.SecurityPolicy;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.Traceparent;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameStreamEvent;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.collection.IntObjectMap;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HBONE inbound listener of one pod (port 15008, ztunnel's {@code Inbound}): mutual
 * TLS 1.3 with the pod's own certificate, HTTP/2 {@code CONNECT} tunnels, L4 authorization
 * of the peer's SPIFFE identity against the pod's policies, and a relay to the app.
 *
 * <p>Per connection: the pod's current certificate (looked up for every connection, so a
 * renewal applies to the next one), a TLS handshake requiring a client certificate,
 * {@link TlsContexts#checkNegotiated} and the peer's identity; then per tunnel:
 * <ol>
 *   <li>{@code :authority} must be one of the pod's addresses, else {@code 403};</li>
 *   <li>the destination workload must be in {@link dev.ambit.proxy.state.ProxyState} under
 *       this pod's uid, else {@code 503};</li>
 *   <li>the {@link dev.ambit.proxy.authz.Authorizer} decides on the peer identity, the source
 *       address ({@code Forwarded: for=} when present, else the TLS peer) and the
 *       destination port; a denial is {@code 403} naming the policy;</li>
 *   <li>the app is connected from inside the pod (the redirection exempts connections from
 *       the pod's own address, so this does not loop back to 15006) and bytes are relayed.</li>
 * </ol>
 * Anything refused is counted in {@code ambit_agent_inbound_refused_total{reason}} and
 * logged on {@code ambit.access}; accepted and denied tunnels also produce Istio's TCP
 * metrics ({@code reporter="destination"}, {@code connection_security_policy="mutual_tls"}).
 * One bad connection or stream never affects the others.
 *
 * <p>Shutting down: {@link #drain} (SIGTERM, or the pod leaving the mesh) stops accepting,
 * sends every established HTTP/2 connection a {@code GOAWAY} ({@code NO_ERROR}, the last
 * stream it accepted) so clients open no new tunnel on it, closes each once its last tunnel
 * ended (one still in its TLS handshake at once), and resets what is left at its deadline;
 * {@link #close} only stops accepting (the pod's unenrollment closes its network namespace,
 * which ends the rest).
 *
 * <pre>{@code
 * Hbone15008Listener hbone = Hbone15008Listener.builder(inbound, tlsContexts, certificates, podIdentity)
 *         .build().start();
 * ...
 * hbone.drain(Duration.ofSeconds(30)).join(); // SIGTERM, or the pod leaving the mesh
 * }</pre>
 */
public final class Hbone15008Listener extends ProxyListener {

    /** The HBONE port. */
    public static final int PORT = IstioPorts.HBONE;

    /** Default time a client has to finish the TLS handshake. */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    private static final Logger log = LoggerFactory.getLogger(Hbone15008Listener.class);
    private static final String LISTENER = "hbone";
    private static final AttributeKey<SpiffeId> PEER = AttributeKey.valueOf(Hbone15008Listener.class, "peer");

    private final InboundContext inbound;
    private final TlsContexts tls;
    private final Supplier<WorkloadCertificate> certificate;
    private final InetSocketAddress bindAddress;
    private final Duration handshakeTimeout;
    private final HboneServer hbone;

    private Hbone15008Listener(Builder b) {
        super(Hbone15008Listener::goAway);
        inbound = b.inbound;
        tls = b.tls;
        certificate = b.certificate;
        bindAddress = b.bindAddress;
        handshakeTimeout = b.handshakeTimeout;
        hbone = HboneServer.builder(this::decide)
                .maxHeaderListSize(b.maxHeaderListSize)
                .maxConcurrentStreams(b.maxConcurrentStreams)
                .build();
    }

    /**
     * Starts a listener for the pod of {@code inbound}, presenting what {@code certificate}
     * returns at the time of each connection ({@code null}: not issued yet, the connection
     * is refused).
     */
    public static Builder builder(InboundContext inbound, TlsContexts tls, Supplier<WorkloadCertificate> certificate) {
        return new Builder(inbound, tls, certificate);
    }

    /** As {@link #builder(InboundContext, TlsContexts, Supplier)}, with the certificate of {@code identity}. */
    public static Builder builder(InboundContext inbound, TlsContexts tls, CertificateManager certificates,
                                  SpiffeId identity) {
        requireNonNull(certificates, "certificates");
        requireNonNull(identity, "identity");
        return new Builder(inbound, tls, () -> certificates.current(identity).orElse(null));
    }

    /**
     * Binds the listener (a socket from {@link PodNetwork#newServerChannel()}, so inside the
     * pod) and returns it. Call from a platform thread, not an event loop: it waits for the bind.
     *
     * @throws IllegalStateException if it was started or drained before, or the bind fails (with the cause)
     */
    public Hbone15008Listener start() {
        bind(() -> inbound.bindListener(bootstrap(inbound.eventLoopGroup(), inbound.pod()), bindAddress, "HBONE"));
        return this;
    }

    /** At the drain's start, on the connection's loop: GOAWAY, then a close once its streams ended. */
    private static void goAway(Channel ch) {
        Http2FrameCodec codec = ch.pipeline().get(Http2FrameCodec.class);
        if (codec == null) {
            ch.close(); // still in the TLS handshake: no tunnel to wait for
            return;
        }
        // The codec's own timeout (30 s by default) would reset streams before the drain's
        // deadline, which is what ends them when they outlive it.
        codec.gracefulShutdownTimeoutMillis(-1);
        // Through the pipeline: the codec answers a close with GOAWAY and closes once no stream
        // is left; the TLS handler then sends its close_notify.
        ch.close();
    }

    // ---------------------------------------------------------------- connections

    @Override
    protected void initConnection(Channel ch) {
        WorkloadCertificate cert = certificate.get();
        if (cert == null) {
            refuse(ch, InboundRefusals.NO_CERTIFICATE, null, "the pod has no certificate yet");
            ch.close();
            return;
        }
        SslHandler ssl;
        try {
            ssl = tls.server(cert).newHandler(ch.alloc());
        } catch (SSLException e) {
            refuse(ch, InboundRefusals.NO_CERTIFICATE, null, "cannot use the pod's certificate: " + e.getMessage());
            ch.close();
            return;
        }
        ssl.setHandshakeTimeoutMillis(handshakeTimeout.toMillis());
        ch.pipeline().addLast("tls", ssl).addLast("hbone-handshake", new HandshakeHandler(ssl));
    }

    private void refuse(Channel ch, String reason, SpiffeId peer, String detail) {
        inbound.refusals().refuse(reason, LISTENER, (InetSocketAddress) ch.remoteAddress(),
                (InetSocketAddress) ch.localAddress(), peer == null ? null : peer.uri(), detail);
    }

    /**
     * Waits for the TLS handshake, checks what it negotiated and who the peer is, then
     * replaces itself with the HBONE server. Nothing is read as HTTP/2 before that.
     */
    private final class HandshakeHandler extends ChannelInboundHandlerAdapter {
        private final SslHandler ssl;

        HandshakeHandler(SslHandler ssl) {
            this.ssl = ssl;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (!(evt instanceof SslHandshakeCompletionEvent done)) {
                ctx.fireUserEventTriggered(evt);
                return;
            }
            Channel ch = ctx.channel();
            if (!done.isSuccess()) {
                refuse(ch, classify(done.cause()), null, String.valueOf(done.cause().getMessage()));
                ctx.close();
                return;
            }
            try {
                // BoringSSL ignores the cipher restriction and ALPN cannot fail a handshake.
                TlsContexts.checkNegotiated(ssl);
            } catch (SSLHandshakeException e) {
                refuse(ch, InboundRefusals.TLS_PARAMETERS, null, e.getMessage());
                ctx.close();
                return;
            }
            SpiffeId peer;
            try {
                peer = TlsContexts.peerIdentity(ch);
            } catch (SSLPeerUnverifiedException e) {
                refuse(ch, InboundRefusals.NO_PEER_IDENTITY, null, e.getMessage());
                ctx.close();
                return;
            }
            ch.attr(PEER).set(peer);
            ChannelPipeline p = ctx.pipeline();
            // The initializer adds the HTTP/2 codec and multiplexer right away (the channel is
            // registered); the watcher goes between them to see every stream's fate.
            p.replace(this, "hbone", hbone.newConnectionHandler());
            p.addBefore(p.context(Http2MultiplexHandler.class).name(), "hbone-refusals", new StreamWatcher());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Handshake errors arrive here too, after the failed-handshake event that counted them.
            log.debug("{} HBONE connection failed before HTTP/2", ctx.channel(), cause);
            ctx.close();
        }
    }

    private static String classify(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof NotSslRecordException) {
                return InboundRefusals.NOT_TLS;
            }
            String m = t.getMessage();
            if (m != null && (m.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || m.contains("Empty client certificate")
                    || m.contains("certificate_required"))) {
                return InboundRefusals.NO_CLIENT_CERTIFICATE;
            }
        }
        return InboundRefusals.TLS_HANDSHAKE;
    }

    /**
     * Sits between the HTTP/2 codec and the multiplexer of one connection and counts the
     * tunnels the HBONE server refused on its own: {@code 400} (not a valid CONNECT),
     * {@code 500}, and {@code 431}, which the codec answers without creating a stream
     * channel, so it is recognised as a peer stream that closed without its request headers
     * ever being delivered (an undecodable header block; every other HPACK error is a
     * connection error). The proxy's own refusals (403, 503) are counted where decided.
     */
    private final class StreamWatcher extends ChannelDuplexHandler {
        /** Streams opened by the peer and not answered yet → their :authority (null: no headers yet). */
        private final IntObjectMap<String> open = new IntObjectHashMap<>();
        private static final String NO_AUTHORITY = "";
        /** Client stream ids only grow (RFC 9113 §5.1.1): a stream is new once, on its first event. */
        private int lastClientStream;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame h && h.stream() != null && open.containsKey(h.stream().id())
                    && open.get(h.stream().id()) == null) {
                CharSequence authority = h.headers().authority();
                open.put(h.stream().id(), authority == null ? NO_AUTHORITY : authority.toString());
            }
            ctx.fireChannelRead(msg);
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            if (msg instanceof Http2HeadersFrame h && h.stream() != null && h.headers().status() != null) {
                String authority = open.remove(h.stream().id());
                String reason = switch (h.headers().status().toString()) {
                    case "400" -> InboundRefusals.BAD_REQUEST;
                    case "431" -> InboundRefusals.HEADERS_TOO_LARGE;
                    case "500" -> InboundRefusals.INTERNAL_ERROR;
                    default -> null;
                };
                if (reason != null) {
                    CharSequence detail = h.headers().get(HboneServer.ERROR_HEADER);
                    refuseStream(ctx.channel(), reason, authority, detail == null ? null : detail.toString());
                }
            }
            ctx.write(msg, promise);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2FrameStreamEvent e && e.type() == Http2FrameStreamEvent.Type.State) {
                int id = e.stream().id();
                if (e.stream().state() == Http2Stream.State.CLOSED) {
                    if (open.containsKey(id) && open.remove(id) == null) {
                        refuseStream(ctx.channel(), InboundRefusals.HEADERS_TOO_LARGE, null,
                                "request headers could not be decoded (above the header list limit)");
                    }
                } else if (id % 2 == 1 && id > lastClientStream) {
                    lastClientStream = id;
                    open.put(id, null); // a new client stream: its headers come next
                }
            }
            ctx.fireUserEventTriggered(evt);
        }

        private void refuseStream(Channel ch, String reason, String authority, String detail) {
            InetSocketAddress dst = authority == null || authority.isEmpty()
                    ? (InetSocketAddress) ch.localAddress() : parseAuthority(authority, ch);
            inbound.refusals().refuse(reason, LISTENER, (InetSocketAddress) ch.remoteAddress(), dst,
                    ch.attr(PEER).get() == null ? null : ch.attr(PEER).get().uri(), detail);
        }
    }

    private static InetSocketAddress parseAuthority(String authority, Channel ch) {
        int colon = authority.lastIndexOf(':');
        if (colon > 0) {
            String host = authority.substring(0, colon).replace("[", "").replace("]", "");
            InetAddress ip = NetUtil.createInetAddressFromIpAddressString(host);
            try {
                int port = Integer.parseInt(authority.substring(colon + 1));
                if (ip != null && port >= 0 && port <= 65535) {
                    return new InetSocketAddress(ip, port);
                }
            } catch (NumberFormatException ignored) {
                // not ip:port: fall back to the listener's address
            }
        }
        return (InetSocketAddress) ch.localAddress();
    }

    // ---------------------------------------------------------------- tunnels

    /** The {@link dev.ambit.proxy.hbone.HboneDecider}: runs on the connection's event loop, never blocks. */
    private CompletionStage<HboneTarget> decide(HboneRequest request, Channel stream) {
        Channel connection = stream.parent();
        SpiffeId peer = connection.attr(PEER).get();
        InetSocketAddress tlsPeer = (InetSocketAddress) connection.remoteAddress();
        InetSocketAddress destination = request.destination();
        InetSocketAddress source = sourceOf(request, tlsPeer);
        String peerUri = peer.uri();

        if (!inbound.isPodAddress(destination.getAddress())) {
            inbound.refusals().refuse(InboundRefusals.NOT_LOCAL, LISTENER, source, destination, peerUri,
                    "not an address of pod " + inbound.pod().podUid());
            return reject(403, "not a local workload: " + request.authority());
        }
        Workload target = inbound.state().workloadByAddress(destination.getAddress());
        if (target == null || !target.getUid().equals(inbound.pod().podUid())) {
            inbound.refusals().refuse(InboundRefusals.UNKNOWN_WORKLOAD, LISTENER, source, destination, peerUri,
                    target == null ? "no workload with this address" : "address belongs to " + target.getUid());
            return reject(503, "unknown workload " + destination.getAddress().getHostAddress());
        }
        ConnectionAttributes attributes;
        try {
            attributes = ConnectionAttributes.mtls(peerUri, source.getAddress(), destination.getAddress(),
                    destination.getPort());
        } catch (IllegalArgumentException e) {
            inbound.refusals().refuse(InboundRefusals.INVALID_IDENTITY, LISTENER, source, destination, peerUri,
                    e.getMessage());
            return reject(403, "peer identity not usable for authorization");
        }
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.DESTINATION)
                .source(sourceWorkload(peer, source.getAddress()))
                .peer(peer)
                .destination(target, null) // HBONE names the pod, not the service the client chose, as in ztunnel
                .security(SecurityPolicy.MUTUAL_TLS)
                .build();
        Decision decision = inbound.authorizer().authorize(attributes, target);
        Instant start = Instant.now();
        // tracing (issue 19): the CONNECT's trace id in the access log, as the sender logs it.
        String traceId = Traceparent.traceId(request.traceparent());
        if (!decision.allowed()) {
            // Counted here; the access-log line (with the policy) is the telemetry's.
            inbound.refusals().count(decision.reason().code());
            inbound.state().denials().record(decision, attributes, target, labels.value("source_workload"),
                    labels.value("source_workload_namespace"));
            inbound.telemetry().opened(labels);
            inbound.telemetry().closed(labels, source, destination, 0, 0, start, Duration.ZERO, decision.toString(),
                    traceId);
            inbound.spans().inbound(request.traceparent(), labels, source, destination, 0, 0, start, Duration.ZERO,
                    decision.toString());
            return reject(403, "RBAC: " + decision);
        }
        inbound.telemetry().opened(labels);
        return CompletableFuture.completedFuture(HboneTarget.accept(
                // The UpstreamConnector: if the app is unreachable the HBONE server answers 503 and
                // there is no relay, so connectApp ends the connection's telemetry itself.
                (r, loop) -> {
                    var connect = inbound.connectApp(loop, r.destination(), LISTENER, labels, source, peerUri, start);
                    if (request.traceparent() != null) { // tracing (issue 19): a refused app connection ends the span too
                        connect.addListener(f -> {
                            if (!f.isSuccess()) {
                                inbound.spans().inbound(request.traceparent(), labels.withResponseFlags("UF"), source,
                                        destination, 0, 0, start, Duration.between(start, Instant.now()), null);
                            }
                        });
                    }
                    return connect;
                },
                result -> {
                    inbound.telemetry().closed(labels, source, destination, result.streamToTcp(),
                            result.tcpToStream(), start, result.duration(), null, traceId);
                    inbound.spans().inbound(request.traceparent(), labels, source, destination, result.streamToTcp(),
                            result.tcpToStream(), start, result.duration(), null);
                }));
    }

    private static CompletionStage<HboneTarget> reject(int status, String reason) {
        return CompletableFuture.completedFuture(HboneTarget.reject(status, reason));
    }

    /**
     * The client's address: the first {@code Forwarded: for=} when it is an IP literal (the
     * sending agent names the pod behind the tunnel, port unknown), else the TLS peer.
     */
    private static InetSocketAddress sourceOf(HboneRequest request, InetSocketAddress tlsPeer) {
        String forwardedFor = request.forwardedFor();
        if (forwardedFor != null) {
            InetAddress ip = NetUtil.createInetAddressFromIpAddressString(forwardedFor);
            if (ip != null) {
                return new InetSocketAddress(ip, 0);
            }
        }
        return tlsPeer;
    }

    /**
     * The workload the client runs as: the one at its address, but only if its identity is
     * the one the peer proved (an address alone, or a Forwarded header, proves nothing).
     */
    private Workload sourceWorkload(SpiffeId peer, InetAddress address) {
        Workload w = inbound.state().workloadByAddress(address);
        return w != null && WorkloadIdentity.is(w, peer) ? w : null;
    }

    /** Configures a {@link Hbone15008Listener}. */
    public static final class Builder {
        private final InboundContext inbound;
        private final TlsContexts tls;
        private final Supplier<WorkloadCertificate> certificate;
        private InetSocketAddress bindAddress = new InetSocketAddress(NetUtil.createInetAddressFromIpAddressString("0.0.0.0"), PORT);
        private Duration handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT;
        private int maxHeaderListSize = HboneServer.DEFAULT_MAX_HEADER_LIST_SIZE;
        private int maxConcurrentStreams = HboneServer.DEFAULT_MAX_CONCURRENT_STREAMS;

        private Builder(InboundContext inbound, TlsContexts tls, Supplier<WorkloadCertificate> certificate) {
            this.inbound = requireNonNull(inbound, "inbound");
            this.tls = requireNonNull(tls, "tls");
            this.certificate = requireNonNull(certificate, "certificate");
        }

        /** Where to listen inside the pod; default {@code 0.0.0.0:15008} (the pod's namespace only). */
        public Builder bindAddress(InetSocketAddress bindAddress) {
            this.bindAddress = requireNonNull(bindAddress, "bindAddress");
            return this;
        }

        /** How long a client has to complete the TLS handshake. */
        public Builder handshakeTimeout(Duration handshakeTimeout) {
            Checks.positive(handshakeTimeout, "handshakeTimeout");
            this.handshakeTimeout = handshakeTimeout;
            return this;
        }

        /** See {@link HboneServer.Builder#maxHeaderListSize}; larger requests are answered 431. */
        public Builder maxHeaderListSize(int maxHeaderListSize) {
            Checks.positive(maxHeaderListSize, "maxHeaderListSize");
            this.maxHeaderListSize = maxHeaderListSize;
            return this;
        }

        /** See {@link HboneServer.Builder#maxConcurrentStreams}. */
        public Builder maxConcurrentStreams(int maxConcurrentStreams) {
            Checks.positive(maxConcurrentStreams, "maxConcurrentStreams");
            this.maxConcurrentStreams = maxConcurrentStreams;
            return this;
        }

        public Hbone15008Listener build() {
            return new Hbone15008Listener(this);
        }
    }
}
