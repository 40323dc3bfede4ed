package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.proxy.authz.ConnectionAttributes;
import dev.ambit.proxy.authz.Decision;
import dev.ambit.proxy.net.Linger;
import dev.ambit.proxy.net.ProxyListener;
import dev.ambit.proxy.net.TcpRelay;
import dev.ambit.proxy.telemetry.ConnectionLabels.Reporter;
import dev.ambit.proxy.telemetry.ConnectionLabels.SecurityPolicy;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Function;

/**
 * The plaintext inbound listener of one pod (port 15006, ztunnel's
 * {@code InboundPassthrough}): connections to the pod's addresses that the {@code sk_lookup}
 * program steered here because they did not come through HBONE. The original destination is
 * the accepted socket's <em>local</em> address ({@code sk_lookup} assigns the socket without
 * rewriting the packet).
 *
 * <p>Per connection: the {@link dev.ambit.proxy.authz.Authorizer} decides on a connection
 * without identity. {@code PeerAuthentication} STRICT arrives as a DENY policy matching
 * {@code not_principals: presence}, so it denies every plaintext connection; PERMISSIVE
 * leaves the decision to the other policies. Refused connections are reset (a RST, not a
 * FIN: the client must not take a refusal for an empty answer), counted in
 * {@code ambit_agent_inbound_refused_total{reason}} and logged. Allowed ones are connected
 * to the app from inside the pod (exempt from the redirection, so it does not loop) and
 * relayed with {@link TcpRelay}; Istio's TCP metrics record them with
 * {@code connection_security_policy="none"}.
 *
 * <p>Shutting down: {@link #drain} (SIGTERM, or the pod leaving the mesh) stops accepting
 * and waits for the relays to end, up to a deadline; {@link #close} only stops accepting.
 */
public final class Plaintext15006Listener extends ProxyListener {

    /** The inbound capture port. */
    public static final int PORT = IstioPorts.INBOUND_PLAINTEXT;

    private static final String LISTENER = "plaintext";

    private final InboundContext inbound;
    private final InetSocketAddress bindAddress;
    private final Function<Channel, InetSocketAddress> originalDestination;

    private Plaintext15006Listener(Builder b) {
        inbound = b.inbound;
        bindAddress = b.bindAddress;
        originalDestination = b.originalDestination;
    }

    /** Starts a listener for the pod of {@code inbound}. */
    public static Builder builder(InboundContext inbound) {
        return new Builder(inbound);
    }

    /**
     * Binds the listener (a socket from {@link PodNetwork#newServerChannel()}) and returns it.
     * Call from a platform thread: it waits for the bind. The redirector is then given
     * {@link #serverChannel()} to steer the pod's inbound connections to.
     *
     * @throws IllegalStateException if it was started or drained before, or the bind fails (with the cause)
     */
    public Plaintext15006Listener start() {
        bind(() -> inbound.bindListener(relayBootstrap(inbound.eventLoopGroup(), inbound.pod()), bindAddress,
                "plaintext"));
        return this;
    }

    @Override
    protected void initConnection(Channel ch) {
        onAccepted((DuplexChannel) ch);
    }

    private void onAccepted(DuplexChannel client) {
        InetSocketAddress source = (InetSocketAddress) client.remoteAddress();
        InetSocketAddress destination = originalDestination.apply(client);
        if (!inbound.isPodAddress(destination.getAddress())) {
            refuse(client, InboundRefusals.NOT_LOCAL, source, destination, "not an address of pod "
                    + inbound.pod().podUid());
            return;
        }
        Workload target = inbound.state().workloadByAddress(destination.getAddress());
        if (target == null || !target.getUid().equals(inbound.pod().podUid())) {
            refuse(client, InboundRefusals.UNKNOWN_WORKLOAD, source, destination,
                    target == null ? "no workload with this address" : "address belongs to " + target.getUid());
            return;
        }
        // A plaintext client has no identity: the source workload would be a guess, so unknown.
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.DESTINATION)
                .destination(target, null)
                .security(SecurityPolicy.NONE)
                .build();
        ConnectionAttributes attributes =
                ConnectionAttributes.plaintext(source.getAddress(), destination.getAddress(), destination.getPort());
        Decision decision = inbound.authorizer().authorize(attributes, target);
        Instant start = Instant.now();
        inbound.telemetry().opened(labels);
        if (!decision.allowed()) {
            inbound.refusals().count(decision.reason().code());
            inbound.state().denials().record(decision, attributes, target, null, null);
            inbound.telemetry().closed(labels, source, destination, 0, 0, start, Duration.ZERO, decision.toString());
            reset(client);
            return;
        }
        // The relay needs both channels on one loop: the app is connected on the client's.
        inbound.connectApp(client.eventLoop(), destination, LISTENER, labels, source, null, start)
                .addListener((ChannelFuture f) -> {
                    if (!f.isSuccess()) {
                        reset(client); // counted and logged by connectApp
                        return;
                    }
                    TcpRelay.start(client, (DuplexChannel) f.channel(), result -> inbound.telemetry()
                            .closed(labels, source, destination, result.clientToServer(), result.serverToClient(),
                                    start, result.duration(), null));
                });
    }

    private void refuse(DuplexChannel client, String reason, InetSocketAddress source, InetSocketAddress destination,
                        String detail) {
        inbound.refusals().refuse(reason, LISTENER, source, destination, null, detail);
        reset(client);
    }

    /** Closes with {@code SO_LINGER 0}: the client sees a reset, as if nothing listened. */
    private static void reset(Channel ch) {
        Linger.reset(ch);
    }

    /** Configures a {@link Plaintext15006Listener}. */
    public static final class Builder {
        private final InboundContext inbound;
        private InetSocketAddress bindAddress =
                new InetSocketAddress(NetUtil.createInetAddressFromIpAddressString("0.0.0.0"), PORT);
        private Function<Channel, InetSocketAddress> originalDestination = ch -> (InetSocketAddress) ch.localAddress();

        private Builder(InboundContext inbound) {
            this.inbound = requireNonNull(inbound, "inbound");
        }

        /** Where to listen inside the pod; default {@code 0.0.0.0:15006}. */
        public Builder bindAddress(InetSocketAddress bindAddress) {
            this.bindAddress = requireNonNull(bindAddress, "bindAddress");
            return this;
        }

        /**
         * How the original destination of an accepted connection is found; default its local
         * address, which is what {@code sk_lookup} steering gives. Other capture methods (and
         * tests without the BPF program) plug in here.
         */
        public Builder originalDestination(Function<Channel, InetSocketAddress> originalDestination) {
            this.originalDestination = requireNonNull(originalDestination, "originalDestination");
            return this;
        }

        public Plaintext15006Listener build() {
            return new Plaintext15006Listener(this);
        }
    }
}
