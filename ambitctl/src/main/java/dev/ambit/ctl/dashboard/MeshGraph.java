package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.dashboard.PrometheusClient.Sample;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Assembles the mesh view's graph as Kiali draws a workload graph with service nodes: nodes are
 * workloads and services, an edge is one hop with its request rate, error rate and p99 (HTTP,
 * {@code istio_requests_total}/{@code istio_request_duration_milliseconds_bucket}), its
 * connection rate and whether all of it is mutual TLS (TCP, {@code istio_tcp_connections_opened_total}).
 *
 * <p>A request a waypoint reports goes client → waypoint → service → workload, a request a
 * gateway reports gateway → service → workload, so waypoints and gateways are hops. A
 * connection a node agent reports goes client → service → workload, or client → waypoint when
 * the waypoint is its destination. The same traffic reported by two proxies (source and
 * destination agents) counts once: per edge the largest reporter's figure is taken.
 *
 * <p>L4 denials from the node agents' admin (section {@code denials}) become edges
 * source workload → destination workload carrying each refusing policy and rule, so a denied
 * caller shows even when it never got a byte through. Not thread-safe: one per answer.
 */
final class MeshGraph {

    /** The pod label Gateway API deployments carry, and the class of waypoints. */
    static final String GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name";
    static final String WAYPOINT_CLASS = "istio-waypoint";
    /** Prometheus's name of the waypoint pod's {@code gateway.networking.k8s.io/gateway-name} label. */
    static final String GATEWAY_NAME_TARGET_LABEL = "gateway_networking_k8s_io_gateway_name";
    static final String UNKNOWN = "unknown";

    /** A pod as the view shows it: where it runs and whether its node agent has enrolled it. */
    record Pod(String namespace, String name, String uid, String workload, String node, String ip, String phase,
               Map<String, String> labels) {
        public Pod {
            labels = Map.copyOf(labels);
        }
    }

    private final JsonNodeFactory f = JsonNodeFactory.instance;
    private final Set<String> namespaces;
    private final Map<String, ObjectNode> nodes = new TreeMap<>();
    private final Map<String, Edge> edges = new TreeMap<>();

    private static final class Edge {
        final String source;
        final String target;
        final Map<String, double[]> httpByReporter = new TreeMap<>(); // reporter -> {rps, errors/s}
        final Map<String, Double> tcpByReporter = new TreeMap<>();
        double p99 = Double.NaN;
        boolean tcpPlain;
        boolean tcpMtls;
        final Map<String, ObjectNode> denials = new LinkedHashMap<>();

        Edge(String source, String target) {
            this.source = source;
            this.target = target;
        }
    }

    /**
     * @param namespaces the namespaces asked for; empty for all. A hop is kept when either end
     *        is in one of them, as Kiali keeps the neighbours of a namespace's nodes.
     */
    MeshGraph(Set<String> namespaces) {
        this.namespaces = Set.copyOf(requireNonNull(namespaces, "namespaces"));
    }

    /** Marks the workloads of {@code pods} (waypoints and gateways by their labels) and lists their pods. */
    MeshGraph pods(List<Pod> pods, Set<String> enrolledUids) {
        for (Pod p : pods) {
            if (!wanted(p.namespace())) {
                continue;
            }
            ObjectNode n = workload(p.namespace(), p.workload());
            String kind = kindOf(p.labels());
            if (!kind.equals("workload")) {
                n.put("kind", kind);
            }
            boolean enrolled = enrolledUids.contains(p.uid());
            ArrayNode list = n.withArray("pods");
            list.addObject().put("name", p.name()).put("node", p.node()).put("ip", p.ip()).put("phase", p.phase())
                    .put("enrolment", enrolled ? "enrolled" : ambientOff(p.labels()) ? "not captured" : "not enrolled");
            n.put("enrolled", n.path("enrolled").asInt() + (enrolled ? 1 : 0));
        }
        return this;
    }

    /** Adds {@code sum by (reporter, source/destination labels, response_code, target labels) (rate(istio_requests_total))}. */
    MeshGraph requests(List<Sample> samples) {
        for (Sample s : samples) {
            if (!(s.value() > 0)) {
                continue;
            }
            List<String> path = httpPath(s);
            if (path == null) {
                continue;
            }
            boolean error = s.label("response_code").startsWith("5") || s.label("response_code").equals("0");
            for (int i = 0; i + 1 < path.size(); i++) {
                double[] acc = edge(path.get(i), path.get(i + 1)).httpByReporter
                        .computeIfAbsent(s.label("reporter"), r -> new double[2]);
                acc[0] += s.value();
                if (error) {
                    acc[1] += s.value();
                }
            }
        }
        return this;
    }

