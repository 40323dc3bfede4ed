package dev.ambit.ctl.proxyconfig;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterOptions;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.Manifests;
import dev.ambit.ctl.local.NetnsHttp;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl proxy-config listeners|routes|clusters|endpoints|all WAYPOINT}: a waypoint's
 * xDS configuration as {@code istioctl proxy-config} prints an Envoy's, from its admin
 * endpoint ({@code GET 127.0.0.1:15000/config_dump} inside the waypoint pod's network
 * namespace, as {@code ambitctl config} reaches a node agent's). WAYPOINT is a pod
 * ({@code -n NS POD}, {@code NS/POD}) or a waypoint Gateway ({@code NS/NAME}, {@code -n NS
 * NAME}: its first running pod, by the label {@code gateway.networking.k8s.io/gateway-name}).
 * {@code --file} reads a saved dump instead.
 */
@Command(name = "proxy-config", aliases = "pc", mixinStandardHelpOptions = true,
        description = {"Shows a waypoint's Envoy configuration (listeners, routes, clusters, endpoints), from its",
                "admin config dump, as istioctl proxy-config does. TYPE: listeners, routes, clusters, endpoints,",
                "or all (the whole dump, JSON)."})
public final class ProxyConfigCommand implements Callable<Integer> {

    /** The label a waypoint pod carries naming its Gateway. */
    static final String GATEWAY_LABEL = "gateway.networking.k8s.io/gateway-name";

    @Spec CommandSpec spec;
    @Mixin ClusterOptions cluster;

    @Parameters(index = "0", paramLabel = "TYPE", description = "listeners, routes, clusters, endpoints or all.")
    String type;

    @Parameters(index = "1", arity = "0..1", paramLabel = "WAYPOINT",
            description = "The waypoint: POD, NS/POD, or a waypoint Gateway NS/NAME (not needed with --file).")
    String target;

    @Option(names = {"-n", "--namespace"}, description = "The waypoint's namespace (default: default).")
    String namespace;

    @Option(names = {"-o", "--output"}, description = "table (default) or json.")
    String output;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the config dump from FILE (JSON).")
    Path file;

    @Override
    public Integer call() {
        boolean json = "json".equals(output);
        if (output != null && !json && !"table".equals(output)) {
            throw new IllegalArgumentException("-o " + output + " (expected: table or json)");
        }
        boolean all = type.equals("all");
        ProxyConfigPrinter.Kind kind = all ? null : ProxyConfigPrinter.Kind.parse(type);
        JsonNode dump = file != null ? read(file) : fetch();
        if (all) {
            spec.commandLine().getOut().print(Manifests.toJson(dump));
        } else {
            spec.commandLine().getOut().print(json ? ProxyConfigPrinter.json(dump, kind)
                    : ProxyConfigPrinter.table(dump, kind));
        }
        return 0;
    }

    private JsonNode fetch() {
        if (target == null) {
            throw new IllegalArgumentException("missing WAYPOINT (expected: POD, NS/POD or a waypoint Gateway NS/NAME; "
                    + "or --file FILE)");
        }
        ClusterStatus status = ClusterStatus.require(cluster.state());
        ClusterStatus.Pod pod = resolve(status, namespace, target);
        if (!pod.phase().equals("Running") || pod.netns().isEmpty()) {
            throw new LocalException("waypoint pod " + pod.key() + " is " + pod.phase()
                    + (pod.reason().isEmpty() ? "" : " (" + pod.reason() + ")") + ": its admin endpoint needs a running pod");
        }
        NetnsHttp.Response r;
        try {
            r = NetnsHttp.get(pod.netns(), "127.0.0.1", IstioPorts.ADMIN, "/config_dump", Duration.ofSeconds(10));
        } catch (IOException e) {
            throw new LocalException("waypoint " + pod.key() + " does not answer on 127.0.0.1:" + IstioPorts.ADMIN
                    + " in its pod: " + e.getMessage() + " (is it a waypoint? ambitctl local get pods -n "
                    + pod.namespace() + ")");
        }
        if (r.status() != 200) {
            throw new LocalException("waypoint " + pod.key() + ": /config_dump answered " + r.status() + ": " + r.body());
        }
        return parse(r.body(), "waypoint " + pod.key() + ": /config_dump");
    }

    /**
     * The pod {@code target} names: {@code NS/NAME} or {@code NAME} (namespace from {@code -n},
     * else {@code default}), a pod of that name, else the first running pod of the waypoint
     * Gateway of that name.
     */
    static ClusterStatus.Pod resolve(ClusterStatus status, String namespaceFlag, String target) {
        String ns = namespaceFlag != null ? namespaceFlag : "default";
        String name = target;
        int slash = target.indexOf('/');
        if (slash > 0 && !target.startsWith("pod/") && !target.startsWith("deploy")) {
            ns = target.substring(0, slash);
            name = target.substring(slash + 1);
        }
        String gateway = name;
        String namespace = ns;
        return status.pods().stream()
                .filter(p -> p.namespace().equals(namespace) && p.name().equals(gateway))
                .findFirst()
                .or(() -> status.pods().stream()
                        .filter(p -> p.namespace().equals(namespace)
                                && gateway.equals(p.labels() == null ? null : p.labels().get(GATEWAY_LABEL)))
                        .sorted(Comparator.comparing((ClusterStatus.Pod p) -> !p.phase().equals("Running"))
                                .thenComparing(ClusterStatus.Pod::name))
                        .findFirst())
                .orElseThrow(() -> new LocalException("no waypoint pod " + namespace + "/" + gateway + " and no pod of "
                        + "the waypoint Gateway " + namespace + "/" + gateway + " (ambitctl local get pods -n " + namespace
                        + " lists them; ambitctl waypoint list shows the waypoints)"));
    }

    private static JsonNode read(Path file) {
        try {
            return parse(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new LocalException(file + ": cannot read: " + e.getMessage());
        }
    }

    private static JsonNode parse(String body, String what) {
        try {
            return Manifests.JSON.readTree(body);
        } catch (IOException e) {
            throw new LocalException(what + " is not JSON: " + e.getMessage());
        }
    }
}
