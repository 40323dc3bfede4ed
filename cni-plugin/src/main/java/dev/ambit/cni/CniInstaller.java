package dev.ambit.cni;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.Flags;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The node agent DaemonSet's {@code install-cni} container ({@code node-agent --install-cni}),
 * Istio's install-cni for Ambit: puts the plugin binary into the host's CNI bin folder and
 * chains the plugin into the host's CNI configuration ({@link CniConfList}), then keeps it
 * there: a primary CNI that rewrites its file when it restarts (Calico, Cilium, flannel do)
 * would drop the entry, and pods would start uncaptured. It waits for the primary CNI's file
 * when there is none yet.
 *
 * <p>On exit (SIGTERM) the entry and the binary are removed only when the DaemonSet itself is
 * gone or being deleted (an uninstall): during a rolling update or an eviction they stay, so
 * pods created meanwhile wait for the next agent (the plugin fails them with "try again
 * later") instead of starting outside the mesh.
 */
public final class CniInstaller implements AutoCloseable {

    public static final Set<String> FLAGS = Set.of("install-cni", "cni-bin-dir", "cni-conf-dir", "agent-socket",
            "exclude-namespaces", "plugin-log-level", "plugin-timeout", "check-interval", "daemonset", "once");
    public static final String USAGE = """
            node-agent --install-cni [flags]: installs the CNI plugin on this node and keeps it chained
              --cni-bin-dir=DIR          the host's CNI bin folder as mounted (default /host/opt/cni/bin)
              --cni-conf-dir=DIR         the host's CNI config folder as mounted (default /host/etc/cni/net.d)
              --agent-socket=PATH        the agent's enrollment socket as the HOST sees it
                                         (default /var/run/ambit/cni.sock)
              --exclude-namespaces=A,B   namespaces the plugin never sends to the agent
              --plugin-log-level=LEVEL   error, warn, info or debug (the plugin logs to the runtime's log)
              --plugin-timeout=5s        the plugin's bound on one exchange with the agent (1-60 s)
              --check-interval=2s        how often the config is checked again
              --daemonset=NAME           this DaemonSet (namespace from POD_NAMESPACE): removed on exit
                                         only when it is gone (uninstall)
              --once                     install and exit (no watching, nothing removed)
            """;

    private final Path binDir;
    private final Path confDir;
    private final ObjectNode entry;
    private final Duration interval;
    private final PrintStream out;
    private final CountDownLatch stop = new CountDownLatch(1);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile Path chained;
    private volatile boolean waitingLogged;

    public CniInstaller(Path binDir, Path confDir, ObjectNode entry, Duration interval, PrintStream out) {
        this.binDir = requireNonNull(binDir, "binDir");
        this.confDir = requireNonNull(confDir, "confDir");
        this.entry = requireNonNull(entry, "entry");
        this.interval = requireNonNull(interval, "interval");
        this.out = requireNonNull(out, "out");
    }

    /**
     * One pass: the binary in place (if missing), the plugin chained in the primary config
     * (if one exists and lacks it, or has an outdated entry).
     *
     * @return whether the plugin is chained now
     */
    public boolean reconcile() {
        if (!Files.isRegularFile(binDir.resolve(CniPlugin.TYPE))) {
            out.println("installed " + CniPlugin.install(binDir));
        }
        Optional<Path> primary = CniConfList.primary(confDir);
        if (primary.isEmpty()) {
            if (!waitingLogged) {
                waitingLogged = true;
                out.println("no CNI configuration in " + confDir + " yet: waiting for the primary CNI to write one");
            }
            return false;
        }
        waitingLogged = false;
        CniConfList.Written w = CniConfList.insert(primary.get(), entry);
        if (w.changed()) {
            out.println("chained " + CniPlugin.TYPE + " into " + w.file());
        }
        chained = w.file();
        return true;
    }

    /** Installs the binary afresh (a new version) and reconciles until {@link #close()}. */
    public void run() throws InterruptedException {
        try {
            out.println("installed " + CniPlugin.install(binDir));
            do {
                try {
                    reconcile();
                } catch (RuntimeException e) {
                    out.println("install-cni: " + e.getMessage() + "; trying again in " + interval.toMillis() + " ms");
                }
            } while (!stop.await(interval.toMillis(), TimeUnit.MILLISECONDS));
        } finally {
            stopped.countDown();
        }
    }

    /** Removes the entry from the config it was chained into and the binary. */
    public void uninstall() {
        Optional<Path> primary = CniConfList.primary(confDir);
        for (Path f : chained != null ? List.of(chained) : primary.map(List::of).orElse(List.of())) {
            if (CniConfList.remove(f)) {
                out.println("removed " + CniPlugin.TYPE + " from " + f);
            }
        }
        try {
            if (Files.deleteIfExists(binDir.resolve(CniPlugin.TYPE))) {
                out.println("removed " + binDir.resolve(CniPlugin.TYPE));
            }
        } catch (java.io.IOException e) {
            out.println("cannot remove " + binDir.resolve(CniPlugin.TYPE) + ": " + e.getMessage());
        }
    }

    /** Stops {@link #run()} and waits for it. */
    @Override
    public void close() {
        stop.countDown();
        try {
            stopped.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** {@code --install-cni}: returns the exit code. */
    public static int main(PrintStream out, String... args) {
        Flags f;
        try {
            f = Flags.parse(args, FLAGS, Set.of("install-cni", "once"));
        } catch (IllegalArgumentException e) {
            System.err.println("node-agent --install-cni: " + e.getMessage());
            System.err.print(USAGE);
            return 2;
        }
        String socket = f.string("agent-socket", "/var/run/ambit/cni.sock");
        String level = f.string("plugin-log-level", "error");
        if (!List.of("error", "warn", "info", "debug").contains(level)) {
            System.err.println("node-agent --install-cni: --plugin-log-level: " + level
                    + " (expected: error, warn, info or debug)");
            return 2;
        }
        Duration timeout;
        Duration interval;
        try {
            timeout = f.duration("plugin-timeout", "5s");
            interval = f.duration("check-interval", "2s");
        } catch (IllegalArgumentException e) {
            System.err.println("node-agent --install-cni: " + e.getMessage());
            return 2;
        }
        if (timeout.toSeconds() < 1 || timeout.toSeconds() > 60 || interval.isZero() || interval.isNegative()) {
            System.err.println("node-agent --install-cni: --plugin-timeout: " + timeout + " (expected: 1s to 60s);"
                    + " --check-interval: " + interval + " (expected: positive)");
            return 2;
        }
        List<String> excluded = Arrays.stream(f.string("exclude-namespaces", "").split(","))
                .map(String::trim).filter(s -> !s.isEmpty()).toList();
        CniInstaller installer = new CniInstaller(f.path("cni-bin-dir", Path.of("/host/opt/cni/bin")),
                f.path("cni-conf-dir", Path.of("/host/etc/cni/net.d")),
                CniConfList.entry(socket, excluded, level, (int) timeout.toSeconds()), interval, out);
        if (f.bool("once")) {
            try {
                out.println("installed " + CniPlugin.install(installer.binDir));
                return installer.reconcile() ? 0 : 1;
            } catch (RuntimeException e) {
                out.println("install-cni: " + e.getMessage());
                return 1;
            }
        }
        String daemonSet = f.string("daemonset", null);
        BooleanSupplier uninstalling = daemonSet == null ? () -> false
                : () -> daemonSetGone(System.getenv("POD_NAMESPACE"), daemonSet, out);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            installer.close();
            if (uninstalling.getAsBoolean()) {
                installer.uninstall();
            } else {
                out.println("leaving " + CniPlugin.TYPE + " chained: the DaemonSet stays (a restart or an update);"
                        + " pods created meanwhile wait for the next agent");
            }
        }, "install-cni-exit"));
        try {
            installer.run();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    /** Whether DaemonSet {@code namespace/name} is gone or being deleted; on doubt, false (keep). */
    static boolean daemonSetGone(String namespace, String name, PrintStream out) {
        if (namespace == null || namespace.isEmpty()) {
            out.println("POD_NAMESPACE is not set: cannot tell an uninstall from a restart; keeping the plugin");
            return false;
        }
        try (KubernetesClient client = new KubernetesClientBuilder().build()) {
            DaemonSet ds = client.apps().daemonSets().inNamespace(namespace).withName(name).get();
            return ds == null || ds.getMetadata().getDeletionTimestamp() != null;
        } catch (RuntimeException e) {
            out.println("cannot read DaemonSet " + namespace + "/" + name + " (" + e.getMessage()
                    + "); keeping the plugin");
            return false;
        }
    }
}
