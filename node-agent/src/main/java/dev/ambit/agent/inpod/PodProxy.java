package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.proxy.Hbone15008Listener;
import dev.ambit.agent.proxy.InboundContext;
import dev.ambit.agent.proxy.OriginalDestinations;
import dev.ambit.agent.proxy.Outbound;
import dev.ambit.agent.proxy.Plaintext15006Listener;
import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.trace.ConnectionSpans;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.UnixChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The agent's three listeners inside one pod's network namespace: outbound capture on
 * {@code 127.0.0.1:15001}, HBONE on {@code 0.0.0.0:15008} and inbound plaintext on
 * {@code 0.0.0.0:15006} (reached through {@code sk_lookup} steering). Created on a platform
 * thread, because the sockets are made inside the pod's namespace.
 */
public final class PodProxy {

    /** What every pod's listeners share: one per agent. */
    public record Shared(ProxyState state, CertificateManager certificates, TlsContexts tls, HbonePool pool,
                  OriginalDestinations originalDestinations, EventLoopGroup group, MetricsRegistry metrics,
                  Ports ports, EndpointHealth endpointHealth, ConnectionSpans spans) {
        public Shared {
            requireNonNull(state, "state");
            requireNonNull(certificates, "certificates");
            requireNonNull(tls, "tls");
            requireNonNull(pool, "pool");
            requireNonNull(originalDestinations, "originalDestinations");
            requireNonNull(group, "group");
            requireNonNull(metrics, "metrics");
            requireNonNull(ports, "ports");
            requireNonNull(endpointHealth, "endpointHealth");
            requireNonNull(spans, "spans");
        }

        /** Without tracing (issue 19's spans of traced tunnels: none). */
        public Shared(ProxyState state, CertificateManager certificates, TlsContexts tls, HbonePool pool,
                      OriginalDestinations originalDestinations, EventLoopGroup group, MetricsRegistry metrics,
                      Ports ports, EndpointHealth endpointHealth) {
            this(state, certificates, tls, pool, originalDestinations, group, metrics, ports, endpointHealth,
                    ConnectionSpans.NONE);
        }

        /** With a passive endpoint health of its own (metrics in a private registry). */
        public Shared(ProxyState state, CertificateManager certificates, TlsContexts tls, HbonePool pool,
                      OriginalDestinations originalDestinations, EventLoopGroup group, MetricsRegistry metrics,
                      Ports ports) {
            this(state, certificates, tls, pool, originalDestinations, group, metrics, ports,
                    EndpointHealth.builder().build());
        }
    }

    /** The in-pod ports: Istio's numbers, other values only for tests. */
    public record Ports(int outbound, int inbound, int hbone) {
        public static final Ports ISTIO = new Ports(IstioPorts.OUTBOUND, IstioPorts.INBOUND_PLAINTEXT, IstioPorts.HBONE);
    }

    private final PodSandbox sandbox;
    private final PodGate gate;
    private final List<InetAddress> addresses;
    private final Outbound outbound;
    private final Hbone15008Listener hbone;
    private final Plaintext15006Listener plaintext;
    private final HbonePool pool;
    private final PodNetwork network;

    private PodProxy(PodSandbox sandbox, PodGate gate, List<InetAddress> addresses, Outbound outbound,
                     Hbone15008Listener hbone, Plaintext15006Listener plaintext, HbonePool pool, PodNetwork network) {
        this.sandbox = sandbox;
        this.gate = gate;
        this.addresses = addresses;
        this.outbound = outbound;
        this.hbone = hbone;
        this.plaintext = plaintext;
        this.pool = pool;
        this.network = network;
    }