    /** Adds the p99 of each hop: {@code histogram_quantile(0.99, ...)} by the same labels as {@link #requests}. */
    MeshGraph p99(List<Sample> samples) {
        for (Sample s : samples) {
            if (Double.isNaN(s.value()) || Double.isInfinite(s.value())) {
                continue;
            }
            List<String> path = httpPath(s);
            if (path == null) {
                continue;
            }
            for (int i = 0; i + 1 < path.size(); i++) {
                Edge e = edges.get(edgeId(path.get(i), path.get(i + 1)));
                if (e != null) { // only hops that carried requests in the window
                    e.p99 = Double.isNaN(e.p99) ? s.value() : Math.max(e.p99, s.value());
                }
            }
        }
        return this;
    }

    /** Adds {@code sum by (reporter, ..., connection_security_policy) (rate(istio_tcp_connections_opened_total))}. */
    MeshGraph connections(List<Sample> samples) {
        // The destination's agent does not know the service the client chose (HBONE names the
        // pod): its report goes through the service the source's report names for the pair.
        Map<String, String> serviceOfPair = new TreeMap<>();
        for (Sample s : samples) {
            String svc = s.value() > 0 ? serviceId(s) : null;
            if (svc != null) {
                serviceOfPair.putIfAbsent(pair(s), svc);
            }
        }
        for (Sample s : samples) {
            if (!(s.value() > 0)) {
                continue;
            }
            String src = workloadId(s.label("source_workload_namespace"), s.label("source_workload"));
            String dst = workloadId(s.label("destination_workload_namespace"), s.label("destination_workload"));
            if (!wanted(s.label("source_workload_namespace")) && !wanted(s.label("destination_workload_namespace"))) {
                continue;
            }
            List<String> path = new ArrayList<>();
            path.add(src);
            String svc = serviceId(s);
            if (svc == null) {
                svc = serviceOfPair.get(pair(s));
            }
            // To a waypoint the service lies beyond it: that hop is the waypoint's own report.
            if (svc != null && !isHop(dst)) {
                path.add(svc);
            }
            path.add(dst);
            boolean mtls = s.label("connection_security_policy").equals("mutual_tls");
            for (int i = 0; i + 1 < path.size(); i++) {
                Edge e = edge(path.get(i), path.get(i + 1));
                e.tcpByReporter.merge(s.label("reporter"), s.value(), Double::sum);
                e.tcpMtls |= mtls;
                e.tcpPlain |= !mtls;
            }
        }
        return this;
    }

    private static String pair(Sample s) {
        return s.label("source_workload_namespace") + "/" + s.label("source_workload") + "->"
                + s.label("destination_workload_namespace") + "/" + s.label("destination_workload");
    }

    /**
     * Adds the denials of one node agent's admin section {@code denials} made at or after
     * {@code since}: grouped per source → destination and per policy, rule and reason.
     */
    MeshGraph denials(String agent, JsonNode section, Instant since) {
        for (JsonNode d : section.path("denials")) {
            Instant at = Instant.parse(d.path("at").asText());
            if (at.isBefore(since)) {
                continue;
            }
            String srcNs = d.path("sourceNamespace").asText();
            String dstNs = d.path("destinationNamespace").asText();
            if (!wanted(srcNs) && !wanted(dstNs)) {
                continue;
            }
            Edge e = edge(workloadId(srcNs, d.path("sourceWorkload").asText()),
                    workloadId(dstNs, d.path("destinationWorkload").asText()));
            String key = d.path("policy").asText() + "#" + d.path("rule").asInt() + "#" + d.path("reason").asText();
            ObjectNode g = e.denials.computeIfAbsent(key, k -> {
                ObjectNode o = f.objectNode();
                o.put("policy", d.path("policy").asText()).put("rule", d.path("rule").asInt())
                        .put("ruleText", d.path("ruleText").asText()).put("reason", d.path("reason").asText())
                        .set("allowPolicies", d.path("allowPolicies").deepCopy());
                o.put("count", 0);
                o.put("agent", agent);
                o.put("sourcePrincipal", d.path("sourcePrincipal").asText());
                return o;
            });
            g.put("count", g.path("count").asInt() + 1);
            g.put("last", d.path("at").asText());
            g.put("destinationPort", d.path("destinationPort").asInt());
        }
        return this;
    }

