package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Output shaped like kubectl's: the same columns, padding, ages and {@code -o} formats,
 * so habits and scripts carry over. Pure functions of their input.
 */
public final class KubectlPrinter {

    /** kubectl's {@code -o}: the default table, {@code wide}, {@code json}, {@code yaml}, {@code name}. */
    public enum Format {
        TABLE, WIDE, JSON, YAML, NAME;

        /** Parses {@code -o}; null or empty is the table. */
        public static Format parse(String o) {
            if (o == null || o.isEmpty()) {
                return TABLE;
            }
            return switch (o) {
                case "wide" -> WIDE;
                case "json" -> JSON;
                case "yaml" -> YAML;
                case "name" -> NAME;
                default -> throw new IllegalArgumentException("-o " + o + " (expected: wide, json, yaml or name)");
            };
        }
    }

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private KubectlPrinter() {
    }

    /** Columns padded as kubectl's tabwriter does: each as wide as its widest cell, three spaces apart. */
    public static String table(List<String> header, List<List<String>> rows) {
        requireNonNull(header, "header");
        requireNonNull(rows, "rows");
        int[] width = new int[header.size()];
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(rows);
        for (List<String> r : all) {
            for (int i = 0; i < r.size(); i++) {
                width[i] = Math.max(width[i], r.get(i).length());
            }
        }
        StringBuilder out = new StringBuilder();
        for (List<String> r : all) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < r.size(); i++) {
                line.append(r.get(i));
                if (i < r.size() - 1) {
                    line.append(" ".repeat(width[i] - r.get(i).length() + 3));
                }
            }
            out.append(line.toString().stripTrailing()).append('\n');
        }
        return out.toString();
    }

    /** kubectl's age: {@code 45s}, {@code 3m20s}, {@code 12m}, {@code 5h3m}, {@code 20h}, {@code 3d4h}, {@code 12d}. */
    public static String age(Instant since, Instant now) {
        if (since == null) {
            return "<unknown>";
        }
        Duration d = Duration.between(since, now);
        long s = Math.max(0, d.toSeconds());
        if (s < 120) {
            return s + "s";
        }
        long m = s / 60;
        if (m < 10) {
            return m + "m" + (s % 60 == 0 ? "" : (s % 60) + "s");
        }
        if (m < 180) {
            return m + "m";
        }
        long h = m / 60;
        if (h < 8) {
            return h + "h" + (m % 60 == 0 ? "" : (m % 60) + "m");
        }
        if (h < 48) {
            return h + "h";
        }
        long days = h / 24;
        if (h < 24 * 8) {
            return days + "d" + (h % 24 == 0 ? "" : (h % 24) + "h");
        }
        if (days < 365 * 2) {
            return days + "d";
        }
        return (days / 365) + "y" + (days % 365 == 0 ? "" : (days % 365) + "d");
    }

    private static Instant instant(String s) {
        try {
            return s == null || s.isEmpty() ? null : Instant.parse(s);
        } catch (RuntimeException e) {
            return null;
        }
    }

    // ------------------------------------------------------------------ nodes

    /** A node as {@code get nodes} shows it. */
    public record NodeRow(String name, String address, String podCidr, boolean ready, String createdAt,
                          String kernel) {}

    public static String nodes(List<NodeRow> nodes, Format f, Instant now) {
        return switch (f) {
            case JSON -> Manifests.toJson(list(nodes.stream().map(KubectlPrinter::nodeObject).toList()));
            case YAML -> Manifests.toYaml(list(nodes.stream().map(KubectlPrinter::nodeObject).toList()));
            case NAME -> nodes.stream().map(n -> "node/" + n.name() + "\n").collect(Collectors.joining());
            case TABLE, WIDE -> {
                List<String> header = new ArrayList<>(List.of("NAME", "STATUS", "ROLES", "AGE", "VERSION"));
                if (f == Format.WIDE) {
                    header.addAll(List.of("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"));
                }
                List<List<String>> rows = new ArrayList<>();
                for (NodeRow n : nodes) {
                    List<String> r = new ArrayList<>(List.of(n.name(), n.ready() ? "Ready" : "NotReady", "<none>",
                            age(instant(n.createdAt()), now), "ambit-local"));
                    if (f == Format.WIDE) {
                        r.addAll(List.of(n.address(), "<none>", "network namespace", n.kernel(), "ambit-local"));
                    }
                    rows.add(r);
                }
                yield table(header, rows);
            }
        };
    }

    static ObjectNode nodeObject(NodeRow n) {
        ObjectNode o = NODES.objectNode();
        o.put("apiVersion", "v1").put("kind", "Node");
        ObjectNode meta = o.putObject("metadata");
        meta.put("name", n.name()).put("creationTimestamp", n.createdAt());
        meta.putObject("labels").put("kubernetes.io/hostname", n.name()).put("kubernetes.io/os", "linux");
        o.putObject("spec").put("podCIDR", n.podCidr()).putArray("podCIDRs").add(n.podCidr());
        ObjectNode status = o.putObject("status");
        ArrayNode addresses = status.putArray("addresses");
        addresses.addObject().put("type", "InternalIP").put("address", n.address());
        addresses.addObject().put("type", "Hostname").put("address", n.name());
        status.putArray("conditions").addObject().put("type", "Ready").put("status", n.ready() ? "True" : "False");
        status.putObject("nodeInfo").put("kernelVersion", n.kernel()).put("containerRuntimeVersion", "ambit-local");
        return o;
    }

    // ------------------------------------------------------------------ pods

    /** {@code get pods}; {@code allNamespaces} adds the NAMESPACE column as {@code -A} does. */
    public static String pods(List<ClusterStatus.Pod> pods, Format f, boolean allNamespaces, Instant now) {
        return switch (f) {
            case JSON -> Manifests.toJson(list(pods.stream().map(KubectlPrinter::podObject).toList()));
            case YAML -> Manifests.toYaml(list(pods.stream().map(KubectlPrinter::podObject).toList()));
            case NAME -> pods.stream().map(p -> "pod/" + p.name() + "\n").collect(Collectors.joining());
            case TABLE, WIDE -> {
                List<String> header = new ArrayList<>();
                if (allNamespaces) {
                    header.add("NAMESPACE");
                }
                header.addAll(List.of("NAME", "READY", "STATUS", "RESTARTS", "AGE"));
                if (f == Format.WIDE) {
                    header.addAll(List.of("IP", "NODE", "NOMINATED NODE", "READINESS GATES"));
                }
                List<List<String>> rows = new ArrayList<>();
                for (ClusterStatus.Pod p : pods) {
                    List<String> r = new ArrayList<>();
                    if (allNamespaces) {
                        r.add(p.namespace());
                    }
                    r.addAll(List.of(p.name(), p.ready() + "/" + Math.max(p.containers().size(), 1), podStatus(p),
                            String.valueOf(p.restarts()), age(instant(p.createdAt()), now)));
                    if (f == Format.WIDE) {
                        r.addAll(List.of(p.ip().isEmpty() ? "<none>" : p.ip(), p.node().isEmpty() ? "<none>" : p.node(),
                                "<none>", "<none>"));
                    }
                    rows.add(r);
                }
                yield table(header, rows);
            }
        };
    }

    /** kubectl's STATUS column: a waiting or terminated container's reason, else the phase. */
    public static String podStatus(ClusterStatus.Pod p) {
        if (p.phase().equals("Pending")) {
            return p.reason().isEmpty() || p.reason().equals("ContainerCreating") ? "ContainerCreating" : "Pending";
        }
        if (p.phase().equals("Succeeded")) {
            return "Completed";
        }
        if (p.phase().equals("Failed")) {
            return "Error";
        }
        for (ClusterStatus.Container c : p.containers()) {
            if (c.state().equals("waiting") && !c.reason().isEmpty()) {
                return c.reason();
            }
        }
        for (ClusterStatus.Container c : p.containers()) {
            if (c.state().equals("terminated")) {
                return c.reason();
            }
        }
        return p.phase();
    }

    static ObjectNode podObject(ClusterStatus.Pod p) {
        if (p.object() != null) {
            return p.object();
        }
        // Not created yet: what is known.
        ObjectNode o = NODES.objectNode();
        o.put("apiVersion", "v1").put("kind", "Pod");
        ObjectNode meta = o.putObject("metadata");
        meta.put("name", p.name()).put("namespace", p.namespace());
        ObjectNode labels = meta.putObject("labels");
        p.labels().forEach(labels::put);
        o.putObject("spec").put("nodeName", p.node());
        o.putObject("status").put("phase", p.phase()).put("reason", p.reason());
        return o;
    }

    // ------------------------------------------------------------------ services

    public static String services(List<ClusterStatus.Service> services, Format f, boolean allNamespaces, Instant now) {
        return switch (f) {
            case JSON -> Manifests.toJson(list(services.stream().map(ClusterStatus.Service::object).map(JsonNode.class::cast).toList()));
            case YAML -> Manifests.toYaml(list(services.stream().map(ClusterStatus.Service::object).map(JsonNode.class::cast).toList()));
            case NAME -> services.stream().map(s -> "service/" + s.name() + "\n").collect(Collectors.joining());
            case TABLE, WIDE -> {
                List<String> header = new ArrayList<>();
                if (allNamespaces) {
                    header.add("NAMESPACE");
                }
                header.addAll(List.of("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"));
                if (f == Format.WIDE) {
                    header.add("SELECTOR");
                }
                List<List<String>> rows = new ArrayList<>();
                for (ClusterStatus.Service s : services) {
                    List<String> r = new ArrayList<>();
                    if (allNamespaces) {
                        r.add(s.namespace());
                    }
                    r.addAll(List.of(s.name(), s.type(), s.clusterIp(), externalIp(s), s.ports(),
                            age(instant(s.createdAt()), now)));
                    if (f == Format.WIDE) {
                        r.add(selector(s.selector()));
                    }
                    rows.add(r);
                }
                yield table(header, rows);
            }
        };
    }

    /**
     * kubectl's EXTERNAL-IP: a LoadBalancer Service's {@code status.loadBalancer.ingress} addresses,
     * {@code <pending>} while it has none, {@code <none>} for other types.
     */
    static String externalIp(ClusterStatus.Service s) {
        if (!"LoadBalancer".equals(s.type())) {
            return "<none>";
        }
        List<String> ips = new ArrayList<>();
        JsonNode ingress = s.object() == null ? null : s.object().path("status").path("loadBalancer").path("ingress");
        if (ingress != null) {
            ingress.forEach(i -> ips.add(i.path("ip").asText(i.path("hostname").asText())));
        }
        return ips.isEmpty() ? "<pending>" : String.join(",", ips);
    }

    static String selector(Map<String, String> selector) {
        if (selector.isEmpty()) {
            return "<none>";
        }
        return selector.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
    }

    // ------------------------------------------------------------------ deployments, namespaces

    /** A Deployment as {@code get deployments} shows it: desired replicas and its pods now. */
    public record DeploymentRow(KubeObject object, int replicas, int ready, int upToDate, String createdAt) {}

    public static String deployments(List<DeploymentRow> rows, Format f, boolean allNamespaces, Instant now) {
        return switch (f) {
            case JSON -> Manifests.toJson(list(rows.stream().map(KubectlPrinter::deploymentObject).toList()));
            case YAML -> Manifests.toYaml(list(rows.stream().map(KubectlPrinter::deploymentObject).toList()));
            case NAME -> rows.stream().map(r -> "deployment.apps/" + r.object().name() + "\n").collect(Collectors.joining());
            case TABLE, WIDE -> {
                List<String> header = new ArrayList<>();
                if (allNamespaces) {
                    header.add("NAMESPACE");
                }
                header.addAll(List.of("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"));
                if (f == Format.WIDE) {
                    header.addAll(List.of("CONTAINERS", "IMAGES", "SELECTOR"));
                }
                List<List<String>> table = new ArrayList<>();
                for (DeploymentRow r : rows) {
                    List<String> row = new ArrayList<>();
                    if (allNamespaces) {
                        row.add(r.object().namespace());
                    }
                    row.addAll(List.of(r.object().name(), r.ready() + "/" + r.replicas(), String.valueOf(r.upToDate()),
                            String.valueOf(r.ready()), age(instant(r.createdAt()), now)));
                    if (f == Format.WIDE) {
                        List<String> names = new ArrayList<>();
                        List<String> images = new ArrayList<>();
                        for (JsonNode c : r.object().spec().path("template").path("spec").path("containers")) {
                            names.add(c.path("name").asText());
                            images.add(c.path("image").asText("<none>"));
                        }
                        row.addAll(List.of(String.join(",", names), String.join(",", images),
                                selector(KubeObject.stringMap(r.object().spec().path("selector").path("matchLabels")))));
                    }
                    table.add(row);
                }
                yield table(header, table);
            }
        };
    }

    static ObjectNode deploymentObject(DeploymentRow r) {
        ObjectNode o = r.object().tree();
        o.withObjectProperty("status").put("replicas", r.upToDate()).put("readyReplicas", r.ready())
                .put("availableReplicas", r.ready()).put("updatedReplicas", r.upToDate());
        return o;
    }

    /** {@code get namespaces}: name to creation time ("" when unknown). */
    public static String namespaces(Map<String, String> namespaces, Format f, Instant now) {
        List<ObjectNode> objects = new ArrayList<>();
        namespaces.forEach((name, created) -> {
            ObjectNode o = NODES.objectNode();
            o.put("apiVersion", "v1").put("kind", "Namespace");
            o.putObject("metadata").put("name", name).put("creationTimestamp", created);
            o.putObject("status").put("phase", "Active");
            objects.add(o);
        });
        return switch (f) {
            case JSON -> Manifests.toJson(list(objects));
            case YAML -> Manifests.toYaml(list(objects));
            case NAME -> namespaces.keySet().stream().map(n -> "namespace/" + n + "\n").collect(Collectors.joining());
            case TABLE, WIDE -> table(List.of("NAME", "STATUS", "AGE"), namespaces.entrySet().stream()
                    .map(e -> List.of(e.getKey(), "Active", age(instant(e.getValue()), now))).toList());
        };
    }

    // ------------------------------------------------------------------ gateways

    /**
     * Gateway API Gateways as {@code kubectl get gateways} prints them: NAME, CLASS, ADDRESS
     * (the first of {@code status.addresses}), PROGRAMMED (that condition's status, blank without one), AGE.
     */
    public static String gateways(List<ObjectNode> gateways, Format f, boolean allNamespaces, Instant now) {
        return switch (f) {
            case JSON -> Manifests.toJson(list(gateways));
            case YAML -> Manifests.toYaml(list(gateways));
            case NAME -> gateways.stream().map(g -> "gateway.gateway.networking.k8s.io/"
                    + g.path("metadata").path("name").asText() + "\n").collect(Collectors.joining());
            case TABLE, WIDE -> {
                List<String> header = new ArrayList<>();
                if (allNamespaces) {
                    header.add("NAMESPACE");
                }
                header.addAll(List.of("NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"));
                List<List<String>> rows = new ArrayList<>();
                for (ObjectNode g : gateways) {
                    List<String> r = new ArrayList<>();
                    if (allNamespaces) {
                        r.add(g.path("metadata").path("namespace").asText());
                    }
                    r.addAll(List.of(g.path("metadata").path("name").asText(), g.path("spec").path("gatewayClassName").asText(),
                            g.path("status").path("addresses").path(0).path("value").asText(""),
                            condition(g, "Programmed").path("status").asText(""),
                            age(instant(g.path("metadata").path("creationTimestamp").asText()), now)));
                    rows.add(r);
                }
                yield table(header, rows);
            }
        };
    }

    /**
     * Gateway API routes ({@code kind}: HTTPRoute or GRPCRoute) as {@code kubectl get} prints
     * them with the CRDs' printer columns: NAME, HOSTNAMES (the list as kubectl shows it), AGE.
     */
    public static String routes(String kind, List<ObjectNode> routes, Format f, boolean allNamespaces, Instant now) {
        return switch (f) {
            case JSON -> Manifests.toJson(list(routes));
            case YAML -> Manifests.toYaml(list(routes));
            case NAME -> routes.stream().map(r -> kind.toLowerCase(java.util.Locale.ROOT)
                    + ".gateway.networking.k8s.io/" + r.path("metadata").path("name").asText() + "\n")
                    .collect(Collectors.joining());
            case TABLE, WIDE -> {
                List<String> header = new ArrayList<>();
                if (allNamespaces) {
                    header.add("NAMESPACE");
                }
                header.addAll(List.of("NAME", "HOSTNAMES", "AGE"));
                List<List<String>> rows = new ArrayList<>();
                for (ObjectNode r : routes) {
                    List<String> row = new ArrayList<>();
                    if (allNamespaces) {
                        row.add(r.path("metadata").path("namespace").asText());
                    }
                    List<String> hostnames = new ArrayList<>();
                    r.path("spec").path("hostnames").forEach(h -> hostnames.add("\"" + h.asText() + "\""));
                    row.addAll(List.of(r.path("metadata").path("name").asText(),
                            hostnames.isEmpty() ? "" : "[" + String.join(",", hostnames) + "]",
                            age(instant(r.path("metadata").path("creationTimestamp").asText()), now)));
                    rows.add(row);
                }
                yield table(header, rows);
            }
        };
    }

    /** The object's {@code status.conditions} entry of {@code type}, or a missing node. */
    public static JsonNode condition(JsonNode object, String type) {
        for (JsonNode c : object.path("status").path("conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c;
            }
        }
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }

    /** A Kubernetes List, as {@code kubectl get -o json} prints several objects. */
    public static ObjectNode list(List<? extends JsonNode> items) {
        ObjectNode o = NODES.objectNode();
        o.put("apiVersion", "v1");
        ArrayNode a = o.putArray("items");
        items.forEach(a::add);
        o.put("kind", "List");
        o.putObject("metadata").put("resourceVersion", "");
        return o;
    }
}
