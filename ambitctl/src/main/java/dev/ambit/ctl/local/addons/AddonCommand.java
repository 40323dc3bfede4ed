package dev.ambit.ctl.local.addons;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterOptions;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.Durations;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.StateDir;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl local addon enable|disable|list}: Istio's sample addons in the local cluster
 * ({@link Addons}).
 */
@Command(name = "addon", mixinStandardHelpOptions = true,
        description = {"Istio's sample addons in the local cluster, as `kubectl apply -f samples/addons/...` adds them.",
                "prometheus: Debian's Prometheus in istio-system (Service prometheus, type LoadBalancer, port 9090),",
                "scraping istiod-lite, the node agents, waypoints, gateways and annotated pods with the conventions",
                "of Istio's samples/addons/prometheus.yaml. Dashboards for it: the repository's dashboards/ folder."},
        subcommands = {AddonCommand.Enable.class, AddonCommand.Disable.class, AddonCommand.ListAddons.class})
public final class AddonCommand {

    private static final long POLL_MILLIS = 200;

    @Command(name = "enable", mixinStandardHelpOptions = true,
            description = "Enables an addon (again, with new settings, if it is enabled) and waits until it is ready.")
    static final class Enable implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(paramLabel = "ADDON", description = "prometheus")
        String name;

        @Option(names = "--scrape-interval", defaultValue = "5s",
                description = "Prometheus's scrape interval (default: ${DEFAULT-VALUE}; 1s-5m).")
        String scrapeInterval;

        @Option(names = "--timeout", defaultValue = "90s",
                description = "How long to wait for the addon to be ready (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Override
        public Integer call() {
            enableAndWait(cluster.state(), name, Durations.parse("--scrape-interval", scrapeInterval),
                    Durations.parse("--timeout", timeout), spec.commandLine().getOut());
            return 0;
        }
    }

    @Command(name = "disable", mixinStandardHelpOptions = true,
            description = "Disables an addon: its objects are deleted, then its files (Prometheus's time series).")
    static final class Disable implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(paramLabel = "ADDON", description = "prometheus")
        String name;

