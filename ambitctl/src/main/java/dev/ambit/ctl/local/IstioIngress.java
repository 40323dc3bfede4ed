package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.IstioPorts;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The ingress gateway Istio's demo profile installs, for {@code ambitctl local up} (unless
 * {@code --no-ingress}): namespace {@value #NAMESPACE}, ServiceAccount {@value #SERVICE_ACCOUNT},
 * Deployment {@value #NAME} (pod labels {@code istio: ingressgateway},
 * {@code app: istio-ingressgateway}, never captured: {@code istio.io/dataplane-mode: none}) whose
 * container {@value #CONTAINER} runs the waypoint-proxy jar in gateway mode, and Service
 * {@value #NAME} of type LoadBalancer ({@code status-port} 15021, {@code http2} 80,
 * {@code https} 443), which gets an external address the machine reaches.
 *
 * <p>Derived anew every tick, as {@link Waypoints} derives waypoints (an installation the
 * controller keeps in place, as Istio's operator does): the rest of the loop treats the objects
 * as applied ones. An object the user applied under the same kind, namespace and name wins
 * (e.g. their own {@code istio-ingressgateway} Service). Pure.
 */
final class IstioIngress {

    static final String NAMESPACE = "istio-system";
    static final String NAME = "istio-ingressgateway";
    static final String SERVICE_ACCOUNT = "istio-ingressgateway-service-account";
    static final String CONTAINER = "istio-proxy";
    /** The pods' labels, Istio's ingress selector among them. */
    static final List<String[]> LABELS = List.of(new String[] {"istio", "ingressgateway"},
            new String[] {"app", NAME});

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final Waypoints.Launch launch;

    IstioIngress(Waypoints.Launch launch) {
        this.launch = requireNonNull(launch, "launch");
    }

    /** {@code objects} plus the ingress gateway's Namespace, ServiceAccount, Deployment and Service, where not applied. */
    List<KubeObject> expand(List<KubeObject> objects) {
        Set<String> present = new HashSet<>();
        objects.forEach(o -> present.add(o.kind() + "/" + o.namespace() + "/" + o.name()));
        List<KubeObject> out = new ArrayList<>(objects);
        for (KubeObject o : List.of(namespace(), serviceAccount(), deployment(), service())) {
            if (!present.contains(o.kind() + "/" + o.namespace() + "/" + o.name())) {
                out.add(o);
            }
        }
        return List.copyOf(out);
    }

    static KubeObject namespace() {
        ObjectNode ns = NODES.objectNode();
        ns.put("apiVersion", "v1").put("kind", "Namespace");
        ns.putObject("metadata").put("name", NAMESPACE);
        return KubeObject.of(ns).from("ingress gateway");
    }

    static KubeObject serviceAccount() {
        ObjectNode sa = NODES.objectNode();
        sa.put("apiVersion", "v1").put("kind", "ServiceAccount");
        sa.set("metadata", metadata(SERVICE_ACCOUNT));
        return KubeObject.of(sa).from("ingress gateway");
    }

    static KubeObject service() {
        ObjectNode svc = NODES.objectNode();
        svc.put("apiVersion", "v1").put("kind", "Service");
        svc.set("metadata", metadata(NAME));
        ObjectNode spec = svc.putObject("spec");
        spec.put("type", Services.LOAD_BALANCER);
        ObjectNode selector = spec.putObject("selector");
        LABELS.forEach(l -> selector.put(l[0], l[1]));
        ArrayNode ports = spec.putArray("ports");
        ports.addObject().put("name", "status-port").put("port", IstioPorts.HEALTH).put("protocol", "TCP")
                .put("targetPort", IstioPorts.HEALTH);
        ports.addObject().put("name", "http2").put("port", 80).put("protocol", "TCP").put("targetPort", 80);
        ports.addObject().put("name", "https").put("port", 443).put("protocol", "TCP").put("targetPort", 443);
        return KubeObject.of(svc).from("ingress gateway");
    }

    KubeObject deployment() {
        ObjectNode d = NODES.objectNode();
        d.put("apiVersion", "apps/v1").put("kind", "Deployment");
        d.set("metadata", metadata(NAME));
        ObjectNode spec = d.putObject("spec");
        spec.put("replicas", 1);
        ObjectNode match = spec.putObject("selector").putObject("matchLabels");
        LABELS.forEach(l -> match.put(l[0], l[1]));
        ObjectNode template = spec.putObject("template");
        ObjectNode templateMeta = template.putObject("metadata");
        ObjectNode labels = templateMeta.putObject("labels");
        LABELS.forEach(l -> labels.put(l[0], l[1]));
        // Never captured: the gateway is the mesh's edge and opens its own HBONE tunnels.
        labels.put(Waypoints.DATAPLANE_MODE_LABEL, "none");
        labels.put("sidecar.istio.io/inject", "false");
        labels.put("service.istio.io/canonical-name", NAME);
        labels.put("service.istio.io/canonical-revision", "latest");
        ObjectNode annotations = templateMeta.putObject("annotations");
        annotations.put("prometheus.io/scrape", "true");
        annotations.put("prometheus.io/port", String.valueOf(IstioPorts.MERGED_METRICS));
        annotations.put("prometheus.io/path", "/stats/prometheus");
        ObjectNode podSpec = template.putObject("spec");
        podSpec.put("serviceAccountName", SERVICE_ACCOUNT);
        ObjectNode c = podSpec.putArray("containers").addObject();
        c.put("name", CONTAINER);
        ArrayNode command = c.putArray("command");
        command().forEach(command::add);
        ArrayNode ports = c.putArray("ports");
        ports.addObject().put("name", "status-port").put("containerPort", IstioPorts.HEALTH).put("protocol", "TCP");
        ports.addObject().put("name", "http2").put("containerPort", 80).put("protocol", "TCP");
        ports.addObject().put("name", "https").put("containerPort", 443).put("protocol", "TCP");
        ports.addObject().put("name", "metrics").put("containerPort", IstioPorts.MERGED_METRICS).put("protocol", "TCP");
        // Istio's probe, with the waypoints' shorter period so the gateway is ready within seconds.
        ObjectNode probe = c.putObject("readinessProbe");
        probe.putObject("httpGet").put("path", Waypoints.READY_PATH).put("port", IstioPorts.HEALTH);
        probe.put("periodSeconds", 1).put("timeoutSeconds", 1).put("failureThreshold", 4);
        return KubeObject.of(d).from("ingress gateway");
    }

    /**
     * The gateway container's command line: the waypoint-proxy jar in gateway mode, its pod
     * labels as node metadata ({@code --label}, what istiod-lite selects Istio Gateways by), and
     * the control-plane flags every local waypoint gets ({@link Waypoints.Launch}). Pod name, IP
     * and node are filled in when the container starts.
     */
    List<String> command() {
        List<String> mode = new ArrayList<>(List.of("--mode", "gateway"));
        LABELS.forEach(l -> mode.addAll(List.of("--label", l[0] + "=" + l[1])));
        return Waypoints.proxyCommand(launch, mode, NAMESPACE, NAME, SERVICE_ACCOUNT);
    }

    /** Metadata of a generated object: Istio's install labels. */
    private static ObjectNode metadata(String name) {
        ObjectNode meta = NODES.objectNode();
        meta.put("name", name);
        meta.put("namespace", NAMESPACE);
        ObjectNode labels = meta.putObject("labels");
        LABELS.forEach(l -> labels.put(l[0], l[1]));
        labels.put("install.operator.istio.io/owning-resource", "installed-state");
        labels.put("operator.istio.io/component", "IngressGateways");
        return meta;
    }
}
