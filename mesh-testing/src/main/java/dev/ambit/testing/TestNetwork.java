package dev.ambit.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A throw-away network of hosts, each a network namespace with one address on a shared
 * bridge (itself in a namespace of its own), plus cgroups and a bpffs folder. Nothing
 * touches the machine's own namespace: every address lives in namespaces made here.
 * Everything carries the prefix {@value #PREFIX} and a random id; {@link #close()}
 * removes it all, and {@link #sweep()} removes what a killed run left.
 */
public final class TestNetwork implements AutoCloseable {

    public static final String PREFIX = "ambit-t";
    private static final String SUBNET = "10.244.77.";

    /** A namespace on the test network; {@code cgroup} is null for plain hosts. */
    public record Node(String name, Path netns, Inet4Address address, Path cgroup) {}

    private final String id;
    private final Path cgroupRoot;
    private final Path cgroupDir;
    private final Path bpffsRoot;
    private final String bridgeNs;
    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private int nextHost = 2;

    private TestNetwork() {
        // The owner's pid in the name: a sweep spares networks of test JVMs still running
        // (other modules' or worktrees' runs in parallel) and removes those of dead ones.
        id = PREFIX + Long.toString(ProcessHandle.current().pid(), 36) + "_"
                + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100, 0xfff));
        cgroupRoot = cgroupRoot();
        cgroupDir = cgroupRoot.resolve(id);
        bpffsRoot = Path.of("/sys/fs/bpf").resolve(id);
        bridgeNs = id + "-br";
    }

    /** Creates the bridge; add hosts and pods with {@link #host} and {@link #pod}. */
    public static TestNetwork create() {
        sweep();
        TestNetwork net = new TestNetwork();
        try {
            Host.run("ip", "netns", "add", net.bridgeNs);
            net.inNs(net.bridgeNs, "ip", "link", "set", "lo", "up");
            net.inNs(net.bridgeNs, "ip", "link", "add", "br0", "type", "bridge");
            net.inNs(net.bridgeNs, "ip", "link", "set", "br0", "up");
            Files.createDirectories(net.cgroupDir);
            return net;
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
        }
    }

    /**
     * Detaches and removes the eBPF pins under {@code root} with the node agent's own
     * {@code EbpfRedirector.uninstall}. The agent depends on this module (its tests use it), so
     * the method is found by name; without the agent on the class path nothing could have
     * pinned links there, and the folder is simply deleted.
     */
    private static void uninstallPins(Path root) {
        Method uninstall;
        try {
            uninstall = Class.forName("dev.ambit.agent.redirect.EbpfRedirector").getMethod("uninstall", Path.class);
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            deleteTree(root);
            return;
        }
        try {
            uninstall.invoke(null, root);
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("remove " + root, e);
        }
    }

    /** Where cgroup v2 is mounted here ({@code -Dambit.cgroupRoot}, default /sys/fs/cgroup/unified). */
    public static Path cgroupRoot() {
        return Path.of(System.getProperty("ambit.cgroupRoot", "/sys/fs/cgroup/unified"));
    }

    public String id() {
        return id;
    }

    /** A bpffs folder for this network's pins, removed on close. */
    public Path bpffsRoot() {
        return bpffsRoot;
    }

    /** A host without a cgroup: a remote server or client. */
    public Node host(String name) {
        return add(name, false);
    }

    /** A pod: a namespace plus a cgroup that its processes run in. */
    public Node pod(String name) {
        return add(name, true);
    }

    public Node node(String name) {
        return nodes.get(name);
    }

    private Node add(String name, boolean withCgroup) {
        if (name.length() > 6 || !name.matches("[a-z0-9]+")) {
            throw new IllegalArgumentException("name: " + name + " (expected: 1-6 lowercase letters or digits)");
        }
        String ns = id + "-" + name;
        Inet4Address address = ipv4(SUBNET + nextHost++);
        Host.run("ip", "netns", "add", ns);
        Node node;
        try {
            Path cgroup = null;
            if (withCgroup) {
                cgroup = cgroupDir.resolve(name);
                Files.createDirectories(cgroup);
            }
            node = new Node(name, Path.of("/run/netns", ns), address, cgroup);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        nodes.put(name, node);
        String peer = "v-" + name;
        Host.run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer, "netns", bridgeNs);
        inNs(bridgeNs, "ip", "link", "set", peer, "master", "br0", "up");
        inNs(ns, "ip", "link", "set", "lo", "up");
        inNs(ns, "ip", "addr", "add", address.getHostAddress() + "/24", "dev", "eth0");
        inNs(ns, "ip", "link", "set", "eth0", "up");
        return node;
    }

    /** Runs a command in the named namespace; throws unless it succeeds. */
    public String inNs(String ns, String... command) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return Host.run(cmd.toArray(String[]::new));
    }

    /**
     * Runs {@code command} as a process of the pod: in its cgroup (so the pod's BPF
     * programs see its sockets) and its network namespace.
     */
    public Host.Result inPod(Node pod, int timeoutSeconds, String... command) {
        if (pod.cgroup() == null) {
            throw new IllegalArgumentException("node " + pod.name() + " is a host, not a pod (no cgroup)");
        }
        // sh -c SCRIPT CGROUP NETNS COMMAND...: join the cgroup, then become the command in the namespace.
        List<String> cmd = new ArrayList<>(List.of("sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && net=\"$1\" && shift && exec nsenter --net=\"$net\" -- \"$@\"",
                pod.cgroup().toString(), pod.netns().toString()));
        cmd.addAll(List.of(command));
        return Host.exec(timeoutSeconds, cmd.toArray(String[]::new));
    }

    /** {@code socat} from inside the pod to {@code host:port}; prints what the server sent. */
    public Host.Result connectFromPod(Node pod, String host, int port, int sourcePort) {
        String target = "TCP4:" + host + ":" + port + ",connect-timeout=3"
                + (sourcePort > 0 ? ",bind=0.0.0.0:" + sourcePort + ",reuseaddr" : "");
        return inPod(pod, 10, "socat", "-u", target, "STDOUT");
    }

    @Override
    public void close() {
        List<String> problems = new ArrayList<>();
        // Pins first: they hold links on the cgroups and namespaces below.
        try {
            uninstallPins(bpffsRoot);
        } catch (RuntimeException e) {
            problems.add("bpffs " + bpffsRoot + ": " + e.getMessage());
        }
        removeCgroupTree(cgroupDir, problems);
        for (Node n : nodes.values()) {
            deleteNs(n.netns().getFileName().toString(), problems);
        }
        deleteNs(bridgeNs, problems);
        if (!problems.isEmpty()) {
            throw new IllegalStateException("cleanup of " + id + " incomplete: " + problems);
        }
    }

    /**
     * Removes what test runs that are no longer running left behind: namespaces, cgroups
     * and bpffs folders carrying {@link #PREFIX} whose owner process is gone.
     */
    public static void sweep() {
        List<String> problems = new ArrayList<>();
        Path bpffs = Path.of("/sys/fs/bpf");
        for (Path p : list(bpffs)) {
            if (abandoned(p.getFileName().toString())) {
                try {
                    uninstallPins(p);
                } catch (RuntimeException e) {
                    problems.add(p + ": " + e.getMessage());
                }
            }
        }
        for (Path p : list(cgroupRoot())) {
            if (abandoned(p.getFileName().toString())) {
                removeCgroupTree(p, problems);
            }
        }
        for (String ns : leftoverNamespaces()) {
            deleteNs(ns, problems);
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("sweep of earlier test leftovers incomplete: " + problems);
        }
    }

    /**
     * Whether {@code name} is a test object of this JVM or of a test run that has ended
     * (its owner pid is not running, or the name carries none).
     */
    static boolean abandoned(String name) {
        if (!name.startsWith(PREFIX)) {
            return false;
        }
        int x = name.indexOf('_', PREFIX.length());
        if (x < 0) {
            return true;
        }
        try {
            long owner = Long.parseLong(name.substring(PREFIX.length(), x), 36);
            return owner == ProcessHandle.current().pid()
                    || ProcessHandle.of(owner).map(ph -> !ph.isAlive()).orElse(true);
        } catch (NumberFormatException e) {
            return true;
        }
    }

    /** Test namespaces of this JVM or of ended runs present right now. */
    public static List<String> leftoverNamespaces() {
        return list(Path.of("/run/netns")).stream().map(p -> p.getFileName().toString())
                .filter(TestNetwork::abandoned).toList();
    }

    /** Test cgroups and bpffs folders of this JVM or of ended runs present right now. */
    public static List<Path> leftoverFiles() {
        List<Path> left = new ArrayList<>();
        for (Path dir : List.of(Path.of("/sys/fs/bpf"), cgroupRoot())) {
            list(dir).stream().filter(p -> abandoned(p.getFileName().toString())).forEach(left::add);
        }
        return left;
    }

    private static void removeCgroupTree(Path dir, List<String> problems) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.walk(dir)) {
            dirs = s.filter(Files::isDirectory).sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList();
        } catch (IOException e) {
            problems.add(dir + ": " + e.getMessage());
            return;
        }
        for (Path d : dirs) {
            killAll(d);
            boolean removed = false;
            for (int i = 0; i < 50 && !removed; i++) { // a killed process leaves its cgroup shortly after
                try {
                    Files.deleteIfExists(d);
                    removed = true;
                } catch (IOException e) {
                    sleep(20);
                }
            }
            if (!removed) {
                problems.add("cgroup " + d + " still busy");
            }
        }
    }

    private static void killAll(Path cgroup) {
        Path kill = cgroup.resolve("cgroup.kill");
        try {
            if (Files.exists(kill)) {
                Files.writeString(kill, "1");
            }
        } catch (IOException ignored) {
            // empty or already gone
        }
    }

    private static void deleteNs(String ns, List<String> problems) {
        if (!Files.exists(Path.of("/run/netns", ns))) {
            return;
        }
        Host.Result r = Host.exec(30, "ip", "netns", "delete", ns);
        if (!r.ok()) {
            problems.add("netns " + ns + ": " + r.stderr().strip());
        }
    }

    private static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Inet4Address ipv4(String s) {
        try {
            return (Inet4Address) InetAddress.getByName(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