        @Option(names = "--timeout", defaultValue = "60s",
                description = "How long to wait for its pod to be gone (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Override
        public Integer call() {
            disableAndWait(cluster.state(), name, Durations.parse("--timeout", timeout), spec.commandLine().getOut());
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists the addons and whether each is enabled.")
    static final class ListAddons implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Override
        public Integer call() {
            StateDir state = cluster.state();
            ClusterInfo.require(state);
            PrintWriter out = spec.commandLine().getOut();
            List<String> enabled = Addons.enabled(state);
            for (String name : Addons.NAMES) {
                out.println(name + "\t" + (enabled.contains(name) ? "enabled" : "disabled"));
            }
            out.flush();
            return 0;
        }
    }

    /** Checks what {@code local up --addons} asks for before anything is built. */
    public static void check(List<String> names) {
        for (String name : names) {
            Addons.requireKnown(name);
            if (PrometheusAddon.binary().isEmpty()) {
                throw new LocalException("--addons prometheus: the prometheus binary is not installed (expected: Debian's"
                        + " package, apt-get install prometheus; make deps installs it)");
            }
        }
    }

    /**
     * Enables {@code name} and waits until its pod is ready with these settings; prints where it
     * answers.
     */
    public static void enableAndWait(StateDir state, String name, Duration scrapeInterval, Duration timeout,
                                     PrintWriter out) {
        ClusterInfo info = ClusterInfo.require(state);
        Addons.enable(state, name, scrapeInterval);
        out.println("addon " + name + ": enabled (scrape interval " + Durations.format(scrapeInterval) + ")");
        out.flush();
        if (info.controller() == null || !info.controller().alive()) {
            out.println("addon " + name + ": the controller is not running; it starts the addon once it runs"
                    + " (ambitctl local start controller)");
            out.flush();
            return;
        }
        String hash = PrometheusAddon.hash(ScrapeConfig.yaml(scrapeInterval, Addons.layout(state).targets()));
        long deadline = System.nanoTime() + timeout.toNanos();
        String address = null;
        while (true) {
            Optional<ClusterStatus> status = readStatus(state);
            boolean ready = status.map(s -> ready(s, hash)).orElse(false);
            address = status.map(AddonCommand::externalAddress).orElse(null);
            if (ready && address != null) {
                break;
            }
            if (System.nanoTime() > deadline) {
                throw new LocalException("addon " + name + ": not ready after " + timeout.toSeconds() + " s (ambitctl local"
                        + " get pods -n " + PrometheusAddon.NAMESPACE + "; its log: ambitctl local logs -n "
                        + PrometheusAddon.NAMESPACE + " deploy/" + PrometheusAddon.NAME + ")");
            }
            sleep();
        }
        out.println("addon " + name + ": ready at http://" + address + ":" + ScrapeConfig.PORT
                + " (Service " + PrometheusAddon.NAMESPACE + "/" + PrometheusAddon.NAME + "; dashboards: the"
                + " repository's dashboards/ folder)");
        out.flush();
    }

    /** Disables {@code name}, waits for its pod to be gone and removes its files. */
    public static void disableAndWait(StateDir state, String name, Duration timeout, PrintWriter out) {
        ClusterInfo info = ClusterInfo.require(state);
        boolean was = Addons.disable(state, name);
        boolean controller = info.controller() != null && info.controller().alive();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (controller && readStatus(state).map(AddonCommand::hasPod).orElse(false)) {
            if (System.nanoTime() > deadline) {
                throw new LocalException("addon " + name + ": its pod is still there after " + timeout.toSeconds()
                        + " s (ambitctl local get pods -n " + PrometheusAddon.NAMESPACE + ")");
            }
            sleep();
        }
        if (controller) {
            Addons.removeFiles(state, name);
        }
        out.println("addon " + name + ": " + (was ? "disabled" : "was not enabled")
                + (controller ? "" : " (the controller is not running: its pod goes once it runs)"));
        out.flush();
    }

    private static Optional<ClusterStatus> readStatus(StateDir state) {
        try {
            return ClusterStatus.read(state);
        } catch (LocalException e) {
            return Optional.empty(); // being rewritten
        }
    }

    private static boolean isAddonPod(ClusterStatus.Pod p) {
        return p.namespace().equals(PrometheusAddon.NAMESPACE) && p.owner().equals(PrometheusAddon.NAME);
    }

    private static boolean hasPod(ClusterStatus s) {
        return s.pods().stream().anyMatch(AddonCommand::isAddonPod);
    }

    /** One addon pod, with the config of {@code hash}, every container ready; no other (an old one terminating). */
    static boolean ready(ClusterStatus s, String hash) {
        List<ClusterStatus.Pod> pods = s.pods().stream().filter(AddonCommand::isAddonPod).toList();
        return pods.size() == 1 && pods.getFirst().phase().equals("Running")
                && pods.getFirst().ready() == pods.getFirst().containers().size()
                && hash.equals(pods.getFirst().object().path("metadata").path("annotations")
                .path(PrometheusAddon.CONFIG_HASH).asText());
    }

    /** The addon Service's external address, or null before it has one. */
    public static String externalAddress(ClusterStatus s) {
        for (ClusterStatus.Service svc : s.services()) {
            if (svc.namespace().equals(PrometheusAddon.NAMESPACE) && svc.name().equals(PrometheusAddon.NAME)
                    && svc.object() != null) {
                JsonNode ip = svc.object().path("status").path("loadBalancer").path("ingress").path(0).path("ip");
                return ip.isTextual() && !ip.asText().isEmpty() ? ip.asText() : null;
            }
        }
        return null;
    }

    private static void sleep() {
        try {
            Thread.sleep(POLL_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalException("interrupted");
        }
    }
}
