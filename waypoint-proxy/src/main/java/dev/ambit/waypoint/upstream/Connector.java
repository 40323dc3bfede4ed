package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.StreamBytes;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.identity.WorkloadIdentity;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.telemetry.Traceparent;
import dev.ambit.waypoint.ResponseFlag;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Opens the byte channel to one endpoint that an HTTP connection or a tunnel runs on: a TCP
 * socket to {@code podIP:port} ({@link SocketFactory}), or for an HBONE endpoint a
 * {@code CONNECT} stream from the {@link HbonePool} to {@code podIP:15008} with
 * {@code :authority podIP:port}, presenting the waypoint's own certificate and requiring the
 * destination workload's identity, made to carry bytes by {@link StreamBytes}. Either way the
 * channel is connected, {@code AUTO_READ} off, and failures are {@link ResponseFlag#UF}
 * (connect, TLS, CONNECT refused, the cluster's connect timeout).
 */
final class Connector {

    private final SocketFactory network;
    private final HbonePool hbone;
    private final int hbonePort;
    private final Supplier<WorkloadCertificate> certificate;
    private final Function<InetAddress, Workload> workloads;

    Connector(SocketFactory network, HbonePool hbone, int hbonePort, Supplier<WorkloadCertificate> certificate,
              Function<InetAddress, Workload> workloads) {
        this.network = requireNonNull(network, "network");
        this.hbone = hbone;
        this.hbonePort = hbonePort;
        this.certificate = requireNonNull(certificate, "certificate");
        this.workloads = requireNonNull(workloads, "workloads");
    }

    /** Whether {@code ip} is the address of a workload reached over HBONE (Address resources' tunnel protocol). */
    boolean meshed(InetAddress ip) {
        Workload w = hbone == null ? null : workloads.apply(ip);
        return w != null && w.getTunnelProtocol() == TunnelProtocol.HBONE;
    }

    /**
     * Connects to {@code endpoint} within {@code connectTimeout}; completes on the channel's
     * event loop ({@code loop} for sockets and HBONE streams alike). {@code halfClosure}
     * keeps a socket open after the peer's FIN (tunnels); HTTP connections want the close.
     */
    CompletableFuture<Channel> connect(UpstreamEndpoint endpoint, Duration connectTimeout, EventLoop loop,
                                       boolean halfClosure) {
        return connect(endpoint, connectTimeout, loop, halfClosure, null);
    }

    /**
     * {@link #connect(UpstreamEndpoint, Duration, EventLoop, boolean)} with the cluster's TCP
     * keepalive ({@code upstream_connection_options.tcp_keepalive}; null: none) on a plaintext
     * socket. An HBONE endpoint's stream rides the HBONE pool's shared connection, whose
     * socket options are the pool's.
     */
    CompletableFuture<Channel> connect(UpstreamEndpoint endpoint, Duration connectTimeout, EventLoop loop,
                                       boolean halfClosure, Resilience.Keepalive keepalive) {
        return connect(endpoint, connectTimeout, loop, halfClosure, keepalive, null);
    }

    /**
     * As above; an HBONE tunnel's CONNECT carries {@code traceparent} (the W3C context of the
     * request it is opened for, null: none), which the destination's agent logs as the tunnel's
     * {@code trace_id}: where a trace crosses the node agent, its L4 line joins the trace (issue 19).
     */
    CompletableFuture<Channel> connect(UpstreamEndpoint endpoint, Duration connectTimeout, EventLoop loop,
                                       boolean halfClosure, Resilience.Keepalive keepalive, String traceparent) {
        return endpoint.hbone() ? hbone(endpoint.address(), endpoint.tunnelAuthority(), connectTimeout, loop,
                traceparent) : plaintext(endpoint.address(), connectTimeout, loop, halfClosure, keepalive);
    }

    /** SO_KEEPALIVE and the keepalive's idle time, interval and probes where the transport has them. */
    static void keepalive(SocketChannel ch, Resilience.Keepalive keepalive) {
        if (keepalive == null) {
            return;
        }
        ch.config().setOption(ChannelOption.SO_KEEPALIVE, true);
        if (keepalive.timeSeconds() != null) {
            setEither(ch, EpollChannelOption.TCP_KEEPIDLE, IoUringChannelOption.TCP_KEEPIDLE, keepalive.timeSeconds());
        }
        if (keepalive.intervalSeconds() != null) {
            setEither(ch, EpollChannelOption.TCP_KEEPINTVL, IoUringChannelOption.TCP_KEEPINTVL,
                    keepalive.intervalSeconds());
        }
        if (keepalive.probes() != null) {
            setEither(ch, EpollChannelOption.TCP_KEEPCNT, IoUringChannelOption.TCP_KEEPCNT, keepalive.probes());
        }
    }

    private static void setEither(SocketChannel ch, ChannelOption<Integer> epoll, ChannelOption<Integer> uring,
                                  int value) {
        // Each transport's config takes only its own option (setOption answers false to others).
        if (!ch.config().setOption(epoll, value)) {
            ch.config().setOption(uring, value);
        }
    }

    private CompletableFuture<Channel> plaintext(InetSocketAddress address, Duration connectTimeout, EventLoop loop,
                                                 boolean halfClosure, Resilience.Keepalive keepalive) {
        CompletableFuture<Channel> result = new CompletableFuture<>();
        SocketChannel ch;
        try {
            ch = network.newChannel();
        } catch (RuntimeException e) {
            result.completeExceptionally(Failures.connect(address, e));
            return result;
        }
        ch.config().setAutoRead(false);
        ch.config().setOption(ChannelOption.TCP_NODELAY, true);
        ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure);
        ch.config().setOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, connectTimeout.toMillis()));
        keepalive(ch, keepalive);
        loop.register(ch).addListener((ChannelFuture r) -> {
            if (!r.isSuccess()) {
                ch.unsafe().closeForcibly();
                result.completeExceptionally(Failures.connect(address, r.cause()));
                return;
            }
            ch.connect(address).addListener((ChannelFuture c) -> {
                if (c.isSuccess()) {
                    result.complete(ch);
                } else {
                    ch.close();
                    result.completeExceptionally(c.cause() instanceof ConnectTimeoutException
                            ? Failures.connectTimeout(address, connectTimeout) : Failures.connect(address, c.cause()));
                }
            });
        });
        return result;
    }

    /**
     * A CONNECT stream: to {@code address}'s pod on the HBONE port with authority {@code address};
     * or, with an {@code authority} (a waypoint in front of a Service), to {@code address} itself
     * (the waypoint's HBONE socket) with that authority, requiring the waypoint's identity.
     */
    private CompletableFuture<Channel> hbone(InetSocketAddress address, InetSocketAddress authority,
                                             Duration connectTimeout, EventLoop loop, String traceparent) {
        CompletableFuture<Channel> result = new CompletableFuture<>();
        if (hbone == null) {
            result.completeExceptionally(new UpstreamException(ResponseFlag.UF, address, "endpoint "
                    + Failures.name(address) + " needs HBONE and the cluster manager has no HBONE pool", false, null));
            return result;
        }
        WorkloadCertificate cert = certificate.get();
        if (cert == null) {
            result.completeExceptionally(new UpstreamException(ResponseFlag.UF, address, "no HBONE tunnel to "
                    + Failures.name(address) + ": the waypoint has no certificate yet", false, null));
            return result;
        }
        Workload workload = workloads.apply(address.getAddress());
        if (workload == null) {
            result.completeExceptionally(new UpstreamException(ResponseFlag.UF, address, "no HBONE tunnel to "
                    + Failures.name(address) + ": no workload known at that address, so no identity to verify",
                    false, null));
            return result;
        }
        // The destination's agent answers with the workload's certificate: its identity is what to require.
        SpiffeId destination = WorkloadIdentity.of(workload);
        InetSocketAddress hboneAddress = authority != null ? address
                : new InetSocketAddress(address.getAddress(), hbonePort);
        HboneRequest.Builder connect = HboneRequest.builder(authority != null ? authority : address);
        if (traceparent != null && Traceparent.traceId(traceparent) != null) { // a malformed one is not passed on
            connect.traceparent(traceparent);
        }
        HboneRequest request = connect.build();
        Future<Http2StreamChannel> f;
        try {
            f = hbone.connect(network, cert, destination, workload.getUid(), hboneAddress, request, loop);
        } catch (RuntimeException e) {
            result.completeExceptionally(Failures.connect(address, e));
            return result;
        }
        // The pool bounds the TCP connect; the handshake and the CONNECT's answer are bounded here.
        ScheduledFuture<?> timer = loop.schedule(() -> {
            if (f.cancel(false)) {
                result.completeExceptionally(Failures.connectTimeout(address, connectTimeout));
            }
        }, connectTimeout.toNanos(), TimeUnit.NANOSECONDS);
        f.addListener((Future<Http2StreamChannel> r) -> {
            timer.cancel(false);
            if (r.isSuccess()) {
                Http2StreamChannel stream = r.getNow();
                StreamBytes.install(stream);
                if (!result.complete(stream)) {
                    abort(stream);
                }
            } else if (!r.isCancelled()) {
                result.completeExceptionally(Failures.connect(address, r.cause()));
            }
        });
        return result;
    }

    /**
     * Ends {@code channel} at once, not gracefully: an HBONE stream is reset (CANCEL) rather
     * than lingering for the peer's END_STREAM; a socket is closed.
     */
    static void abort(Channel channel) {
        if (channel.pipeline().get(StreamBytes.class) != null) {
            channel.eventLoop().execute(() -> StreamBytes.reset(channel, Http2Error.CANCEL));
        } else {
            channel.close();
        }
    }
}
