package dev.ambit.perf;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.PodRedirection;
import dev.ambit.testing.TestNetwork.Node;

import io.netty.channel.EventLoopGroup;

import java.net.InetSocketAddress;
import java.util.List;

/**
 * Ambit's capture: the pod is enrolled with the {@link EbpfRedirector} for the run, so
 * {@code cgroup/connect4} sends its connects to the outbound listener on
 * 127.0.0.1:{@code outboundPort} in its namespace, which learns each connection's
 * original destination with one map lookup, as the node agent does.
 */
final class EbpfCapture implements Capture {

    private static final String UID = "perf-capture-bench";

    private final EventLoopGroup group;
    private final EbpfRedirector redirector;
    private final Node pod;
    private final InetSocketAddress expected;
    private OneByteListener outbound;
    private OneByteListener inbound;

    /** Enrolls {@code pod} with {@code redirector} per run; every connection must have been headed to {@code expected}. */
    EbpfCapture(EventLoopGroup group, EbpfRedirector redirector, Node pod, InetSocketAddress expected) {
        this.group = requireNonNull(group, "group");
        this.redirector = requireNonNull(redirector, "redirector");
        this.pod = requireNonNull(pod, "pod");
        this.expected = requireNonNull(expected, "expected");
        if (pod.cgroup() == null) {
            throw new IllegalArgumentException("node " + pod.name() + " has no cgroup: eBPF capture needs a pod");
        }
    }

    @Override
    public String name() {
        return "ebpf";
    }

    @Override
    public Node pod() {
        return pod;
    }

    @Override
    public boolean intercepts() {
        return true;
    }

    @Override
    public void start() throws Exception {
        outbound = OneByteListener.capturing(group, pod.netns(),
                new InetSocketAddress("127.0.0.1", redirector.config().outboundPort()), expected,
                redirector::originalDestination);
        // Enrollment also steers inbound traffic, so it wants the pod's inbound listener;
        // the bench sends none, but the agent's shape is kept so the attach cost is the real one.
        inbound = OneByteListener.plain(group, pod.netns(),
                new InetSocketAddress("0.0.0.0", redirector.config().inboundPort()));
        redirector.enroll(new PodRedirection(UID, pod.cgroup(), pod.netns(), List.of(pod.address()), inbound.fd()));
    }

    @Override
    public Mismatches stop() {
        Mismatches seen = Mismatches.NONE;
        try {
            redirector.unenroll(UID);
        } finally {
            if (outbound != null) {
                seen = outbound.mismatches();
                outbound.close();
                outbound = null;
            }
            if (inbound != null) {
                inbound.close();
                inbound = null;
            }
        }
        return seen;
    }
}
