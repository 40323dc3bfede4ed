package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * The local mesh ({@code ambitctl local up}) test classes run on, registered as
 * {@code @RegisterExtension static final LocalMesh mesh = LocalMesh.nodes(2);}.
 *
 * <p>Bringing a cluster up and down costs about 20 s, so classes that ask for the same one
 * (same nodes, same certificate lifetime) share it: it stays up after a class and the next
 * one checks it is healthy ({@code local status}) and reuses it; each test works in its own
 * namespaces and deletes them. A class asking for another configuration, a class with a
 * failure (its cluster may be in any state), an {@link #exclusive()} class, and the end of
 * the run take it down, as does a shutdown hook should the JVM be stopped half-way; after
 * every {@code local down} the machine is checked for leftovers.
 *
 * <p>Only one local cluster can exist on a machine (fixed namespace names). If one that is
 * not ours is there, someone may be using it: the class fails, saying so, instead of
 * removing it, except in CI ({@code CI=true}) or with {@code -Dambit.it.takeOver=true},
 * where it is a leftover to sweep.
 *
 * <p>Also the tests' window on the mesh: every helper runs {@code bin/ambitctl}.
 */
final class LocalMesh implements BeforeAllCallback, AfterAllCallback, TestWatcher {

    static final ObjectMapper JSON = new ObjectMapper();
    /** Where each class's cluster logs are copied (local down deletes them). */
    static final Path LOGS = Path.of(System.getProperty("ambit.it.logs", "target/it-logs"));
    private static final ExtensionContext.Namespace STORE = ExtensionContext.Namespace.create(LocalMesh.class);

    /** What a cluster is built with; classes asking for equal ones share it. */
    record Config(int nodes, String certTtl, Path meshConfig, boolean noIngress) {
        Config(int nodes, String certTtl, Path meshConfig) {
            this(nodes, certTtl, meshConfig, false);
        }
    }

    /** The configuration of the cluster this JVM brought up and has not taken down; null if none. */
    private static volatile Config running;
    private static Thread shutdownHook;

    private final Config config;
    private final boolean exclusive;
    private volatile boolean failed;
    private String owner = "?";

    private LocalMesh(Config config, boolean exclusive) {
        this.config = config;
        this.exclusive = exclusive;
    }

    static LocalMesh nodes(int nodes) {
        return new LocalMesh(new Config(nodes, null, null), false);
    }

    /** istiod-lite's workload certificate lifetime ({@code local up --cert-ttl}). */
    LocalMesh certTtl(String ttl) {
        return new LocalMesh(new Config(config.nodes(), ttl, config.meshConfig()), exclusive);
    }

    /** Istio's mesh config file for istiod-lite ({@code local up --mesh-config}): a cluster of its own. */
    LocalMesh meshConfig(Path file) {
        return new LocalMesh(new Config(config.nodes(), config.certTtl(), file), exclusive);
    }

    /** Without Istio's demo ingress gateway ({@code local up --no-ingress}): fewer pods, a faster start. */
    LocalMesh noIngress() {
        return new LocalMesh(new Config(config.nodes(), config.certTtl(), config.meshConfig(), true), exclusive);
    }

    /** Not shared: taken down after this class (for a class that leaves its cluster changed for good). */
    LocalMesh exclusive() {
        return new LocalMesh(config, true);
    }

    // ------------------------------------------------------------------ lifecycle

    @Override
    public void beforeAll(ExtensionContext context) {
        owner = context.getRequiredTestClass().getSimpleName();
        failed = false;
        // Whatever is still up when the whole run ends goes down then.
        context.getRoot().getStore(STORE).getOrComputeIfAbsent("end-of-run",
                k -> (ExtensionContext.Store.CloseableResource) LocalMesh::endOfRun,
                ExtensionContext.Store.CloseableResource.class);
        synchronized (LocalMesh.class) {
            if (running != null && !running.equals(config)) {
                takeDown();
            } else if (running != null && !Ambitctl.local("status").ok()) {
                System.out.println("the shared cluster is not healthy: starting a new one for " + owner);
                saveLogs(owner + "-unhealthy-before");
                takeDown();
            }
            if (running == null) {
                bringUp();
            }
        }
    }

    @Override
    public void testFailed(ExtensionContext context, Throwable cause) {
        failed = true;
    }

    @Override
    public void afterAll(ExtensionContext context) {
        saveLogs(owner);
        if (failed || exclusive || context.getExecutionException().isPresent()) {
            synchronized (LocalMesh.class) {
                takeDown();
            }
        }
    }

    private void bringUp() {
        requireMachine();
        if (shutdownHook == null) {
            shutdownHook = new Thread(LocalMesh::downQuietly, "ambit-it-down");
            Runtime.getRuntime().addShutdownHook(shutdownHook);
        }
        running = config; // from here on, whatever happens, down runs
        List<String> args = new ArrayList<>(List.of("--nodes", String.valueOf(config.nodes())));
        if (config.certTtl() != null) {
            args.addAll(List.of("--cert-ttl", config.certTtl()));
        }
        if (config.meshConfig() != null) {
            args.addAll(List.of("--mesh-config", config.meshConfig().toString()));
        }
        if (config.noIngress()) {
            args.add("--no-ingress");
        }
        Ambitctl.Result r = Ambitctl.run(Duration.ofMinutes(3), "local", "up", args.toArray(String[]::new));
        if (!r.ok()) {
            // afterAll runs after a failed beforeAll too, and takes it down (failed is set).
            failed = true;
            throw new AssertionError("local up failed: " + r + "\n" + diagnostics());
        }
    }

    /** {@code local down} of our cluster, if one is up, then the machine must be clean. */
    static void takeDown() {
        if (running == null) {
            return;
        }
        Ambitctl.Result down = Ambitctl.run(Duration.ofMinutes(2), "local", "down");
        running = null;
        if (!down.ok()) {
            throw new AssertionError("local down failed: " + down);
        }
        List<String> left = Leftovers.find();
        if (!left.isEmpty()) {
            throw new AssertionError("local down left " + left);
        }
    }

    /** For a class that needs the machine to itself (no cluster of ours up). */
    static void release() {
        synchronized (LocalMesh.class) {
            takeDown();
        }
    }

    private static void endOfRun() {
        synchronized (LocalMesh.class) {
            takeDown();
        }
    }

    private static void downQuietly() {
        if (running != null) {
            saveLogs("interrupted");
            Ambitctl.run(Duration.ofMinutes(1), "local", "down");
            running = null;
        }
    }

    /**
     * Root, the jars, and no other cluster: a cluster already there fails the class (or is
     * removed first, in CI or with -Dambit.it.takeOver=true).
     */
    static void requireMachine() {
        boolean root = "root".equals(System.getProperty("user.name"));
        if (!root) {
            if (ci()) {
                throw new AssertionError("the integration tests must run as root in CI (network namespaces, cgroups, eBPF)");
            }
            assumeTrue(false, "needs root: network namespaces, cgroups and eBPF (the integration tests were skipped)");
        }
        Ambitctl.requireFreshJars();
        requireTools();
        List<String> existing = Leftovers.namespaces();
        boolean state = Files.exists(Ambitctl.STATE.resolve("cluster.json"))
                || Files.exists(Path.of("/run/ambit/local/cluster.json"));
        if (existing.isEmpty() && !state) {
            return;
        }
        if (ci() || Boolean.getBoolean("ambit.it.takeOver")) {
            // No user shares a CI machine: these are leftovers of an earlier, killed run.
            Ambitctl.local("down");
            Ambitctl.raw(Ambitctl.DEFAULT_TIMEOUT, List.of("local", "down", "--state-dir=/run/ambit/local"));
            List<String> still = Leftovers.namespaces();
            if (!still.isEmpty()) {
                throw new AssertionError("could not take over: namespaces " + still + " survived local down");
            }
            return;
        }
        throw new AssertionError("a local cluster already exists on this machine (network namespaces " + existing
                + (state ? ", state in /run/ambit/local or " + Ambitctl.STATE : "") + "): someone may be using it, and"
                + " only one can exist at a time. Not touching it: wait until it is gone (`ambitctl local down` removes"
                + " it), or run with -Dambit.it.takeOver=true (CI=true does the same) to remove it first.");
    }

    /**
     * The clients the tests run in pods (pods see the machine's files) and the tools they
     * inspect the machine with. openssl and wget are usually there on Debian but are not in
     * the Makefile's package list: say so rather than fail obscurely inside a pod.
     */
    static void requireTools() {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.addAll(List.of("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"));
        List<String> missing = new ArrayList<>();
        for (String tool : List.of("curl", "wget", "socat", "openssl", "ss", "ip", "bpftool", "sh", "setsid")) {
            if (dirs.stream().filter(d -> !d.isEmpty()).noneMatch(d -> Files.isExecutable(Path.of(d, tool)))) {
                missing.add(tool);
            }
        }
        if (!missing.isEmpty()) {
            throw new AssertionError("the integration tests need " + missing + " on this machine (the pods run the"
                    + " machine's own tools): apt-get install curl wget socat openssl iproute2 bpftool util-linux");
        }
    }

    static boolean ci() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** Copies the cluster's logs to target/it-logs/NAME (down deletes them): what to read after a failure. */
    static void saveLogs(String name) {
        Path from = Ambitctl.STATE.resolve("logs");
        if (!Files.isDirectory(from)) {
            return;
        }
        Path to = LOGS.resolve(name);
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Path target = to.resolve(from.relativize(f).toString());
                Files.createDirectories(target.getParent());
                Files.copy(f, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            System.err.println("could not save the cluster's logs to " + to + ": " + e);
        }
    }

    // ------------------------------------------------------------------ objects

    /** {@code local apply -f} of {@code yaml} (written to a temporary file). */
    Ambitctl.Result apply(String yaml) {
        Path f = null;
        try {
            f = Files.createTempFile("ambit-it", ".yaml");
            Files.writeString(f, yaml);
            return Ambitctl.localOk("apply", "-f", f.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (f != null) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException ignored) {
                    // temp file
                }
            }
        }
    }

    /** {@code local delete -f} of {@code yaml}. */
    Ambitctl.Result delete(String yaml) {
        Path f = null;
        try {
            f = Files.createTempFile("ambit-it", ".yaml");
            Files.writeString(f, yaml);
            return Ambitctl.localOk("delete", "--ignore-not-found", "-f", f.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (f != null) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException ignored) {
                    // temp file
                }
            }
        }
    }

    /** Deletes namespace {@code ns} and everything in it; for a test's finally. */
    void deleteNamespace(String ns) {
        if (running != null) {
            Ambitctl.local("delete", "ns", ns, "--ignore-not-found");
        }
    }

    /** {@code local get pods -n NS -o json}'s items. */
    List<JsonNode> pods(String ns) {
        Ambitctl.Result r = Ambitctl.localOk("get", "pods", "-n", ns, "-o", "json");
        List<JsonNode> out = new ArrayList<>();
        json(r).path("items").forEach(out::add);
        return out;
    }

    /** Waits for exactly {@code count} pods in {@code ns}, all Running; returns them. */
    List<JsonNode> awaitRunning(String ns, int count, Duration timeout) {
        return eventually(count + " pods Running in " + ns, timeout, () -> {
            List<JsonNode> pods = pods(ns);
            long running = pods.stream().filter(p -> p.path("status").path("phase").asText().equals("Running")).count();
            return pods.size() == count && running == count ? pods : null;
        });
    }

    static String name(JsonNode pod) {
        return pod.path("metadata").path("name").asText();
    }

    static String node(JsonNode pod) {
        return pod.path("spec").path("nodeName").asText();
    }

    static String ip(JsonNode pod) {
        return pod.path("status").path("podIP").asText();
    }

    static String uid(JsonNode pod) {
        return pod.path("metadata").path("uid").asText();
    }

    JsonNode pod(String ns, String name) {
        return pods(ns).stream().filter(p -> name(p).equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no pod " + ns + "/" + name));
    }

    // ------------------------------------------------------------------ in pods and nodes

    /** Runs {@code cmd} in pod {@code ns/pod} ({@code local exec}), killed after {@code timeout}. */
    Ambitctl.Result exec(String ns, String pod, Duration timeout, String... cmd) {
        List<String> args = new ArrayList<>(List.of("-n", ns, pod, "--timeout", timeout.toSeconds() + "s", "--"));
        args.addAll(List.of(cmd));
        return Ambitctl.run(timeout.plusSeconds(20), "local", "exec", args.toArray(String[]::new));
    }

    /** A shell script in the pod: {@code sh -c SCRIPT}. */
    Ambitctl.Result sh(String ns, String pod, Duration timeout, String script) {
        return exec(ns, pod, timeout, "sh", "-c", script);
    }

    /** One HTTP call (curl) from {@code ns/pod} to {@code host}:8080; true if the server answered. */
    boolean curl(String ns, String pod, String host) {
        Ambitctl.Result r = sh(ns, pod, Duration.ofSeconds(15), "curl -sS -m 3 http://" + host + ":8080/");
        return r.ok() && r.out().startsWith("hello from ");
    }

    /** Runs {@code cmd} in node {@code node}'s namespace. */
    Ambitctl.Result nodeExec(String node, String... cmd) {
        List<String> args = new ArrayList<>(List.of("--node", node, "--timeout", "30s", "--"));
        args.addAll(List.of(cmd));
        return Ambitctl.local("exec", args.toArray(String[]::new));
    }

    /**
     * Waits until the node agent has opened the pod's in-pod listeners (15001, 15006, 15008
     * in the pod's own namespace): before that its traffic is not captured yet. One exec, a
     * bounded loop inside the pod.
     */
    void awaitEnrolled(String ns, String pod) {
        Ambitctl.Result r = sh(ns, pod, Duration.ofSeconds(40), """
                for i in $(seq 150); do
                  s=$(ss -ltnH)
                  case "$s" in *:15001\\ *) case "$s" in *:15006\\ *) case "$s" in *:15008\\ *) exit 0;; esac;; esac;; esac
                  sleep 0.2
                done
                ss -ltn; exit 1""");
        if (!r.ok()) {
            throw new AssertionError("pod " + ns + "/" + pod + " not enrolled (no 15001/15006/15008 listeners in it): "
                    + r + "\n" + diagnostics());
        }
    }

    /** The TCP ports listening in pod {@code ns/pod}'s namespace. */
    List<Integer> listeners(String ns, String pod) {
        Ambitctl.Result r = exec(ns, pod, Duration.ofSeconds(10), "ss", "-ltnH");
        if (!r.ok()) {
            throw new AssertionError("ss in " + ns + "/" + pod + ": " + r);
        }
        List<Integer> ports = new ArrayList<>();
        for (String line : r.out().split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 4) {
                ports.add(Integer.parseInt(f[3].substring(f[3].lastIndexOf(':') + 1)));
            }
        }
        return ports;
    }

    /** The node agent's metrics ({@code curl 127.0.0.1:15020/metrics} in the node's namespace). */
    Metrics metrics(String node) {
        Ambitctl.Result r = nodeExec(node, "curl", "-sS", "-m", "5", "http://127.0.0.1:15020/metrics");
        if (!r.ok()) {
            throw new AssertionError("metrics of " + node + ": " + r);
        }
        return Metrics.parse(r.out());
    }

    /** The node agent's access log: the JSON lines of {@code local logs NODE}. */
    List<JsonNode> accessLog(String node) {
        Ambitctl.Result r = Ambitctl.localOk("logs", node);
        List<JsonNode> out = new ArrayList<>();
        for (String line : r.out().split("\n")) {
            if (line.startsWith("{\"start\"")) {
                try {
                    out.add(JSON.readTree(line));
                } catch (IOException e) {
                    throw new AssertionError("access log line of " + node + " is not JSON: " + line, e);
                }
            }
        }
        return out;
    }

    /** {@code config certs --node NODE -o json}. */
    JsonNode certs(String node) {
        return json(Ambitctl.run(Ambitctl.DEFAULT_TIMEOUT, "config", "certs", "--node", node, "-o", "json"));
    }

    /** {@code config all --node NODE}: the agent's whole config dump (workloads, services, policies, certificates). */
    JsonNode configDump(String node) {
        return json(Ambitctl.run(Ambitctl.DEFAULT_TIMEOUT, "config", "all", "--node", node));
    }

    /** {@code config workloads --node NODE -o json}. */
    JsonNode workloads(String node) {
        return json(Ambitctl.run(Ambitctl.DEFAULT_TIMEOUT, "config", "workloads", "--node", node, "-o", "json"));
    }

    String logTail(String component, int lines) {
        Ambitctl.Result r = Ambitctl.local("logs", component, "--tail", String.valueOf(lines));
        return r.ok() ? r.out() : "(local logs " + component + ": " + r.err().strip() + ")";
    }

    /** For failure messages: the cluster's status and the tails of its daemons' logs. */
    String diagnostics() {
        StringBuilder b = new StringBuilder("=== local status:\n").append(Ambitctl.local("status").out());
        for (int i = 1; i <= config.nodes(); i++) {
            b.append("=== agent node").append(i).append(" (last 25 lines):\n").append(logTail("node" + i, 25));
        }
        b.append("=== istiod (last 10 lines):\n").append(logTail("istiod", 10));
        b.append("=== controller (last 10 lines):\n").append(logTail("controller", 10));
        return b.toString();
    }

    static JsonNode json(Ambitctl.Result r) {
        try {
            if (!r.ok()) {
                throw new AssertionError("expected JSON from: " + r);
            }
            return JSON.readTree(r.out());
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + r, e);
        }
    }

    // ------------------------------------------------------------------ waiting

    /**
     * {@code local start}: brings back whatever a test killed (istiod, an agent, the
     * controller), so the next test, and the next class sharing this cluster, start from a
     * whole cluster. For the fault tests' {@code @AfterEach}.
     */
    void startAnythingDown() {
        Ambitctl.Result r = Ambitctl.run(Duration.ofMinutes(2), "local", "start");
        assertThat(r.ok()).as("local start after the test: %s", r).isTrue();
    }

    /**
     * Polls {@code check} (every 500 ms) until it returns non-null (or {@code true}); fails
     * after {@code timeout} naming {@code what}, with the last failure and the cluster's
     * diagnostics. Assertion errors inside {@code check} count as "not yet".
     */
    <T> T eventually(String what, Duration timeout, Supplier<T> check) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Throwable last = null;
        Object lastValue = null;
        do {
            try {
                T v = check.get();
                if (v != null && !Boolean.FALSE.equals(v)) {
                    return v;
                }
                lastValue = v;
            } catch (RuntimeException | AssertionError e) {
                last = e;
            }
            sleep(500);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("not " + what + " after " + timeout.toSeconds() + " s"
                + (last != null ? "; last failure: " + last.getMessage() : "; last value: " + lastValue)
                + "\n" + diagnostics(), last);
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
