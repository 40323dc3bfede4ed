package dev.ambit.ctl.local.addons;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.ctl.local.Durations;
import dev.ambit.ctl.local.KubeObject;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.StateDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The local cluster's addons, as {@code kubectl apply -f samples/addons/...} adds them to an
 * Istio cluster: today {@value PrometheusAddon#NAME} ({@link PrometheusAddon}).
 *
 * <p>An addon is enabled while its settings file exists ({@code STATE/addons/NAME/addon.json},
 * written by {@code local up --addons} and {@code local addon enable}, removed by
 * {@code local addon disable}). The controller ({@link #expand}, {@link #publish}, each tick)
 * derives the addon's objects while it is enabled, as it derives the ingress gateway, so the rest
 * of its loop runs them as any applied objects, and keeps Prometheus's file_sd targets in step
 * with the pods. Disabled, the objects are no longer derived and the controller deletes them.
 *
 * <p>Instances belong to the controller's loop thread.
 */
public final class Addons {

    /** The addons there are. */
    public static final List<String> NAMES = List.of(PrometheusAddon.NAME);
    /** Prometheus's scrape interval unless {@code --scrape-interval} says otherwise: short, for local use. */
    public static final Duration DEFAULT_SCRAPE_INTERVAL = Duration.ofSeconds(5);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What {@code addon enable} stores. */
    public record Settings(String scrapeInterval) {

        public Duration interval() {
            return Durations.parse("scrapeInterval", scrapeInterval);
        }
    }

    private final PrometheusAddon.Layout prometheus;
    private final List<ScrapePod> daemons;
    private final Consumer<String> log;
    private FileTime settingsTime;
    private Settings settings;
    private String config;
    private String lastTargets;
    private boolean binaryMissingLogged;

    private Addons(StateDir state, List<ScrapePod> daemons, Consumer<String> log) {
        this.prometheus = layout(state);
        this.daemons = List.copyOf(daemons);
        this.log = log;
    }

    /**
     * The controller's view of the addons of the cluster in {@code state}.
     *
     * @param daemons the mesh's processes that are pods on Kubernetes (node agents, istiod-lite:
     *     {@link ScrapeTargets#nodeAgent}, {@link ScrapeTargets#istiod}), scraped as such
     */
    public static Addons of(StateDir state, List<ScrapePod> daemons, Consumer<String> log) {
        return new Addons(requireNonNull(state, "state"), requireNonNull(daemons, "daemons"), requireNonNull(log, "log"));
    }

    /** Where the Prometheus addon's files are. */
    public static PrometheusAddon.Layout layout(StateDir state) {
        return new PrometheusAddon.Layout(state.root().resolve("addons").resolve(PrometheusAddon.NAME));
    }

    // ------------------------------------------------------------------ the user's side

    /** Checks that {@code name} is an addon. */
    public static String requireKnown(String name) {
        if (!NAMES.contains(name)) {
            throw new LocalException("addon " + name + ": no such addon (expected: " + String.join(", ", NAMES) + ")");
        }
        return name;
    }

    /**
     * Enables addon {@code name} (again, with new settings, if it is already): the controller runs
     * it from its next tick on.
     *
     * @throws LocalException when Debian's prometheus is not installed or the interval is out of range
     */
    public static void enable(StateDir state, String name, Duration scrapeInterval) {
        requireKnown(name);
        requireNonNull(scrapeInterval, "scrapeInterval");
        if (PrometheusAddon.binary().isEmpty()) {
            throw new LocalException("addon prometheus: the prometheus binary is not installed (expected: Debian's"
                    + " package, apt-get install prometheus; make deps installs it)");
        }
        try {
            ScrapeConfig.yaml(scrapeInterval, layout(state).targets()); // checks the interval
        } catch (IllegalArgumentException e) {
            throw new LocalException("--scrape-interval: " + e.getMessage());
        }
        try {
            writeAtomically(layout(state).settings(),
                    JSON.writeValueAsString(new Settings(Durations.format(scrapeInterval))) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot enable addon " + name + ": " + e.getMessage(), e);
        }
    }

    /** Disables addon {@code name}; false if it was not enabled. Its files stay until {@link #removeFiles}. */
    public static boolean disable(StateDir state, String name) {
        requireKnown(name);
        try {
            return Files.deleteIfExists(layout(state).settings());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot disable addon " + name + ": " + e.getMessage(), e);
        }
    }

    /** Removes a disabled addon's config, targets and time series (once its pod is gone). */
    public static void removeFiles(StateDir state, String name) {
        requireKnown(name);
        Path dir = layout(state).dir();
        if (Files.exists(layout(state).settings()) || !Files.isDirectory(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The enabled addons' names. */
    public static List<String> enabled(StateDir state) {
        return Files.isRegularFile(layout(state).settings()) ? List.of(PrometheusAddon.NAME) : List.of();
    }

    // ------------------------------------------------------------------ the controller's side

    /**
     * {@code objects} plus the enabled addons' objects (those not applied under the same kind,
     * namespace and name: the user's win, as with the ingress gateway). Writes Prometheus's
     * config first, so the pod finds it.
     */
    public List<KubeObject> expand(List<KubeObject> objects) {
        Settings s = settings();
        if (s == null) {
            return objects;
        }
        Path binary = PrometheusAddon.binary().orElse(null);
        if (binary == null) {
            if (!binaryMissingLogged) {
                log.accept("addon prometheus: no prometheus binary (apt-get install prometheus): not started");
                binaryMissingLogged = true;
            }
            return objects;
        }
        binaryMissingLogged = false;
        String yaml = ScrapeConfig.yaml(s.interval(), prometheus.targets());
        if (!yaml.equals(config)) {
            try {
                writeAtomically(prometheus.config(), yaml);
                if (!Files.exists(prometheus.targets())) {
                    writeAtomically(prometheus.targets(), "[]\n");
                }
                config = yaml;
            } catch (IOException e) {
                log.accept("addon prometheus: cannot write " + prometheus.config() + " (retrying): " + e);
                return objects;
            }
        }
        Set<String> present = new HashSet<>();
        objects.forEach(o -> present.add(o.kind() + "/" + o.namespace() + "/" + o.name()));
        List<KubeObject> out = new ArrayList<>(objects);
        for (KubeObject o : PrometheusAddon.objects(binary, prometheus, yaml)) {
            if (present.add(o.kind() + "/" + o.namespace() + "/" + o.name())) {
                out.add(o);
            }
        }
        return List.copyOf(out);
    }

    /** Writes Prometheus's file_sd targets for {@code pods} (and the daemons) when the addon is enabled and they changed. */
    public void publish(List<ScrapePod> pods) {
        if (settings == null) {
            lastTargets = null;
            return;
        }
        List<ScrapePod> all = new ArrayList<>(daemons);
        all.addAll(pods);
        String targets = ScrapeTargets.fileSd(all);
        if (targets.equals(lastTargets)) {
            return;
        }
        try {
            writeAtomically(prometheus.targets(), targets);
            lastTargets = targets;
        } catch (IOException e) {
            log.accept("addon prometheus: cannot write " + prometheus.targets() + " (retrying): " + e);
        }
    }

    /** The settings, read again only when the file changed; null while disabled or unreadable. */
    private Settings settings() {
        Path file = prometheus.settings();
        FileTime time;
        try {
            time = Files.getLastModifiedTime(file);
        } catch (NoSuchFileException e) {
            if (settings != null) {
                log.accept("addon prometheus: disabled");
            }
            settings = null;
            settingsTime = null;
            config = null;
            return null;
        } catch (IOException e) {
            return settings;
        }
        if (!time.equals(settingsTime)) {
            try {
                Settings read = JSON.readValue(Files.readString(file), Settings.class);
                read.interval(); // checked here, not in the middle of a tick
                if (settings == null) {
                    log.accept("addon prometheus: enabled (scrape interval " + read.scrapeInterval() + ")");
                }
                settings = read;
                settingsTime = time;
            } catch (IOException | IllegalArgumentException e) {
                log.accept("addon prometheus: cannot read " + file + ": " + e.getMessage());
                settingsTime = time; // logged once per version of the file
            }
        }
        return settings;
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
