package dev.ambit.ctl.waypoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.Durations;
import dev.ambit.ctl.local.KubectlPrinter;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.Manifests;
import dev.ambit.ctl.local.StateDir;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl waypoint}, as {@code istioctl waypoint}: generate, apply, list, delete and
 * status of waypoint Gateways.
 *
 * <p>Which cluster: {@code --context local} is the local cluster in {@code --state-dir};
 * any other {@code --context} is that kubeconfig context. Without {@code --context}, the
 * local cluster when one is up in {@code --state-dir} (its {@code cluster.json} exists),
 * else the kubeconfig's current context ({@code KUBECONFIG}, {@code ~/.kube/config}), as
 * {@code install} uses it.
 */
@Command(name = "waypoint", mixinStandardHelpOptions = true,
        description = {"Manage waypoints (L7 proxies of the ambient mesh), as istioctl waypoint does.",
                "Cluster: --context local, a kubeconfig context, or by default the local cluster if one is up",
                "in --state-dir, else the kubeconfig's current context."},
        subcommands = {WaypointCommand.Generate.class, WaypointCommand.Apply.class, WaypointCommand.ListCommand.class,
                WaypointCommand.Delete.class, WaypointCommand.Status.class})
public final class WaypointCommand {

    static final String LOCAL = "local";

    @Option(names = "--context", scope = ScopeType.INHERIT, paramLabel = "NAME",
            description = "local (the local cluster) or a kubeconfig context (default: local if a local cluster is up,"
                    + " else the kubeconfig's current context).")
    String context;

    @Option(names = "--state-dir", scope = ScopeType.INHERIT, paramLabel = "DIR", defaultValue = StateDir.DEFAULT,
            description = "The local cluster's state folder (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = {"-n", "--namespace"}, scope = ScopeType.INHERIT, defaultValue = "default",
            description = "Namespace (default: ${DEFAULT-VALUE}).")
    String namespace;

    private final Function<String, KubernetesClient> clients;

    public WaypointCommand() {
        this(context -> context == null ? new KubernetesClientBuilder().build()
                : new KubernetesClientBuilder().withConfig(Config.autoConfigure(context)).build());
    }

    /** @param clients a client for a kubeconfig context (null: the current one) */
    WaypointCommand(Function<String, KubernetesClient> clients) {
        this.clients = clients;
    }

    /** The cluster the flags name (see the class comment). */
    WaypointCluster connect() {
        StateDir state = new StateDir(stateDir);
        if (LOCAL.equals(context) || (context == null && ClusterInfo.read(state).isPresent())) {
            return new LocalWaypointCluster(state);
        }
        return new KubernetesWaypointCluster(clients.apply(context), context == null ? "" : context);
    }

    static PrintWriter out(CommandSpec spec) {
        return spec.commandLine().getOut();
    }

    static Optional<ObjectNode> find(WaypointCluster cluster, String namespace, String name) {
        return cluster.waypoints(namespace).stream()
                .filter(g -> g.path("metadata").path("name").asText().equals(name)).findFirst();
    }