    /** The graph: {@code {"nodes": [...], "edges": [...]}}, sorted by id. */
    ObjectNode toJson() {
        ObjectNode out = f.objectNode();
        ArrayNode ns = out.putArray("nodes");
        nodes.values().forEach(ns::add);
        ArrayNode es = out.putArray("edges");
        for (Edge e : edges.values()) {
            ObjectNode o = es.addObject();
            o.put("id", edgeId(e.source, e.target)).put("source", e.source).put("target", e.target);
            double[] http = e.httpByReporter.values().stream().max((a, b) -> Double.compare(a[0], b[0])).orElse(null);
            if (http != null) {
                o.put("rps", round(http[0])).put("errorRate", http[0] > 0 ? round(http[1] / http[0]) : 0);
                if (!Double.isNaN(e.p99)) {
                    o.put("p99", round(e.p99));
                }
            }
            double cps = e.tcpByReporter.values().stream().mapToDouble(Double::doubleValue).max().orElse(0);
            if (!e.tcpByReporter.isEmpty()) {
                o.put("cps", round(cps));
            }
            o.put("mtls", e.tcpMtls && !e.tcpPlain);
            ArrayNode protocols = o.putArray("protocols");
            if (http != null) {
                protocols.add("http");
            }
            if (!e.tcpByReporter.isEmpty()) {
                protocols.add("tcp");
            }
            ArrayNode denials = o.putArray("denials");
            e.denials.values().forEach(denials::add);
            o.put("denied", !e.denials.isEmpty());
        }
        return out;
    }

    // ------------------------------------------------------------------ paths and nodes

    /** The hops of one HTTP series, or null when outside the namespaces asked for. */
    private List<String> httpPath(Sample s) {
        String srcNs = s.label("source_workload_namespace");
        String dstNs = s.label("destination_workload_namespace");
        if (!wanted(srcNs) && !wanted(dstNs)) {
            return null;
        }
        List<String> path = new ArrayList<>();
        path.add(workloadId(srcNs, s.label("source_workload")));
        if (s.label("reporter").equals("waypoint") && !s.label(GATEWAY_NAME_TARGET_LABEL).isEmpty()) {
            String wp = workloadId(s.label("namespace"), s.label(GATEWAY_NAME_TARGET_LABEL));
            nodes.get(wp).put("kind", "waypoint");
            path.add(wp);
        }
        String svc = serviceId(s);
        if (svc != null) {
            path.add(svc);
        }
        if (!s.label("destination_workload").isEmpty() && !s.label("destination_workload").equals(UNKNOWN)) {
            path.add(workloadId(dstNs, s.label("destination_workload")));
        }
        return path.size() > 1 ? path : null;
    }

    private String serviceId(Sample s) {
        String host = s.label("destination_service");
        if (host.isEmpty() || host.equals(UNKNOWN)) {
            return null;
        }
        String id = "svc:" + host;
        if (!nodes.containsKey(id)) {
            String name = s.label("destination_service_name");
            String ns = s.label("destination_service_namespace");
            ObjectNode n = f.objectNode().put("id", id).put("kind", "service")
                    .put("name", name.isEmpty() || name.equals(UNKNOWN) ? host : name)
                    .put("namespace", ns.equals(UNKNOWN) ? "" : ns).put("host", host);
            nodes.put(id, n);
        }
        return id;
    }

    private String workloadId(String namespace, String name) {
        workload(namespace, name);
        return id(namespace, name);
    }

    private ObjectNode workload(String namespace, String name) {
        String ns = namespace.isEmpty() ? UNKNOWN : namespace;
        String n = name.isEmpty() ? UNKNOWN : name;
        return nodes.computeIfAbsent(id(ns, n), id -> f.objectNode().put("id", id)
                .put("kind", n.equals(UNKNOWN) ? "unknown" : "workload").put("name", n)
                .put("namespace", ns.equals(UNKNOWN) ? "" : ns));
    }

    private static String id(String namespace, String name) {
        return "wl:" + (namespace.isEmpty() ? UNKNOWN : namespace) + "/" + (name.isEmpty() ? UNKNOWN : name);
    }

    private boolean isHop(String nodeId) {
        ObjectNode n = nodes.get(nodeId);
        return n != null && n.path("kind").asText().equals("waypoint");
    }

    private Edge edge(String source, String target) {
        return edges.computeIfAbsent(edgeId(source, target), k -> new Edge(source, target));
    }

    private static String edgeId(String source, String target) {
        return source + "->" + target;
    }

    private boolean wanted(String namespace) {
        return namespaces.isEmpty() || namespaces.contains(namespace);
    }

    /** waypoint, gateway or workload, from a pod's labels (Gateway API class, Istio's ingress labels). */
    static String kindOf(Map<String, String> labels) {
        String cls = labels.getOrDefault(GATEWAY_CLASS_LABEL, "");
        if (cls.equals(WAYPOINT_CLASS)) {
            return "waypoint";
        }
        if (!cls.isEmpty() || "ingressgateway".equals(labels.get("istio"))) {
            return "gateway";
        }
        return "workload";
    }

    private static boolean ambientOff(Map<String, String> labels) {
        return "none".equals(labels.get("istio.io/dataplane-mode"));
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
