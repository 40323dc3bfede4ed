package dev.ambit.agent.handover;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.agent.inpod.PodSandbox;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The hand-over protocol between two agents of one node: UTF-8 lines over the unix socket
 * {@link #socketFor next to the CNI socket}, the new agent asking, the running one answering.
 * <pre>
 * HELLO 1                 → OK 1 &lt;pid&gt;          protocol version; the running agent's pid
 * PODS                    → POD &lt;fields&gt; ... END  the pods it serves now (tab-separated fields:
 *                                                uid, namespace, name, announced 0|1, ipv4s
 *                                                comma-separated, netns, cgroup)
 * RELEASE &lt;uid&gt;           → RELEASED &lt;uid&gt;       its listeners of that pod are closed (their
 *                         | UNKNOWN &lt;uid&gt;        queued connections moved to the new agent's);
 *                                                open connections drain
 * PORTS                   → OK                  it closed its admin, stats and readiness ports
 * DONE                    → OK                  it drains what it still has, then exits
 * anything else           → ERR &lt;reason&gt;
 * </pre>
 * Both sides of an upgrade or a downgrade speak version 1; an agent older than the protocol
 * has no hand-over socket, and a new agent then starts as after a restart (pods fail closed
 * until it re-enrolls them).
 */
public final class HandoverProtocol {

    public static final int VERSION = 1;
    /** The socket's file name, in the folder of the CNI socket (a host path both agents mount). */
    public static final String SOCKET_NAME = "handover.sock";

    private HandoverProtocol() {
    }

    /** Where the hand-over socket of the agent whose CNI socket is {@code cniSocket} lives. */
    public static Path socketFor(Path cniSocket) {
        requireNonNull(cniSocket, "cniSocket");
        return cniSocket.toAbsolutePath().resolveSibling(SOCKET_NAME);
    }

    /** One {@code POD} line's fields. */
    static String podLine(InPodManager.Held h) {
        PodSandbox s = h.sandbox();
        List<String> ips = h.addresses().stream().map(InetAddress::getHostAddress).toList();
        List<String> fields = List.of(s.uid(), s.namespace(), s.name(), h.announced() ? "1" : "0",
                String.join(",", ips), s.netns().toString(), s.cgroup().toString());
        for (String f : fields) {
            if (f.isEmpty() || f.indexOf('\t') >= 0 || f.indexOf('\n') >= 0 || f.indexOf('\r') >= 0) {
                throw new IllegalArgumentException("pod " + s.key() + ": field \"" + f
                        + "\" cannot be sent (expected: not empty, no tab or line break)");
            }
        }
        return "POD\t" + String.join("\t", fields);
    }

    /** Parses a {@code POD} line. */
    static InPodManager.Held parsePod(String line) {
        String[] f = line.split("\t", -1);
        if (f.length != 8 || !f[0].equals("POD")) {
            throw new IllegalArgumentException("hand-over: bad POD line \"" + line
                    + "\" (expected: POD and 7 tab-separated fields)");
        }
        List<InetAddress> addresses = new ArrayList<>();
        for (String ip : f[5].split(",")) {
            if (!ip.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
                throw new IllegalArgumentException("hand-over: address \"" + ip + "\" in \"" + line
                        + "\" (expected: IPv4 dotted quads)");
            }
            try {
                addresses.add(InetAddress.getByName(ip));
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("hand-over: address \"" + ip + "\"", e);
            }
        }
        return new InPodManager.Held(new PodSandbox(f[2], f[3], f[1], Path.of(f[7]), Path.of(f[6])), addresses,
                f[4].equals("1"));
    }
}