    /**
     * Polls until every waypoint of {@code names} in {@code namespace} is Programmed or
     * {@code timeout} passed; returns their last state (absent ones left out).
     */
    static List<ObjectNode> awaitProgrammed(WaypointCluster cluster, String namespace, List<String> names,
                                            Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<ObjectNode> now = new ArrayList<>();
            for (String n : names) {
                find(cluster, namespace, n).ifPresent(now::add);
            }
            if ((now.size() == names.size() && now.stream().allMatch(WaypointGateway::programmed))
                    || System.nanoTime() > deadline) {
                return now;
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return now;
            }
        }
    }

    /** One row per waypoint: the condition that tells most (Accepted when it is not, else Programmed). */
    static String statusTable(List<ObjectNode> waypoints) {
        List<List<String>> rows = new ArrayList<>();
        for (ObjectNode g : waypoints) {
            JsonNode accepted = WaypointGateway.condition(g, "Accepted");
            JsonNode c = accepted != null && !accepted.path("status").asText().equals("True") ? accepted
                    : WaypointGateway.condition(g, "Programmed");
            rows.add(List.of(g.path("metadata").path("namespace").asText(), g.path("metadata").path("name").asText(),
                    c == null ? "Unknown" : c.path("status").asText(), c == null ? "Programmed" : c.path("type").asText(),
                    c == null ? "" : c.path("reason").asText(),
                    c == null ? "no status yet (is the waypoint controller running?)" : c.path("message").asText()));
        }
        return KubectlPrinter.table(List.of("NAMESPACE", "NAME", "STATUS", "TYPE", "REASON", "MESSAGE"), rows);
    }

    // ------------------------------------------------------------------ generate

    @Command(name = "generate", mixinStandardHelpOptions = true, description = "Prints the waypoint Gateway's YAML.")
    static final class Generate implements Callable<Integer> {
        @Spec CommandSpec spec;
        @ParentCommand WaypointCommand parent;

        @Option(names = "--name", defaultValue = "waypoint", description = "The waypoint's name (default: ${DEFAULT-VALUE}).")
        String name;

        @Option(names = "--for", defaultValue = "service",
                description = "Traffic it takes: service, workload, all or none (default: ${DEFAULT-VALUE}).")
        String waypointFor;

        @Override
        public Integer call() {
            out(spec).print(Manifests.toYaml(WaypointGateway.of(parent.namespace, name, waypointFor)));
            return 0;
        }
    }

    // ------------------------------------------------------------------ apply

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Creates or updates a waypoint; --enroll-namespace sends the namespace's traffic through it.")
    static final class Apply implements Callable<Integer> {
        @Spec CommandSpec spec;
        @ParentCommand WaypointCommand parent;

        @Option(names = "--name", defaultValue = "waypoint", description = "The waypoint's name (default: ${DEFAULT-VALUE}).")
        String name;

        @Option(names = "--for", defaultValue = "service",
                description = "Traffic it takes: service, workload, all or none (default: ${DEFAULT-VALUE}).")
        String waypointFor;

        @Option(names = "--enroll-namespace", description = "Label the namespace istio.io/use-waypoint=NAME.")
        boolean enroll;

        @Option(names = "--wait", description = "Wait until the waypoint is Programmed (ready).")
        boolean await;

        @Option(names = "--timeout", defaultValue = "90s", description = "How long --wait waits (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Override
        public Integer call() {
            String ns = parent.namespace;
            ObjectNode gw = WaypointGateway.of(ns, name, waypointFor);
            Duration wait = Durations.parse("--timeout", timeout);
            try (WaypointCluster cluster = parent.connect()) {
                cluster.apply(gw);
                out(spec).println("waypoint " + ns + "/" + name + " applied");
                if (enroll) {
                    cluster.labelNamespace(ns, WaypointGateway.USE_WAYPOINT, name);
                    out(spec).println("namespace " + ns + " labeled with \"" + WaypointGateway.USE_WAYPOINT + ": " + name + "\"");
                }
                if (!await) {
                    return 0;
                }
                List<ObjectNode> last = awaitProgrammed(cluster, ns, List.of(name), wait);
                if (last.size() == 1 && WaypointGateway.programmed(last.getFirst())) {
                    out(spec).println("waypoint " + ns + "/" + name + " is programmed");
                    return 0;
                }
                spec.commandLine().getErr().print("error: waypoint " + ns + "/" + name + " is not programmed after "
                        + timeout + " in " + cluster.describe() + ":\n" + statusTable(last));
                return 1;
            }
        }
    }

    // ------------------------------------------------------------------ list

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists the waypoints of a namespace (-A: all).")
    static final class ListCommand implements Callable<Integer> {
        @Spec CommandSpec spec;
        @ParentCommand WaypointCommand parent;

        @Option(names = {"-A", "--all-namespaces"}, description = "Every namespace.")
        boolean all;

        @Override
        public Integer call() {
            try (WaypointCluster cluster = parent.connect()) {
                List<ObjectNode> waypoints = cluster.waypoints(all ? null : parent.namespace);
                if (waypoints.isEmpty()) {
                    out(spec).println("No waypoints found.");
                    return 0;
                }
                List<String> header = new ArrayList<>();
                if (all) {
                    header.add("NAMESPACE");
                }
                header.addAll(List.of("NAME", "REVISION", "PROGRAMMED"));
                List<List<String>> rows = new ArrayList<>();
                for (ObjectNode g : waypoints) {
                    List<String> r = new ArrayList<>();
                    if (all) {
                        r.add(g.path("metadata").path("namespace").asText());
                    }
                    JsonNode programmed = WaypointGateway.condition(g, "Programmed");
                    r.addAll(List.of(g.path("metadata").path("name").asText(),
                            g.path("metadata").path("labels").path("istio.io/rev").asText("default"),
                            programmed == null ? "Unknown" : programmed.path("status").asText()));
                    rows.add(r);
                }
                out(spec).print(KubectlPrinter.table(header, rows));
                return 0;
            }
        }
    }

    // ------------------------------------------------------------------ delete

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = "Deletes waypoints by name (default: the one named by --name), or --all of the namespace.")
    static final class Delete implements Callable<Integer> {
        @Spec CommandSpec spec;
        @ParentCommand WaypointCommand parent;

        @Parameters(paramLabel = "NAME", arity = "0..*", description = "Waypoints to delete.")
        List<String> names = List.of();

        @Option(names = "--name", defaultValue = "waypoint", description = "The waypoint when no NAME is given (default: ${DEFAULT-VALUE}).")
        String name;

        @Option(names = "--all", description = "Every waypoint of the namespace.")
        boolean all;

        @Override
        public Integer call() {
            String ns = parent.namespace;
            if (all && !names.isEmpty()) {
                throw new IllegalArgumentException("--all and NAME " + names + " (expected: one of them)");
            }
            try (WaypointCluster cluster = parent.connect()) {
                List<String> targets = all
                        ? cluster.waypoints(ns).stream().map(g -> g.path("metadata").path("name").asText()).toList()
                        : names.isEmpty() ? List.of(name) : names;
                int missing = 0;
                for (String n : targets) {
                    if (cluster.delete(ns, n)) {
                        out(spec).println("waypoint " + ns + "/" + n + " deleted");
                    } else {
                        spec.commandLine().getErr().println("error: waypoint " + ns + "/" + n + " not found in "
                                + cluster.describe() + " (ambitctl waypoint list -n " + ns + " lists them)");
                        missing++;
                    }
                }
                if (all && targets.isEmpty()) {
                    out(spec).println("No waypoints found.");
                }
                return missing == 0 ? 0 : 1;
            }
        }
    }

    // ------------------------------------------------------------------ status

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Shows whether waypoints are Programmed, with the condition's reason and message.",
                    "Exit code 0 when every one shown is Programmed, 1 otherwise."})
    static final class Status implements Callable<Integer> {
        @Spec CommandSpec spec;
        @ParentCommand WaypointCommand parent;

        @Option(names = "--name", description = "Only this waypoint (default: every one of the namespace).")
        String name;

        @Option(names = "--wait", description = "Wait until they are Programmed (up to --timeout).")
        boolean await;

        @Option(names = "--timeout", defaultValue = "90s", description = "How long --wait waits (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Override
        public Integer call() {
            String ns = parent.namespace;
            Duration wait = await ? Durations.parse("--timeout", timeout) : Duration.ZERO;
            try (WaypointCluster cluster = parent.connect()) {
                List<String> names = name != null ? List.of(name)
                        : cluster.waypoints(ns).stream().map(g -> g.path("metadata").path("name").asText()).toList();
                if (names.isEmpty()) {
                    out(spec).println("No waypoints found.");
                    return 1;
                }
                List<ObjectNode> last = awaitProgrammed(cluster, ns, names, wait);
                if (last.isEmpty()) {
                    throw new LocalException("waypoint " + ns + "/" + name + " not found in " + cluster.describe()
                            + " (ambitctl waypoint list -n " + ns + " lists them)");
                }
                out(spec).print(statusTable(last));
                return last.size() == names.size() && last.stream().allMatch(WaypointGateway::programmed) ? 0 : 1;
            }
        }
    }
}