    /**
     * Binds the pod's listeners inside its namespace, behind {@code gate}: they serve the
     * workload the gate is bound to, and hold connections until it is known ({@link PodGate}).
     * On failure nothing stays open.
     *
     * @throws IllegalStateException naming the pod and the listener that could not bind
     */
    static PodProxy start(Shared shared, PodNetwork podNetwork, PodSandbox sandbox, PodGate gate,
                          List<InetAddress> addresses) {
        Outbound outbound = null;
        Hbone15008Listener hbone = null;
        Plaintext15006Listener plaintext = null;
        PodNetwork network = gate.network(podNetwork);
        try {
            InboundContext inbound = InboundContext.builder(network, shared.state())
                    .podAddresses(addresses)
                    .eventLoopGroup(shared.group())
                    .metrics(shared.metrics())
                    .spans(shared.spans())
                    .build();
            hbone = Hbone15008Listener.builder(inbound, shared.tls(), gate::certificate)
                    .bindAddress(new InetSocketAddress("0.0.0.0", shared.ports().hbone()))
                    .build().start();
            plaintext = Plaintext15006Listener.builder(inbound)
                    .bindAddress(new InetSocketAddress("0.0.0.0", shared.ports().inbound()))
                    .build().start();
            outbound = Outbound.builder(network, gate::workloadUid)
                    .state(shared.state())
                    .certificates(shared.certificates())
                    .pool(shared.pool())
                    .originalDestinations(shared.originalDestinations())
                    .eventLoopGroup(shared.group())
                    .metrics(shared.metrics())
                    .bindAddress(new InetSocketAddress("127.0.0.1", shared.ports().outbound()))
                    .hbonePort(shared.ports().hbone())
                    .endpointHealth(shared.endpointHealth())
                    .build();
            outbound.start().syncUninterruptibly();
            return new PodProxy(sandbox, gate, List.copyOf(addresses), outbound, hbone, plaintext,
                    shared.pool(), podNetwork);
        } catch (RuntimeException e) {
            for (AutoCloseable c : new AutoCloseable[] {outbound, hbone, plaintext}) {
                if (c != null) {
                    try {
                        c.close();
                    } catch (Exception suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
            }
            podNetwork.close();
            throw new IllegalStateException("pod " + sandbox.key() + ": cannot open its listeners in "
                    + sandbox.netns() + ": " + e.getMessage(), e);
        }
    }

    PodSandbox sandbox() {
        return sandbox;
    }

    PodGate gate() {
        return gate;
    }

    /** The workload served, or a placeholder while it is not known ({@link PodGate#workloadUid()}). */
    String workloadUid() {
        return gate.workloadUid();
    }

    /** The identity the pod runs as; {@code null} while its workload is not known. */
    SpiffeId identity() {
        PodGate.Binding b = gate.binding();
        return b == null ? null : b.identity();
    }

    List<InetAddress> addresses() {
        return addresses;
    }

    /** The inbound plaintext listener's descriptor, for {@code sk_lookup} steering. */
    int inboundListenerFd() {
        return ((UnixChannel) plaintext.serverChannel()).fd().intValue();
    }

    /**
     * Stops accepting on all three listeners; connections already open carry on until they
     * end or {@code deadline} passes, when they are closed. Then the pod's network lets go
     * of its namespace ({@link PodNetwork#close()}).
     *
     * @return completes when every connection has ended, with the number closed by force
     */
    CompletableFuture<Integer> drain(Duration deadline) {
        List<CompletableFuture<Integer>> drains = List.of(outbound.drain(deadline), hbone.drain(deadline),
                plaintext.drain(deadline));
        // Outbound tunnels already open finish on their pooled connections; those close after
        // their last one instead of idling in a namespace the pod has left.
        pool.release(gate.workloadUid());
        return CompletableFuture.allOf(drains.toArray(CompletableFuture[]::new))
                .whenComplete((v, e) -> network.close())
                .thenApply(v -> drains.stream().mapToInt(CompletableFuture::join).sum());
    }

    /** Connections open on the pod's three listeners now. */
    int activeConnections() {
        return outbound.activeConnections() + hbone.activeConnections() + plaintext.activeConnections();
    }
}
