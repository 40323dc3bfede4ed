package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.authz.Authorizer;
import dev.ambit.proxy.net.EarlyInput;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.TcpTelemetry;
import dev.ambit.proxy.telemetry.trace.ConnectionSpans;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the inbound listeners of one pod (15008 HBONE, 15006 plaintext) share: the pod and
 * its addresses, the mesh state and its authorizer, the event loops, and telemetry.
 *
 * <p>The pod's addresses are fixed at enrollment, as the redirection's are: a pod that gets
 * new addresses is enrolled again with new listeners. Immutable and thread-safe.
 *
 * <pre>{@code
 * InboundContext inbound = InboundContext.builder(PodNetwork.namespace(uid, netns, transport), state)
 *         .podAddresses(List.of(podIp)).eventLoopGroup(loops).metrics(metrics).build(); // loops of transport
 * }</pre>
 */
public final class InboundContext {

    private static final Logger log = LoggerFactory.getLogger(InboundContext.class);

    /** Default time to connect to the app before the tunnel is refused. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);

    private final PodNetwork pod;
    private final ProxyState state;
    private final Authorizer authorizer;
    private final Set<InetAddress> podAddresses;
    private final EventLoopGroup group;
    private final MetricsRegistry metrics;
    private final TcpTelemetry telemetry;
    private final InboundRefusals refusals;
    private final Duration connectTimeout;
    private final ConnectionSpans spans;

    private InboundContext(Builder b) {
        pod = b.pod;
        state = b.state;
        authorizer = Authorizer.of(state);
        podAddresses = b.podAddresses;
        group = b.group;
        metrics = b.metrics;
        telemetry = TcpTelemetry.of(metrics);
        refusals = new InboundRefusals(metrics);
        connectTimeout = b.connectTimeout;
        spans = b.spans;
    }

    /** Starts a context for {@code pod}, whose workloads and policies are in {@code state}. */
    public static Builder builder(PodNetwork pod, ProxyState state) {
        return new Builder(pod, state);
    }

    public PodNetwork pod() {
        return pod;
    }

    public ProxyState state() {
        return state;
    }

    public Set<InetAddress> podAddresses() {
        return podAddresses;
    }

    public EventLoopGroup eventLoopGroup() {
        return group;
    }

    public MetricsRegistry metrics() {
        return metrics;
    }

    Authorizer authorizer() {
        return authorizer;
    }

    TcpTelemetry telemetry() {
        return telemetry;
    }

    /** Spans of tunnels whose CONNECT carries a sampled trace context (issue 19). */
    ConnectionSpans spans() {
        return spans;
    }

    InboundRefusals refusals() {
        return refusals;
    }

    Duration connectTimeout() {
        return connectTimeout;
    }

    /** Whether {@code address} is one of this pod's addresses. */
    boolean isPodAddress(InetAddress address) {
        return podAddresses.contains(address);
    }

    /**
     * Binds one of the pod's listeners and waits until it is bound.
     *
     * @param name the listener's name in the log line and the error ({@code "HBONE"}, {@code "plaintext"})
     * @return the listening channel
     * @throws IllegalStateException if it cannot bind
     */
    Channel bindListener(ServerBootstrap bootstrap, InetSocketAddress address, String name) {
        // A restarted agent, or a pod re-enrolled, binds again while the old listener's
        // connections may still be open or in TIME_WAIT on the same port. SO_REUSEPORT: a new
        // agent binds beside this one's listener during a hand-over (dev.ambit.agent.handover).
        ChannelFuture bind = bootstrap.option(io.netty.channel.ChannelOption.SO_REUSEADDR, true)
                .option(io.netty.channel.unix.UnixChannelOption.SO_REUSEPORT, true)
                .bind(address).awaitUninterruptibly();
        if (!bind.isSuccess()) {
            throw new IllegalStateException("cannot bind the " + name + " inbound listener of pod " + pod.podUid()
                    + " to " + address + ": " + bind.cause().getMessage(), bind.cause());
        }
        log.info("pod {}: {} inbound listening on {}", pod.podUid(), name, bind.channel().localAddress());
        return bind.channel();
    }

