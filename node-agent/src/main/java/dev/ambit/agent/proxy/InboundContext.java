package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.rbac.Authorizer;
import dev.ambit.agent.state.ProxyState;
import dev.ambit.agent.telemetry.TcpTelemetry;
import dev.ambit.common.metrics.MetricsRegistry;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Collection;
import java.util.Set;

/**
 * What the inbound listeners of one pod (15008 HBONE, 15006 plaintext) share: the pod and
 * its addresses, the mesh state and its authorizer, the event loops, and telemetry.
 *
 * <p>The pod's addresses are fixed at enrolment, as the redirection's are: a pod that gets
 * new addresses is enrolled again with new listeners. Immutable and thread-safe.
 *
 * <pre>{@code
 * InboundContext inbound = InboundContext.builder(PodNetwork.namespace(uid, netns), state)
 *         .podAddresses(List.of(podIp)).eventLoopGroup(epollGroup).metrics(metrics).build();
 * }</pre>
 */
public final class InboundContext {

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

    /** Configures an {@link InboundContext}. */
    public static final class Builder {
        private final PodNetwork pod;
        private final ProxyState state;
        private Set<InetAddress> podAddresses;
        private EventLoopGroup group;
        private MetricsRegistry metrics;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;

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
         * The event loops of the listeners and of the connections to the app. Required; an
         * epoll group, since {@link PodNetwork} creates epoll channels. Not closed by the listeners.
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

        /** How long to wait for the app to accept a connection. */
        public Builder connectTimeout(Duration connectTimeout) {
            requireNonNull(connectTimeout, "connectTimeout");
            if (connectTimeout.isNegative() || connectTimeout.isZero() || connectTimeout.toMillis() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("connectTimeout: " + connectTimeout + " (expected: > 0)");
            }
            this.connectTimeout = connectTimeout;
            return this;
        }

        public InboundContext build() {
            if (podAddresses == null) {
                throw new IllegalStateException("podAddresses not set");
            }
            if (group == null) {
                throw new IllegalStateException("eventLoopGroup not set");
            }
            if (metrics == null) {
                throw new IllegalStateException("metrics not set");
            }
            return new InboundContext(this);
        }
    }
}
