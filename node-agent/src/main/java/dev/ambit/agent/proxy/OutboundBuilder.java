package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Supplier;

/** Configures an {@link Outbound}. */
public final class OutboundBuilder {
    final PodNetwork network;
    final Supplier<String> workloadUid;
    ProxyState state;
    CertificateManager certificates;
    HbonePool pool;
    OriginalDestinations destinations;
    EventLoopGroup group;
    MetricsRegistry metrics = MetricsRegistry.create();
    InetSocketAddress bindAddress = new InetSocketAddress(InetAddress.getLoopbackAddress(), Outbound.DEFAULT_PORT);
    int hbonePort = HbonePool.DEFAULT_PORT;
    Duration connectTimeout = Duration.ofSeconds(10);
    int maxAttempts = 3;
    Duration connectBudget = Duration.ofSeconds(15);
    EndpointHealth health;

    OutboundBuilder(PodNetwork network, Supplier<String> workloadUid) {
        this.network = requireNonNull(network, "network");
        this.workloadUid = requireNonNull(workloadUid, "workloadUid");
    }

    public OutboundBuilder state(ProxyState state) {
        this.state = requireNonNull(state, "state");
        return this;
    }

    public OutboundBuilder certificates(CertificateManager certificates) {
        this.certificates = requireNonNull(certificates, "certificates");
        return this;
    }

    /** The HBONE pool; normally one per agent, shared by all pods' outbound listeners. */
    public OutboundBuilder pool(HbonePool pool) {
        this.pool = requireNonNull(pool, "pool");
        return this;
    }

    public OutboundBuilder originalDestinations(OriginalDestinations destinations) {
        this.destinations = requireNonNull(destinations, "destinations");
        return this;
    }

    /**
     * The event loops of the listener and its connections. Required; of the network's
     * {@link PodNetwork#transport() transport} (Netty registers a channel only with a
     * loop of its own transport), e.g. from {@link Transport#newEventLoopGroup}.
     */
    public OutboundBuilder eventLoopGroup(EventLoopGroup group) {
        this.group = requireNonNull(group, "group");
        return this;
    }

    /** Where telemetry and the listener's counters go; a private registry by default. */
    public OutboundBuilder metrics(MetricsRegistry metrics) {
        this.metrics = requireNonNull(metrics, "metrics");
        return this;
    }

    /** {@code 127.0.0.1:15001} (inside the pod) by default. */
    public OutboundBuilder bindAddress(InetSocketAddress bindAddress) {
        this.bindAddress = requireNonNull(bindAddress, "bindAddress");
        return this;
    }

    /** The peers' HBONE port; 15008 by default (other values are for tests). */
    public OutboundBuilder hbonePort(int hbonePort) {
        Checks.port(hbonePort, "hbonePort");
        this.hbonePort = hbonePort;
        return this;
    }

    /**
     * How long one attempt may take to open its upstream: the TCP connect of a passthrough,
     * the tunnel (connect, TLS, {@code CONNECT} answered) of HBONE; 10 seconds by default.
     */
    public OutboundBuilder connectTimeout(Duration connectTimeout) {
        Checks.positive(connectTimeout, "connectTimeout");
        this.connectTimeout = connectTimeout;
        return this;
    }

    /**
     * A Service's connection tries up to {@code maxAttempts} endpoints (1: no failover),
     * all within {@code budget} from its accept; 3 and 15 seconds by default.
     */
    public OutboundBuilder failover(int maxAttempts, Duration budget) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts: " + maxAttempts + " (expected: >= 1)");
        }
        Checks.positive(budget, "budget");
        this.maxAttempts = maxAttempts;
        this.connectBudget = budget;
        return this;
    }

    /**
     * The passive health of endpoints; normally one per agent, shared by all pods' outbound
     * listeners (and shown by the admin server). A private one by default.
     */
    public OutboundBuilder endpointHealth(EndpointHealth health) {
        this.health = requireNonNull(health, "health");
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
