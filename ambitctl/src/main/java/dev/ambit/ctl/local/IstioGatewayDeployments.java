package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.IstioPorts;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Istio's gateway deployment controller for {@code ambitctl local}, class {@value #GATEWAY_CLASS}:
 * every Gateway API {@code Gateway} of that class becomes, in its namespace, a ServiceAccount, a
 * Service of type LoadBalancer (every listener port, named {@code <protocol>-<port>}, plus
 * {@code status-port} 15021) and a one-replica Deployment, each named {@code <gateway>-istio}
 * as Istio names them, labelled {@code gateway.networking.k8s.io/gateway-name: <gateway>} and
 * {@code gateway.istio.io/managed: istio.io-gateway-controller}, owned by the Gateway. The pod
 * runs the waypoint process in gateway mode ({@code --mode gateway}, {@code --label
 * gateway.networking.k8s.io/gateway-name=<gateway>}, so istiod-lite serves it the proxy
 * {@code NS/<gateway>}), named after the Deployment. The waypoint's shape otherwise
 * ({@link Waypoints}: JVM flags, readiness probe, capture opt-out).
 *
 * <p>Pure: derived anew from the manifests every tick.
 */
final class IstioGatewayDeployments {

    static final String GATEWAY_CLASS = "istio";
    static final String MANAGED_VALUE = "istio.io-gateway-controller";

    private final Waypoints waypoints;

    IstioGatewayDeployments(Waypoints waypoints) {
        this.waypoints = requireNonNull(waypoints, "waypoints");
    }

    /** Whether {@code o} is a Gateway API Gateway of class {@value #GATEWAY_CLASS}. */
    static boolean isIstioGateway(KubeObject o) {
        return Waypoints.isGateway(o) && KubeObject.text(o.spec().path("gatewayClassName")).equals(GATEWAY_CLASS);
    }

    /** {@code <gateway>-istio}. */
    static String name(KubeObject gw) {
        return gw.name() + "-" + GATEWAY_CLASS;
    }

    /** {@code objects} plus the ServiceAccount, Service and Deployment of every Gateway of class istio. */
    List<KubeObject> expand(List<KubeObject> objects) {
        List<KubeObject> out = new ArrayList<>(objects);
        for (KubeObject gw : objects) {
            if (isIstioGateway(gw)) {
                out.add(serviceAccount(gw));
                out.add(service(gw));
                out.add(deployment(gw));
            }
        }
        return List.copyOf(out);
    }

    static KubeObject serviceAccount(KubeObject gw) {
        ObjectNode sa = Waypoints.serviceAccount(gw).tree();
        rename(sa, gw);
        return KubeObject.of(sa).from(origin(gw));
    }

    static KubeObject service(KubeObject gw) {
        ObjectNode svc = Waypoints.service(gw).tree();
        rename(svc, gw);
        ObjectNode spec = (ObjectNode) svc.path("spec");
        spec.put("type", "LoadBalancer");
        ArrayNode ports = spec.putArray("ports");
        ports.addObject().put("name", "status-port").put("port", IstioPorts.HEALTH).put("protocol", "TCP")
                .put("appProtocol", "tcp").put("targetPort", IstioPorts.HEALTH);
        listenerPorts(gw).forEach((port, protocol) -> {
            ObjectNode p = ports.addObject().put("name", protocol.toLowerCase(Locale.ROOT) + "-" + port)
                    .put("port", port).put("protocol", "TCP").put("targetPort", port);
            if (protocol.equals("HTTP")) {
                p.put("appProtocol", "http");
            }
        });
        return KubeObject.of(svc).from(origin(gw));
    }

    KubeObject deployment(KubeObject gw) {
        ObjectNode d = waypoints.deployment(gw).tree();
        rename(d, gw);
        ObjectNode template = (ObjectNode) d.path("spec").path("template");
        ObjectNode labels = (ObjectNode) template.path("metadata").path("labels");
        labels.put(Waypoints.MANAGED_LABEL, MANAGED_VALUE);
        labels.put("service.istio.io/canonical-name", name(gw));
        ObjectNode podSpec = (ObjectNode) template.path("spec");
        podSpec.put("serviceAccountName", name(gw));
        ObjectNode c = (ObjectNode) podSpec.path("containers").get(0);
        ArrayNode command = c.putArray("command");
        command(gw).forEach(command::add);
        ArrayNode ports = c.putArray("ports");
        ports.addObject().put("name", "status-port").put("containerPort", IstioPorts.HEALTH).put("protocol", "TCP");
        ports.addObject().put("name", "metrics").put("containerPort", IstioPorts.MERGED_METRICS).put("protocol", "TCP");
        ports.addObject().put("name", "admin").put("containerPort", IstioPorts.ADMIN).put("protocol", "TCP");
        listenerPorts(gw).keySet().forEach(port -> ports.addObject().put("containerPort", port).put("protocol", "TCP"));
        return KubeObject.of(d).from(origin(gw));
    }

    /** The waypoint's command line in gateway mode, named after the Deployment. */
    List<String> command(KubeObject gw) {
        List<String> cmd = new ArrayList<>(waypoints.command(gw));
        for (int i = 0; i + 1 < cmd.size(); i++) {
            if (cmd.get(i).equals("--name") || cmd.get(i).equals("--service-account")) {
                cmd.set(i + 1, name(gw));
            }
        }
        cmd.addAll(List.of("--mode", "gateway", "--label", Waypoints.GATEWAY_NAME_LABEL + "=" + gw.name()));
        return cmd;
    }

    /** Each distinct listener port with the first listener's protocol on it. */
    static Map<Integer, String> listenerPorts(KubeObject gw) {
        Map<Integer, String> out = new TreeMap<>();
        for (JsonNode l : gw.spec().path("listeners")) {
            if (l.path("port").isInt()) {
                out.putIfAbsent(l.path("port").asInt(), l.path("protocol").asText("TCP"));
            }
        }
        return out;
    }

    private static void rename(ObjectNode tree, KubeObject gw) {
        ObjectNode meta = (ObjectNode) tree.path("metadata");
        meta.put("name", name(gw));
        if (meta.path("labels").has(Waypoints.MANAGED_LABEL)) {
            ((ObjectNode) meta.path("labels")).put(Waypoints.MANAGED_LABEL, MANAGED_VALUE);
        }
    }

    private static String origin(KubeObject gw) {
        return "gateway " + gw.namespace() + "/" + gw.name();
    }
}