    /**
     * Connects to the app at {@code app} from inside the pod (exempt from the redirection, so
     * it does not loop back to a listener), on {@code loop}: the relay needs both its channels
     * on one loop. The channel has {@code AUTO_READ} off and half-closure allowed, and an
     * {@link EarlyInput} keeps what the app sends (and its FIN) until the relay is in place.
     *
     * <p>If the connect fails, the refusal is counted and logged as
     * {@link InboundRefusals#UPSTREAM_CONNECT_FAILED} and the connection's telemetry is
     * closed with the {@code UF} flag; the caller only has to turn its client away.
     *
     * @param listener the listener's name in the refusal log
     * @param peerUri the client's proven identity, or {@code null} for a plaintext client
     * @param start when the connection was opened, for the telemetry
     */
    ChannelFuture connectApp(EventLoop loop, InetSocketAddress app, String listener, ConnectionLabels labels,
                             InetSocketAddress source, String peerUri, Instant start) {
        ChannelFuture connect = new Bootstrap()
                .group(loop)
                .channelFactory(pod::newChannel)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                // Reset, never FIN, unless the relay ends it gracefully; also if this process dies (Linger).
                .option(ChannelOption.SO_LINGER, 0)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis())
                .handler(new EarlyInput())
                .connect(app);
        connect.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                refusals.refuse(InboundRefusals.UPSTREAM_CONNECT_FAILED, listener, source, app, peerUri,
                        String.valueOf(f.cause().getMessage()));
                telemetry.closed(labels.withResponseFlags("UF"), source, app, 0, 0, start,
                        Duration.between(start, Instant.now()), null);
            }
        });
        return connect;
    }

    /** Configures an {@link InboundContext}. */
    public static final class Builder {
        private final PodNetwork pod;
        private final ProxyState state;
        private Set<InetAddress> podAddresses;
        private EventLoopGroup group;
        private MetricsRegistry metrics;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private ConnectionSpans spans = ConnectionSpans.NONE;

        private Builder(PodNetwork pod, ProxyState state) {
            this.pod = requireNonNull(pod, "pod");
            this.state = requireNonNull(state, "state");
        }

        /** The pod's addresses: the only destinations its inbound listeners serve. Required. */
        public Builder podAddresses(Collection<InetAddress> addresses) {
            Set<InetAddress> copy = Set.copyOf(requireNonNull(addresses, "addresses"));
            if (copy.isEmpty()) {
                throw new IllegalArgumentException("podAddresses: empty (expected: the pod's addresses)");
            }
            podAddresses = copy;
            return this;
        }

        /**
         * The event loops of the listeners and of the connections to the app. Required; of the
         * pod network's {@link PodNetwork#transport() transport} (Netty registers a channel only
         * with a loop of its own transport), e.g. from {@link Transport#newEventLoopGroup}. Not
         * closed by the listeners.
         */
        public Builder eventLoopGroup(EventLoopGroup group) {
            this.group = requireNonNull(group, "group");
            return this;
        }

        /** Where Istio's TCP metrics and {@code ambit_agent_inbound_refused_total} go. Required. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        /** Where spans of traced tunnels go (issue 19); default none. */
        public Builder spans(ConnectionSpans spans) {
            this.spans = requireNonNull(spans, "spans");
            return this;
        }

        /** How long to wait for the app to accept a connection. */
        public Builder connectTimeout(Duration connectTimeout) {
            requireNonNull(connectTimeout, "connectTimeout");
            if (connectTimeout.isNegative() || connectTimeout.isZero() || connectTimeout.toMillis() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("connectTimeout: " + connectTimeout + " (expected: > 0)");
            }
            this.connectTimeout = connectTimeout;
            return this;
        }

        /**
         * @throws IllegalStateException if a required setting is missing
         * @throws IllegalArgumentException if the event loop group is not of the pod network's transport
         */
        public InboundContext build() {
            if (podAddresses == null) {
                throw new IllegalStateException("podAddresses not set");
            }
            if (group == null) {
                throw new IllegalStateException("eventLoopGroup not set");
            }
            if (!pod.transport().isCompatible(group)) {
                throw new IllegalArgumentException("eventLoopGroup: " + group + " (expected: a group of the "
                        + pod.transport() + " transport, as the pod network's channels)");
            }
            if (metrics == null) {
                throw new IllegalStateException("metrics not set");
            }
            return new InboundContext(this);
        }
    }
}
