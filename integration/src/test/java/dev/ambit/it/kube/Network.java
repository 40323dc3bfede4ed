package dev.ambit.it.kube;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The kubelet-less cluster's network: a bridge in a namespace of its own, and on it every pod
 * (its own network namespace and address, the veth the "interface plugin" made) and the
 * machine itself ({@link #hostAddress()}: the API server the test runs), so pods, agents and
 * istiod-lite reach each other and the API server as on one flat pod network.
 *
 * <p>Names start with {@value #PREFIX} and the owning JVM's pid; {@link #sweep()} removes
 * what a killed run left.
 */
public final class Network implements AutoCloseable {

    static final String PREFIX = "ambk";
    private static final String SUBNET = "10.248.13.";

    /** A pod's network namespace and its address. */
    public record Netns(String name, Path path, InetAddress address) {}

    private final String id;
    private final String bridgeNs;
    private final Map<String, Netns> namespaces = new LinkedHashMap<>();
    private int next = 2;
    private boolean closed;

    private Network() {
        id = PREFIX + Long.toString(ProcessHandle.current().pid(), 36);
        bridgeNs = id + "-br";
    }

    public static Network create() {
        sweep();
        Network n = new Network();
        try {
            run("ip", "netns", "add", n.bridgeNs);
            n.in(n.bridgeNs, "ip", "link", "add", "br0", "type", "bridge");
            n.in(n.bridgeNs, "ip", "link", "set", "br0", "up");
            // The machine's own end: the API server (this JVM) listens on it.
            String host = n.id + "h";
            run("ip", "link", "add", host, "type", "veth", "peer", "name", "host", "netns", n.bridgeNs);
            run("ip", "addr", "add", SUBNET + "1/24", "dev", host);
            run("ip", "link", "set", host, "up");
            n.in(n.bridgeNs, "ip", "link", "set", "host", "master", "br0", "up");
            return n;
        } catch (RuntimeException e) {
            n.close();
            throw e;
        }
    }

    /** This run's id (also the prefix of its cgroups and pins). */
    public String id() {
        return id;
    }

    public InetAddress hostAddress() {
        return address(SUBNET + "1");
    }

    /** A new network namespace with {@code eth0} on the bridge and the next address. */
    public synchronized Netns add(String name) {
        if (closed) {
            // A kubelet still retrying a sandbox when the test gave up must not leave one behind.
            throw new IllegalStateException("network " + id + " is closed");
        }
        String ns = id + "-" + name;
        if (ns.length() > 40 || !name.matches("[a-z0-9-]+")) {
            throw new IllegalArgumentException("name: " + name + " (expected: a short DNS label)");
        }
        InetAddress address = address(SUBNET + next++);
        run("ip", "netns", "add", ns);
        Netns n = new Netns(name, Path.of("/run/netns", ns), address);
        namespaces.put(name, n);
        String peer = "v" + (next - 1);
        run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer, "netns", bridgeNs);
        in(bridgeNs, "ip", "link", "set", peer, "master", "br0", "up");
        in(ns, "ip", "link", "set", "lo", "up");
        in(ns, "ip", "addr", "add", address.getHostAddress() + "/24", "dev", "eth0");
        in(ns, "ip", "link", "set", "eth0", "up");
        return n;
    }

    private void in(String ns, String... command) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        run(cmd.toArray(String[]::new));
    }

    static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + ": " + out.strip());
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(String.join(" ", command) + ": interrupted", e);
        }
    }

    private static InetAddress address(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Deletes the namespaces (their veths go with them, the machine's too: its peer is in the bridge's). */
    @Override
    public synchronized void close() {
        closed = true;
        List<String> problems = new ArrayList<>();
        for (Netns n : namespaces.values()) {
            delete(n.path().getFileName().toString(), problems);
        }
        delete(bridgeNs, problems);
        if (!problems.isEmpty()) {
            throw new IllegalStateException("network " + id + " cleanup incomplete: " + problems);
        }
    }

    private static void delete(String ns, List<String> problems) {
        if (Files.exists(Path.of("/run/netns", ns))) {
            try {
                run("ip", "netns", "delete", ns);
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
    }

    /** Namespaces of runs whose JVM is gone (or of this one): left by a killed run. */
    public static List<String> leftovers() {
        Path dir = Path.of("/run/netns");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(Network::abandoned).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static boolean abandoned(String name) {
        if (!name.startsWith(PREFIX)) {
            return false;
        }
        String rest = name.substring(PREFIX.length());
        int end = 0;
        while (end < rest.length() && Character.isLetterOrDigit(rest.charAt(end))) {
            end++;
        }
        try {
            long pid = Long.parseLong(rest.substring(0, end), 36);
            return pid == ProcessHandle.current().pid() || ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true);
        } catch (NumberFormatException e) {
            return true;
        }
    }

    /** Removes the namespaces a killed run left. */
    public static void sweep() {
        List<String> problems = new ArrayList<>();
        for (String ns : leftovers()) {
            delete(ns, problems);
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("sweep incomplete: " + problems);
        }
    }
}
