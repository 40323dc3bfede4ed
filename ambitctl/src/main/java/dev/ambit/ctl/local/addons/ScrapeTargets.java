package dev.ambit.ctl.local.addons;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.IstioPorts;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The targets of the {@code kubernetes-pods} job as Prometheus's Kubernetes service discovery
 * ({@code role: pod}) would produce them, written as a {@code file_sd_configs} file because local
 * mode has no API server to discover from. Each pod becomes one target group whose labels are the
 * {@code __meta_kubernetes_*} labels Kubernetes SD sets, so Istio's own relabelings
 * ({@link ScrapeConfig}) give the same {@code namespace}, {@code pod}, {@code app}, ... labels as
 * on a cluster. One target per pod (Kubernetes SD makes one per container port, which
 * the relabeling to {@code prometheus.io/port} collapses into one anyway).
 *
 * <p>Besides the controller's pods: every node agent as the pod Istio's ztunnel DaemonSet
 * would run on that node ({@code istio-system/ztunnel-<node>}, {@code app: ztunnel},
 * scraped on 15020 {@code /metrics}) and istiod-lite as Istio's istiod pod
 * ({@code istio-system/istiod-lite}, {@code app: istiod}, {@code istio: pilot}, 15014
 * {@code /metrics}), with their pod annotations from Istio's charts. Pure.
 */
public final class ScrapeTargets {

    static final String NAMESPACE = "istio-system";
    static final String META = "__meta_kubernetes_";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ScrapeTargets() {
    }

    /** A node agent, as the ztunnel pod of node {@code node} at {@code address}. */
    public static ScrapePod nodeAgent(String node, String address) {
        requireNonNull(node, "node");
        requireNonNull(address, "address");
        Map<String, String> labels = Map.of("app", "ztunnel", "app.kubernetes.io/name", "ztunnel",
                "sidecar.istio.io/inject", "false", "istio.io/dataplane-mode", "none");
        Map<String, String> annotations = Map.of("prometheus.io/scrape", "true",
                "prometheus.io/port", String.valueOf(IstioPorts.MERGED_METRICS), "sidecar.istio.io/inject", "false");
        return new ScrapePod(NAMESPACE, "ztunnel-" + node, "node-agent-" + node, node, address, address, "Running",
                true, labels, annotations, "DaemonSet", "ztunnel", "istio-proxy", IstioPorts.MERGED_METRICS);
    }

    /** istiod-lite at {@code address}, as Istio's istiod pod. */
    public static ScrapePod istiod(String address) {
        requireNonNull(address, "address");
        Map<String, String> labels = Map.of("app", "istiod", "istio", "pilot", "app.kubernetes.io/name", "istiod-lite",
                "sidecar.istio.io/inject", "false");
        Map<String, String> annotations = Map.of("prometheus.io/scrape", "true",
                "prometheus.io/port", String.valueOf(IstioPorts.CONTROL_PLANE_MONITORING),
                "sidecar.istio.io/inject", "false");
        return new ScrapePod(NAMESPACE, "istiod-lite", "istiod-lite", "", address, address, "Running", true, labels,
                annotations, "", "", "discovery", IstioPorts.CONTROL_PLANE_MONITORING);
    }

    /**
     * The file_sd document for {@code pods}: a JSON array of {@code {"targets": [...], "labels":
     * {...}}}, sorted by namespace and name so an unchanged cluster writes the same bytes. Pods
     * without an address are left out (Kubernetes SD lists them without one, which Istio's
     * relabeling cannot turn into a scrape address either).
     */
    public static String fileSd(List<ScrapePod> pods) {
        ArrayNode groups = JSON.createArrayNode();
        List<ScrapePod> sorted = new ArrayList<>(pods);
        sorted.sort(Comparator.comparing(ScrapePod::namespace).thenComparing(ScrapePod::name));
        for (ScrapePod p : sorted) {
            if (p.ip().isEmpty()) {
                continue;
            }
            ObjectNode group = groups.addObject();
            group.putArray("targets").add(p.port() == 0 ? p.ip() : p.ip() + ":" + p.port());
            ObjectNode labels = group.putObject("labels");
            metaLabels(p).forEach(labels::put);
        }
        try {
            return JSON.writeValueAsString(groups) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write scrape targets: " + e.getMessage(), e);
        }
    }

    /** The {@code __meta_kubernetes_*} labels Kubernetes SD gives pod {@code p}, sorted by name. */
    static Map<String, String> metaLabels(ScrapePod p) {
        Map<String, String> m = new TreeMap<>();
        m.put(META + "namespace", p.namespace());
        m.put(META + "pod_name", p.name());
        m.put(META + "pod_uid", p.uid());
        m.put(META + "pod_ip", p.ip());
        m.put(META + "pod_ready", String.valueOf(p.ready()));
        m.put(META + "pod_phase", p.phase());
        if (!p.node().isEmpty()) {
            m.put(META + "pod_node_name", p.node());
        }
        if (!p.hostIp().isEmpty()) {
            m.put(META + "pod_host_ip", p.hostIp());
        }
        if (!p.controllerKind().isEmpty()) {
            m.put(META + "pod_controller_kind", p.controllerKind());
            m.put(META + "pod_controller_name", p.controllerName());
        }
        if (!p.container().isEmpty()) {
            m.put(META + "pod_container_name", p.container());
        }
        if (p.port() != 0) {
            m.put(META + "pod_container_port_number", String.valueOf(p.port()));
        }
        p.labels().forEach((k, v) -> {
            m.put(META + "pod_label_" + sanitize(k), v);
            m.put(META + "pod_labelpresent_" + sanitize(k), "true");
        });
        p.annotations().forEach((k, v) -> {
            m.put(META + "pod_annotation_" + sanitize(k), v);
            m.put(META + "pod_annotationpresent_" + sanitize(k), "true");
        });
        return m;
    }

    /** A label or annotation key as a Prometheus label name: every character but {@code [a-zA-Z0-9_]} becomes '_' (Prometheus's rule). */
    static String sanitize(String key) {
        StringBuilder s = new StringBuilder(key.length());
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_';
            s.append(ok ? c : '_');
        }
        return s.toString();
    }
}
