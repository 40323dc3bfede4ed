package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.LocalCommand.err;
import static dev.ambit.ctl.local.LocalCommand.out;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code ambitctl local get}: the cluster's objects as kubectl would list them. */
@Command(name = "get", mixinStandardHelpOptions = true,
        description = "Lists nodes, pods, services, deployments, gateways, httproutes, grpcroutes or namespaces, "
                + "shaped like kubectl's output.")
final class GetCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ClusterOptions cluster;

    @Parameters(index = "0", paramLabel = "TYPE", description = "nodes, pods, services, deployments, gateways, httproutes, grpcroutes or namespaces "
            + "(no, po, svc, deploy, gtw, ns).")
    String type;

    @Parameters(index = "1..*", paramLabel = "NAME", description = "Only these names.")
    List<String> names = List.of();

    @Option(names = {"-n", "--namespace"}, description = "Namespace (default: default).")
    String namespace;

    @Option(names = {"-A", "--all-namespaces"}, description = "Every namespace.")
    boolean all;

    @Option(names = {"-l", "--selector"}, description = "Label selector: key=value, key!=value, key, !key; comma-separated.")
    String selector;

    @Option(names = {"-o", "--output"}, description = "wide, json, yaml or name.")
    String output;

    @Override
    public Integer call() {
        StateDir state = cluster.state();
        KubectlPrinter.Format format = KubectlPrinter.Format.parse(output);
        Selector sel = Selector.parse(selector);
        String ns = namespace != null ? namespace : "default";
        Instant now = Instant.now();
        String kind = ManifestStore.kindKey(type);
        String text;
        int count;
        switch (kind) {
            case "no", "node", "nodes" -> {
                ClusterInfo info = ClusterInfo.require(state);
                String kernel = System.getProperty("os.version");
                List<KubectlPrinter.NodeRow> rows = info.nodes().stream()
                        .filter(n -> names.isEmpty() || names.contains(n.name()))
                        .filter(n -> sel.matches(Map.of("kubernetes.io/hostname", n.name())))
                        .map(n -> new KubectlPrinter.NodeRow(n.name(), n.address(), n.podCidr(),
                                n.agent() != null && n.agent().alive() && LocalCluster.agentReady(n), info.createdAt(),
                                kernel))
                        .toList();
                count = rows.size();
                text = KubectlPrinter.nodes(rows, format, now);
            }
            case "pod" -> {
                List<ClusterStatus.Pod> pods = ClusterStatus.require(state).pods().stream()
                        .filter(p -> all || p.namespace().equals(ns))
                        .filter(p -> names.isEmpty() || names.contains(p.name()))
                        .filter(p -> sel.matches(p.labels()))
                        .sorted(Comparator.comparing(ClusterStatus.Pod::namespace).thenComparing(ClusterStatus.Pod::name))
                        .toList();
                count = pods.size();
                text = KubectlPrinter.pods(pods, format, all, now);
            }
            case "service" -> {
                List<ClusterStatus.Service> svcs = ClusterStatus.require(state).services().stream()
                        .filter(s -> all || s.namespace().equals(ns))
                        .filter(s -> names.isEmpty() || names.contains(s.name()))
                        .filter(s -> sel.matches(s.labels()))
                        .toList();
                count = svcs.size();
                text = KubectlPrinter.services(svcs, format, all, now);
            }
            case "deployment" -> {
                ClusterInfo info = ClusterInfo.require(state);
                List<ClusterStatus.Pod> pods = ClusterStatus.require(state).pods();
                List<KubectlPrinter.DeploymentRow> rows = new ArrayList<>();
                // With the waypoints' and class istio gateways' Deployments, which the controller
                // derives from their Gateways, and the demo ingress gateway's.
                Waypoints.Launch launch = Waypoints.Launch.of(state, java.nio.file.Path.of(info.home()));
                Waypoints wp = new Waypoints(launch);
                List<KubeObject> objects = new IstioGatewayDeployments(wp)
                        .expand(wp.expand(new ManifestStore(state).all()).objects());
                if (Boolean.TRUE.equals(info.ingress())) {
                    objects = new IstioIngress(launch).expand(objects);
                }
                for (KubeObject d : objects) {
                    if (!d.kind().equals("Deployment") || !(all || d.namespace().equals(ns))
                            || !(names.isEmpty() || names.contains(d.name())) || !sel.matches(d.labels())) {
                        continue;
                    }
                    String hash = Deployments.templateHash(d);
                    List<ClusterStatus.Pod> mine = pods.stream()
                            .filter(p -> p.namespace().equals(d.namespace()) && p.owner().equals(d.name())).toList();
                    int ready = (int) mine.stream().filter(p -> p.phase().equals("Running")
                            && p.ready() == p.containers().size() && !p.containers().isEmpty()).count();
                    int upToDate = (int) mine.stream()
                            .filter(p -> hash.equals(p.labels().get(Deployments.TEMPLATE_HASH_LABEL))).count();
                    rows.add(new KubectlPrinter.DeploymentRow(d, Deployments.replicas(d), ready, upToDate,
                            KubeObject.text(d.tree().path("metadata").path("creationTimestamp"))));
                }
                count = rows.size();
                text = KubectlPrinter.deployments(rows, format, all, now);
            }
            case "gateway" -> {
                List<com.fasterxml.jackson.databind.node.ObjectNode> gws = ClusterStatus.require(state).gateways().stream()
                        .filter(g -> all || g.path("metadata").path("namespace").asText().equals(ns))
                        .filter(g -> names.isEmpty() || names.contains(g.path("metadata").path("name").asText()))
                        .filter(g -> sel.matches(KubeObject.stringMap(g.path("metadata").path("labels"))))
                        .toList();
                count = gws.size();
                text = KubectlPrinter.gateways(gws, format, all, now);
            }
            case "httproute", "grpcroute" -> {
                String routeKind = kind.equals("httproute") ? "HTTPRoute" : "GRPCRoute";
                // As stored, with the status the controller gave the mesh's routes.
                Map<String, com.fasterxml.jackson.databind.node.ObjectNode> withStatus = new java.util.HashMap<>();
                ClusterStatus.read(state).ifPresent(st -> st.routes().forEach(r -> withStatus.put(
                        r.path("kind").asText() + "/" + r.path("metadata").path("namespace").asText() + "/"
                                + r.path("metadata").path("name").asText(), r)));
                List<com.fasterxml.jackson.databind.node.ObjectNode> routes = new ArrayList<>();
                for (KubeObject o : new ManifestStore(state).all()) {
                    if (o.kind().equals(routeKind) && o.group().equals(Waypoints.GATEWAY_GROUP)
                            && (all || o.namespace().equals(ns)) && (names.isEmpty() || names.contains(o.name()))
                            && sel.matches(o.labels())) {
                        routes.add(withStatus.getOrDefault(routeKind + "/" + o.namespace() + "/" + o.name(),
                                o.tree()));
                    }
                }
                count = routes.size();
                text = KubectlPrinter.routes(routeKind, routes, format, all, now);
            }
            case "namespace" -> {
                ClusterInfo info = ClusterInfo.require(state);
                Map<String, String> nss = new java.util.TreeMap<>();
                nss.put("default", info.createdAt());
                for (KubeObject o : new ManifestStore(state).all()) {
                    if (o.kind().equals("Namespace")) {
                        nss.put(o.name(), KubeObject.text(o.tree().path("metadata").path("creationTimestamp")));
                    } else if (o.namespaced()) {
                        nss.putIfAbsent(o.namespace(), "");
                    }
                }
                nss.keySet().removeIf(n -> !names.isEmpty() && !names.contains(n));
                count = nss.size();
                text = KubectlPrinter.namespaces(nss, format, now);
            }
            default -> throw new LocalException("get " + type
                    + ": unknown type (expected: nodes, pods, services, deployments, gateways, httproutes, grpcroutes or "
                    + "namespaces)");
        }
        if (count == 0 && (format == KubectlPrinter.Format.TABLE || format == KubectlPrinter.Format.WIDE)) {
            err(spec).println(kind.startsWith("no") || kind.equals("namespace") || all ? "No resources found"
                    : "No resources found in " + ns + " namespace.");
            return 0;
        }
        out(spec).print(text);
        return 0;
    }
}
