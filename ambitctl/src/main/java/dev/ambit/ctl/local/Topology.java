package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The local cluster's network, all of it inside network namespaces named
 * {@value #PREFIX}{@code *}, nothing in the machine's own:
 *
 * <pre>
 *   ambit-l-net     bridge br0, the node network 10.250.0.0/24
 *   ambit-l-cp      istiod-lite at 10.250.0.2
 *   ambit-l-node&lt;i&gt;  node i at 10.250.0.(10+i), forwarding on, gateway 10.244.&lt;i&gt;.1 for its pods,
 *                   a /32 route per local pod, 10.244.&lt;j&gt;.0/24 via node j
 *   ambit-l-&lt;8 hex&gt;  a pod: 10.244.&lt;i&gt;.&lt;k&gt;/32 on eth0, default route via 10.244.&lt;i&gt;.1;
 *                   its veth peer vl&lt;8 hex&gt; lives in its node's namespace
 * </pre>
 *
 * <p>One exception, so that the machine reaches the cluster as a user reaches a cluster's load
 * balancers and node ports: veth {@value #HOST_LINK} in the machine's own namespace, at
 * {@value #HOST_ADDRESS}/24 (which gives the machine the route to the node network), whose
 * peer {@code host} is a port of br0. Br0 itself has {@value #BRIDGE_ADDRESS}/24 (where the
 * load balancer's connections to pods come from, with routes to every node's pods) and the
 * external address of every LoadBalancer Service ({@value #LB_FIRST}-{@value #LB_LAST}) as a
 * /32, answered for on the bridge as MetalLB's layer 2 mode does. Removing {@value #NET_NS}
 * removes the veth pair with it.
 *
 * <p>A pod also has a UTS namespace of its own, its hostname, kept as {@code ip netns} keeps
 * network namespaces: bind-mounted at {@value #UTS_DIR_NAME}{@code /<its network namespace>},
 * joined by each of its processes, removed with its network namespace.
 */
public final class Topology {

    public static final String PREFIX = "ambit-l-";
    public static final String NET_NS = PREFIX + "net";
    public static final String CP_NS = PREFIX + "cp";
    public static final String CP_ADDRESS = "10.250.0.2";
    public static final String NODE_CIDR = "10.250.0.0/24";
    public static final String SERVICE_CIDR = "10.96.0.0/16";
    public static final int MAX_NODES = 16;
    /** The machine's end of the veth into the node network (in the machine's own namespace). */
    public static final String HOST_LINK = PREFIX + "host";
    /** The machine's address on the node network. */
    public static final String HOST_ADDRESS = "10.250.0.1";
    /** The node network's own address (br0 in {@value #NET_NS}): the load balancer's source. */
    public static final String BRIDGE_ADDRESS = "10.250.0.3";
    /** The first and last external address of LoadBalancer Services, on the node network. */
    public static final String LB_FIRST = "10.250.0.200";
    public static final String LB_LAST = "10.250.0.250";
    /** Parent of every local pin folder: {@code node<i>} below it is one agent's {@code --bpffs-root}. */
    public static final Path BPFFS_ROOT = Path.of("/sys/fs/bpf/ambit-local");
    /** The Service load balancer's pin folder under {@link #BPFFS_ROOT} (not a node's). */
    public static final String BALANCER_PINS = "svclb";
    /** Below the cgroup root: one parent cgroup for every pod, {@code pods/<uid>} each. */
    public static final String CGROUP_DIR = "ambit-local";
    private static final Path NETNS_DIR = Path.of("/run/netns");
    static final String UTS_DIR_NAME = "/run/ambit-local-uts";
    /** Where pods' UTS namespaces are bind-mounted, one file per pod named as its network namespace. */
    public static final Path UTS_DIR = Path.of(UTS_DIR_NAME);
    private static final Path ETC_NETNS = Path.of("/etc/netns");

    private Topology() {
    }

    public static String nodeName(int index) {
        return "node" + index;
    }

    public static String nodeNs(int index) {
        return PREFIX + nodeName(index);
    }

    public static String nodeAddress(int index) {
        return "10.250.0." + (10 + index);
    }

    public static String podCidr(int index) {
        return "10.244." + index + ".0/24";
    }

    /** The pods' default gateway on node {@code index}: an address of the node namespace's loopback. */
    public static String gateway(int index) {
        return "10.244." + index + ".1";
    }

    /** A pod's namespace: the prefix and the first 8 hex digits of its uid. */
    public static String podNs(String uid) {
        return PREFIX + shortId(uid);
    }

    /** The node-side end of a pod's veth: 10 characters, within the 15 an interface name may have. */
    public static String podVeth(String uid) {
        return "vl" + shortId(uid);
    }

    static String shortId(String uid) {
        String hex = uid.replace("-", "");
        if (hex.length() < 8) {
            throw new IllegalArgumentException("uid: " + uid + " (expected: a UUID)");
        }
        return hex.substring(0, 8);
    }

    public static Path netnsPath(String ns) {
        return NETNS_DIR.resolve(ns);
    }

    /** The UTS namespace (hostname) of the pod whose network namespace is {@code ns}. */
    public static Path utsPath(String ns) {
        return UTS_DIR.resolve(ns);
    }

    public static Path etcNetns(String ns) {
        return ETC_NETNS.resolve(ns);
    }

    /** Every namespace of a local cluster present now: {@value #PREFIX}* under /run/netns. */
    public static List<String> existingNamespaces() {
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(NETNS_DIR)) {
            return out;
        }
        try (Stream<Path> s = Files.list(NETNS_DIR)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(PREFIX)).sorted().forEach(out::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public static boolean exists(String ns) {
        return Files.exists(netnsPath(ns));
    }

    // ------------------------------------------------------------------ building

    /** The node network: a namespace holding bridge br0. */
    static void createNodeNetwork() {
        Sh.run("ip", "netns", "add", NET_NS);
        Sh.run("ip", "-n", NET_NS, "link", "set", "lo", "up");
        Sh.run("ip", "-n", NET_NS, "link", "add", "br0", "type", "bridge");
        Sh.run("ip", "-n", NET_NS, "link", "set", "br0", "up");
    }

    /** A namespace {@code ns} on the node network at {@code address}/24; its bridge port is {@code port}. */
    static void attachHost(String ns, String port, String address) {
        Sh.run("ip", "netns", "add", ns);
        Sh.run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", NET_NS);
        Sh.run("ip", "-n", NET_NS, "link", "set", port, "master", "br0", "up");
        Sh.run("ip", "-n", ns, "link", "set", "lo", "up");
        Sh.run("ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0");
        Sh.run("ip", "-n", ns, "link", "set", "eth0", "up");
    }

    /**
     * The machine's way in: veth {@value #HOST_LINK} ({@value #HOST_ADDRESS}/24) / {@code host}
     * (a port of br0), br0 at {@value #BRIDGE_ADDRESS}/24 with routes to the pods of each of
     * {@code nodes} nodes (from {@value #BRIDGE_ADDRESS}). A veth left by a crash is replaced.
     */
    static void createHostLink(int nodes) {
        deleteHostLink();
        Sh.run("ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", "host", "netns", NET_NS);
        Sh.run("ip", "-n", NET_NS, "link", "set", "host", "master", "br0", "up");
        Sh.run("ip", "addr", "add", HOST_ADDRESS + "/24", "dev", HOST_LINK);
        Sh.run("ip", "link", "set", HOST_LINK, "up");
        Sh.run("ip", "-n", NET_NS, "addr", "add", BRIDGE_ADDRESS + "/24", "dev", "br0");
        for (int j = 1; j <= nodes; j++) {
            Sh.run("ip", "-n", NET_NS, "route", "add", podCidr(j), "via", nodeAddress(j), "src", BRIDGE_ADDRESS);
        }
    }

    /** Whether the machine's end of the veth exists. */
    static boolean hostLinkExists() {
        return Files.exists(Path.of("/sys/class/net", HOST_LINK));
    }

    /** Removes {@value #HOST_LINK} (its peer and address go with it); quiet when absent. */
    static boolean deleteHostLink() {
        if (!hostLinkExists()) {
            return false;
        }
        Sh.Result r = Sh.exec(Sh.DEFAULT_TIMEOUT, List.of("ip", "link", "del", HOST_LINK));
        if (!r.ok() && hostLinkExists()) {
            throw new LocalException("cannot remove interface " + HOST_LINK + ": " + r.stderr().strip());
        }
        return true;
    }

    /** The /32 addresses on br0 (the LoadBalancer Services' external addresses), sorted. */
    static List<String> externalAddresses() {
        List<String> out = new ArrayList<>();
        if (!exists(NET_NS)) {
            return out;
        }
        for (String line : Sh.run("ip", "-n", NET_NS, "-o", "-4", "addr", "show", "dev", "br0").split("\n")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("inet (\\d+\\.\\d+\\.\\d+\\.\\d+)/32 ").matcher(line);
            if (m.find()) {
                out.add(m.group(1));
            }
        }
        out.sort(null);
        return out;
    }

    /** Puts {@code address}/32 on br0, so that the node network answers for it. */
    static void addExternalAddress(String address) {
        Sh.run("ip", "-n", NET_NS, "addr", "add", address + "/32", "dev", "br0");
    }

    /** Takes {@code address}/32 off br0; quiet when it is not there. */
    static void deleteExternalAddress(String address) {
        Sh.exec(Sh.DEFAULT_TIMEOUT, List.of("ip", "-n", NET_NS, "addr", "del", address + "/32", "dev", "br0"));
    }

    /** Control plane: its namespace, and routes back to every node's pods. */
    static void createControlPlane(int nodes) {
        attachHost(CP_NS, "cp", CP_ADDRESS);
        for (int j = 1; j <= nodes; j++) {
            Sh.run("ip", "-n", CP_NS, "route", "add", podCidr(j), "via", nodeAddress(j));
        }
    }

    /** Node {@code index} of {@code nodes}: namespace, address, forwarding, the pods' gateway, routes to the other nodes' pods. */
    static void createNode(int index, int nodes) {
        String ns = nodeNs(index);
        attachHost(ns, "n" + index, nodeAddress(index));
        Sh.run("ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
        Sh.run("ip", "-n", ns, "addr", "add", gateway(index) + "/32", "dev", "lo");
        for (int j = 1; j <= nodes; j++) {
            if (j != index) {
                Sh.run("ip", "-n", ns, "route", "add", podCidr(j), "via", nodeAddress(j));
            }
        }
    }

    /**
     * A pod's namespace wired to its node: veth {@code eth0} (pod) / {@code vl<id>} (node),
     * the pod's /32, its default route via the node's gateway, the node's route to it.
     * On failure the half-built namespace is removed.
     */
    static void createPodNetwork(String uid, int nodeIndex, String ip) {
        requireNonNull(ip, "ip");
        String ns = podNs(uid);
        String node = nodeNs(nodeIndex);
        String veth = podVeth(uid);
        Sh.run("ip", "netns", "add", ns);
        try {
            Sh.run("ip", "-n", node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
            Sh.run("ip", "-n", node, "link", "set", veth, "up");
            Sh.run("ip", "-n", ns, "link", "set", "lo", "up");
            Sh.run("ip", "-n", ns, "addr", "add", ip + "/32", "dev", "eth0");
            Sh.run("ip", "-n", ns, "link", "set", "eth0", "up");
            Sh.run("ip", "-n", ns, "route", "add", gateway(nodeIndex), "dev", "eth0", "scope", "link");
            Sh.run("ip", "-n", ns, "route", "add", "default", "via", gateway(nodeIndex), "dev", "eth0");
            Sh.run("ip", "-n", node, "route", "add", ip + "/32", "dev", veth);
        } catch (RuntimeException e) {
            deletePodNetwork(uid, nodeIndex);
            throw e;
        }
    }

    /**
     * Removes a pod's network: the node side of its veth first (which takes the pod side
     * and the node's route with it at once, even while a node agent still holds sockets
     * in the pod's namespace and so keeps that namespace alive), then the namespace.
     */
    static void deletePodNetwork(String uid, int nodeIndex) {
        String node = nodeNs(nodeIndex);
        if (exists(node)) {
            Sh.exec(Sh.DEFAULT_TIMEOUT, List.of("ip", "-n", node, "link", "del", podVeth(uid))); // absent: fine
        }
        deleteNamespace(podNs(uid));
    }

    /** Removes every pod veth ({@code vl<8 hex>}) of node {@code nodeIndex}, with their routes: what a dead controller left. */
    static int deletePodVeths(int nodeIndex) {
        String node = nodeNs(nodeIndex);
        if (!exists(node)) {
            return 0;
        }
        int removed = 0;
        for (String line : Sh.run("ip", "-n", node, "-o", "link", "show").split("\n")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("^\\d+: (vl[0-9a-f]{8})[@:]").matcher(line);
            if (m.find()) {
                Sh.exec(Sh.DEFAULT_TIMEOUT, List.of("ip", "-n", node, "link", "del", m.group(1)));
                removed++;
            }
        }
        return removed;
    }

    /**
     * A pod's UTS namespace with hostname {@code hostname}, kept at {@link #utsPath}({@code ns})
     * for its processes to join: {@code unshare} bind-mounts it there, as {@code ip netns add}
     * does a network namespace, so it outlives the short process that made it. On failure
     * nothing is left.
     */
    static void createPodUts(String ns, String hostname) {
        try {
            Files.createDirectories(UTS_DIR);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + UTS_DIR + ": " + e.getMessage(), e);
        }
        createUts(utsPath(ns), hostname);
    }

    /** A UTS namespace with {@code hostname}, bind-mounted at {@code file} (created if absent); nothing left on failure. */
    static void createUts(Path file, String hostname) {
        requireNonNull(hostname, "hostname");
        try {
            if (!Files.exists(file)) {
                Files.createFile(file); // the bind mount's target
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + file + ": " + e.getMessage(), e);
        }
        try {
            Sh.run("unshare", "--uts=" + file, "hostname", hostname);
        } catch (RuntimeException e) {
            deleteUts(file);
            throw e;
        }
    }

    /** Removes the UTS namespace file of pod namespace {@code ns}: unmounted, then deleted; quiet when absent. */
    static void deletePodUts(String ns) {
        deleteUts(utsPath(ns));
    }

    /** Unmounts and deletes UTS namespace file {@code file}; quiet when absent. */
    static void deleteUts(Path file) {
        if (!Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Sh.exec(Sh.DEFAULT_TIMEOUT, List.of("umount", file.toString())); // not mounted (a half-made one): fine
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new LocalException("cannot remove the UTS namespace " + file + ": " + e.getMessage()
                    + " (still mounted? umount it)");
        }
    }

    /**
     * Removes every pod UTS namespace left in {@link #UTS_DIR}, then the folder: what a dead
     * controller left.
     *
     * @return what could not be removed, one line each
     */
    static List<String> deleteUtsLeftovers() {
        List<String> problems = new ArrayList<>();
        if (!Files.isDirectory(UTS_DIR)) {
            return problems;
        }
        try (Stream<Path> s = Files.list(UTS_DIR)) {
            for (Path f : s.toList()) {
                try {
                    deletePodUts(f.getFileName().toString());
                } catch (RuntimeException e) {
                    problems.add(e.getMessage());
                }
            }
        } catch (IOException e) {
            problems.add("cannot list " + UTS_DIR + ": " + e.getMessage());
        }
        if (problems.isEmpty()) {
            try {
                Files.deleteIfExists(UTS_DIR);
            } catch (IOException e) {
                problems.add("cannot remove " + UTS_DIR + ": " + e.getMessage());
            }
        }
        return problems;
    }

    /**
     * Removes namespace {@code ns} (its veths go with it), a pod's UTS namespace of the same
     * name, and its /etc/netns folder; quiet when absent.
     */
    static void deleteNamespace(String ns) {
        deletePodUts(ns);
        if (exists(ns)) {
            Sh.Result r = Sh.exec(Sh.DEFAULT_TIMEOUT, List.of("ip", "netns", "del", ns));
            if (!r.ok() && exists(ns)) {
                throw new LocalException("cannot remove network namespace " + ns + ": " + r.stderr().strip()
                        + " (a process may still hold it: ambitctl local down kills them)");
            }
        }
        deleteTree(etcNetns(ns));
    }

    static void deleteTree(Path p) {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            List<Path> all = s.sorted(java.util.Comparator.reverseOrder()).toList();
            for (Path x : all) {
                Files.deleteIfExists(x);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + p + ": " + e.getMessage(), e);
        }
    }
}
