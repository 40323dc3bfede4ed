package dev.ambit.perf;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.Sockets;
import dev.ambit.testing.Host;
import dev.ambit.testing.TestNetwork.Node;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.UnixChannel;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The comparison: the sidecar-era capture. For the run, an {@code iptables -t nat
 * OUTPUT ... REDIRECT} rule inside the pod's namespace sends its connections to the
 * server to the outbound listener, which reads each original destination with
 * {@code SO_ORIGINAL_DST}. The rule lives only in that namespace and goes with it.
 *
 * <p>Deleting the rule leaves connection tracking hooked into the namespace, so this
 * capture gets a pod of its own: the other scenarios' pod never pays for conntrack.
 */
final class IptablesCapture implements Capture {

    private final EventLoopGroup group;
    private final Node pod;
    private final InetSocketAddress expected;
    private final int outboundPort;
    private OneByteListener outbound;
    private boolean ruleAdded;

    /** Redirects {@code pod}'s TCP connections to {@code expected}'s address to 127.0.0.1:{@code outboundPort}. */
    IptablesCapture(EventLoopGroup group, Node pod, InetSocketAddress expected, int outboundPort) {
        this.group = requireNonNull(group, "group");
        this.pod = requireNonNull(pod, "pod");
        this.expected = requireNonNull(expected, "expected");
        this.outboundPort = outboundPort;
    }

    @Override
    public String name() {
        return "iptables";
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
        outbound = OneByteListener.capturing(group, pod.netns(), new InetSocketAddress("127.0.0.1", outboundPort),
                expected, ch -> Optional.of(Sockets.originalDestinationNetfilter(((UnixChannel) ch).fd().intValue())));
        iptables("-A");
        ruleAdded = true;
    }

    @Override
    public Mismatches stop() {
        Mismatches seen = Mismatches.NONE;
        try {
            if (ruleAdded) {
                iptables("-D");
                ruleAdded = false;
            }
        } finally {
            if (outbound != null) {
                seen = outbound.mismatches();
                outbound.close();
                outbound = null;
            }
        }
        return seen;
    }

    private void iptables(String action) {
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=" + pod.netns(), "--", "iptables", "-w", "5",
                "-t", "nat", action, "OUTPUT", "-p", "tcp", "-d", expected.getAddress().getHostAddress(),
                "-j", "REDIRECT", "--to-ports", Integer.toString(outboundPort)));
        Host.Result r = Host.exec(30, cmd.toArray(String[]::new));
        if (!r.ok()) {
            throw new IllegalStateException("iptables " + action + " REDIRECT rule in pod " + pod.name() + " ("
                    + pod.netns() + ") exited " + r.exitCode() + ": " + r.stderr().strip()
                    + ": the iptables comparison needs the iptables command and the kernel's NAT REDIRECT target"
                    + " (nf_tables or legacy xtables)");
        }
    }
}
