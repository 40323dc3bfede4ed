package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.Checks;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one pod's listeners wait for before they serve a connection: a pod is captured as
 * soon as its sandbox is reported (CNI ADD), possibly before xDS has sent its workload or
 * the CA its certificate, and its connections must neither bypass the mesh nor be served
 * without its policy. Until the pod is <em>bound</em> to its workload ({@link #bind}) and
 * what each listener needs is there, accepted connections are held, unread and not yet
 * handed to the listener; they go on once it is, or are reset after {@code wait}:
 * <ul>
 *   <li>outbound (15001): the pod's workload and its identity's certificate (the source of an
 *       HBONE tunnel must present it);
 *   <li>inbound plaintext (15006): the pod's workload and its policies, so nothing reaches
 *       the app before what guards it is known: the first xDS sync is complete (it brings the
 *       namespace and mesh-wide policies, which the workload does not name) and every policy
 *       the workload names ({@code authorization_policies}) is in the state. The
 *       {@link dev.ambit.proxy.authz.Authorizer} skips a named policy it does not know, and
 *       within one xDS update an Address can arrive before the Authorization it names; a
 *       connection is held until the policy is there, and reset (fail closed) if it is not by
 *       the deadline;
 *   <li>HBONE (15008): what inbound needs, and the certificate to present.
 * </ul>
 * Once everything is there the gate costs one volatile read and a few map lookups (the
 * workload, each policy it names) per accepted connection.
 *
 * <p>Holding happens in the listening channel's pipeline, ahead of the listener's own
 * handlers ({@link #network}): an accepted connection is not registered with an event loop
 * while held, so nothing reads from it. Held connections are rechecked every
 * {@value #RECHECK_MILLIS} ms on the listening channel's event loop; closing the listener
 * resets them. At most {@value #MAX_HELD} connections are held per listener; one beyond that
 * is reset at once (outcome {@code overflow}). Thread-safe.
 */
final class PodGate {

    private static final Logger log = LoggerFactory.getLogger(PodGate.class);
    static final String HELD = "ambit_agent_pod_not_ready_connections_total";
    static final long RECHECK_MILLIS = 50;
    /**
     * Connections held per listener at most. Each is an accepted socket (a file descriptor)
     * plus a queue entry; a client connecting in a loop to a pod that never becomes ready
     * must not exhaust the agent's descriptors. Far above what a starting app opens.
     */
    static final int MAX_HELD = 1024;

    /** The pod's workload, as xDS names it, and the identity it runs as. */
    record Binding(String workloadUid, SpiffeId identity) {
        Binding {
            requireNonNull(workloadUid, "workloadUid");
            requireNonNull(identity, "identity");
        }
    }

    private final String pod;
    private final ProxyState state;
    private final CertificateManager certificates;
    private final PodProxy.Ports ports;
    private final Duration wait;
    private final BooleanSupplier synced;
    private final Counter.Family held;
    private int maxHeld = MAX_HELD;
    private volatile Binding binding;

    /**
     * @param synced whether the first xDS sync is complete (every resource type, so the
     *     namespace and mesh-wide policies are known)
     */
    PodGate(String pod, ProxyState state, CertificateManager certificates, PodProxy.Ports ports, Duration wait,
            BooleanSupplier synced, MetricsRegistry metrics) {
        this.pod = requireNonNull(pod, "pod");
        this.state = requireNonNull(state, "state");
        this.certificates = requireNonNull(certificates, "certificates");
        this.ports = requireNonNull(ports, "ports");
        Checks.notNegative(wait, "wait");
        this.wait = wait;
        this.synced = requireNonNull(synced, "synced");
        this.held = metrics.counter(HELD, "Connections to or from a pod accepted before its workload or certificate"
                + " was known, by listener and outcome (released once known, reset at the deadline, or overflow: reset at once"
                + " because " + MAX_HELD + " were held already).",
                "listener", "outcome");
    }

    /** Binds the pod to its workload (again, when its identity changes). */
    void bind(String workloadUid, SpiffeId identity) {
        binding = new Binding(workloadUid, identity);
    }

    /** The binding; {@code null} while the pod's workload is not known. */
    Binding binding() {
        return binding;
    }

    /** The workload uid the listeners serve; the pod's own name while not known (never matches a workload). */
    String workloadUid() {
        Binding b = binding;
        return b == null ? "(unbound) " + pod : b.workloadUid();
    }

    /** The certificate the pod presents now, {@code null} if there is none yet. */
    WorkloadCertificate certificate() {
        Binding b = binding;
        return b == null ? null : certificates.current(b.identity()).orElse(null);
    }

    boolean workloadKnown() {
        Binding b = binding;
        return b != null && state.workload(b.workloadUid()) != null;
    }

    boolean outboundReady() {
        return workloadKnown() && certificate() != null;
    }

    /** The workload is known, the first sync is complete, and every policy the workload names is known. */
    boolean inboundReady() {
        Binding b = binding;
        Workload w = b == null ? null : state.workload(b.workloadUid());
        if (w == null || !synced.getAsBoolean()) {
            return false;
        }
        for (int i = 0; i < w.getAuthorizationPoliciesCount(); i++) {
            if (state.get(w.getAuthorizationPolicies(i)) == null) {
                return false;
            }
        }
        return true;
    }

    boolean hboneReady() {
        return inboundReady() && certificate() != null;
    }

    /** For tests: a lower cap than {@link #MAX_HELD}. */
    void maxHeld(int max) {
        Checks.notNegative(max, "max");
        maxHeld = max;
    }

    /**
     * {@code inner}, whose listening channels hold connections until this gate lets them
     * through, and whose {@link PodNetwork#podUid()} is the bound workload's uid.
     */
    PodNetwork network(PodNetwork inner) {
        requireNonNull(inner, "inner");
        return new PodNetwork() {
            @Override
            public String podUid() {
                return workloadUid();
            }

            @Override
            public Transport transport() {
                return inner.transport();
            }

            @Override
            public ServerSocketChannel newServerChannel() {
                ServerSocketChannel ch = inner.newServerChannel();
                // First in the pipeline: ahead of what the bootstrap adds at registration.
                ch.pipeline().addFirst("ambit-pod-gate", new Hold());
                return ch;
            }

            @Override
            public SocketChannel newChannel() {
                return inner.newChannel();
            }
        };
    }

    /** The handler of one listening channel: holds what it accepts until the gate opens. */
    final class Hold extends ChannelInboundHandlerAdapter {
        private record Waiting(Channel child, long deadline) {}

        private final Deque<Waiting> waiting = new ArrayDeque<>();
        private ScheduledFuture<?> recheck;
        private String listener;
        private BooleanSupplier ready;
        private long resets;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof Channel child)) {
                ctx.fireChannelRead(msg);
                return;
            }
            resolve(ctx);
            if (waiting.isEmpty() && ready.getAsBoolean()) {
                ctx.fireChannelRead(child);
                return;
            }
            if (waiting.size() >= maxHeld) {
                held.labels(listener, "overflow").inc();
                boolean loud = Long.bitCount(++resets) == 1;
                (loud ? log.atInfo() : log.atDebug()).log("pod {}: {} connection from {} reset: {} connections held"
                        + " already, waiting for the pod to be ready (reset {} of this listener)", pod, listener,
                        child.remoteAddress(), waiting.size(), resets);
                reset(child);
                return;
            }
            waiting.add(new Waiting(child, System.nanoTime() + wait.toNanos()));
            if (recheck == null) {
                recheck = ctx.executor().scheduleWithFixedDelay(() -> recheck(ctx), RECHECK_MILLIS, RECHECK_MILLIS,
                        TimeUnit.MILLISECONDS);
            }
        }

        private void resolve(ChannelHandlerContext ctx) {
            if (ready != null) {
                return;
            }
            int port = ctx.channel().localAddress() instanceof InetSocketAddress a ? a.getPort() : -1;
            if (port == ports.outbound()) {
                listener = "outbound";
                ready = PodGate.this::outboundReady;
            } else if (port == ports.hbone()) {
                listener = "hbone";
                ready = PodGate.this::hboneReady;
            } else {
                listener = "inbound";
                ready = PodGate.this::inboundReady;
            }
        }

        private void recheck(ChannelHandlerContext ctx) {
            if (ready.getAsBoolean()) {
                while (!waiting.isEmpty()) {
                    Waiting w = waiting.poll();
                    held.labels(listener, "released").inc();
                    if (w.child().isOpen()) {
                        ctx.fireChannelRead(w.child());
                    }
                }
            } else {
                long now = System.nanoTime();
                while (!waiting.isEmpty() && now - waiting.peek().deadline() >= 0) {
                    Waiting w = waiting.poll();
                    held.labels(listener, "reset").inc();
                    // 1st, 2nd, 4th, 8th... reset of this listener at info: a client retrying fast
                    // does not flood the log (the counter has them all).
                    boolean loud = Long.bitCount(++resets) == 1;
                    (loud ? log.atInfo() : log.atDebug()).log("pod {}: {} connection from {} reset: {} not known"
                            + " after {} (reset {} of this listener)", pod, listener, w.child().remoteAddress(),
                            binding == null ? "its workload" : "its workload, a policy it names or its certificate",
                            wait, resets);
                    reset(w.child());
                }
            }
            if (waiting.isEmpty() && recheck != null) {
                recheck.cancel(false);
                recheck = null;
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            resetAll();
            ctx.fireChannelInactive();
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            resetAll();
        }

        private void resetAll() {
            if (recheck != null) {
                recheck.cancel(false);
                recheck = null;
            }
            while (!waiting.isEmpty()) {
                reset(waiting.poll().child());
            }
        }
    }

    /** A reset (SO_LINGER 0) of a connection that was never registered. */
    static void reset(Channel child) {
        try {
            child.config().setOption(ChannelOption.SO_LINGER, 0);
        } catch (RuntimeException ignored) {
            // already gone; closing is all that is left
        }
        child.unsafe().closeForcibly();
    }
}
