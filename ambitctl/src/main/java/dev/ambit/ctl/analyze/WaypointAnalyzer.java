package dev.ambit.ctl.analyze;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.ServiceCatalog;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.Map;
import java.util.Optional;

/**
 * Waypoint use: an {@code istio.io/use-waypoint} label (on a Namespace, Service or Pod) naming no
 * Gateway of class {@code istio-waypoint} (IST0101; Ambit refuses that traffic rather than let it
 * bypass the waypoint asked for), and a Namespace labelled for a waypoint that is not in the
 * ambient mesh ({@code istio.io/dataplane-mode=ambient} missing), where the label does nothing.
 */
final class WaypointAnalyzer implements Analyzer {

    @Override
    public void analyze(Analysis a) {
        for (Namespace ns : a.config().list(Kind.NAMESPACE, Namespace.class)) {
            Map<String, String> labels = labels(ns);
            if (reference(a, Kind.NAMESPACE, ns, labels, ns.getMetadata().getName())
                    && !"ambient".equals(labels.get(ServiceCatalog.DATAPLANE_MODE))) {
                String name = ns.getMetadata().getName();
                a.report(MessageType.WAYPOINT_NAMESPACE_NOT_ENROLLED, Kind.NAMESPACE, ns, "metadata.labels",
                        "Namespace " + name + " is labelled " + ServiceCatalog.USE_WAYPOINT + "="
                                + labels.get(ServiceCatalog.USE_WAYPOINT) + " but is not in the ambient mesh ("
                                + ServiceCatalog.DATAPLANE_MODE + "=" + labels.getOrDefault(ServiceCatalog.DATAPLANE_MODE,
                                "<unset>") + "): its pods' traffic reaches no waypoint.",
                        "kubectl label namespace " + name + " " + ServiceCatalog.DATAPLANE_MODE + "=ambient.");
            }
        }
        for (Service svc : a.config().list(Kind.SERVICE, Service.class)) {
            reference(a, Kind.SERVICE, svc, labels(svc), svc.getMetadata().getNamespace());
        }
        for (Pod pod : a.catalog().pods()) {
            reference(a, Kind.POD, pod, labels(pod), pod.getMetadata().getNamespace());
        }
    }

    /**
     * Reports a use-waypoint label naming no waypoint; returns whether the object names one at all
     * (a waypoint name other than {@code none}).
     */
    private static boolean reference(Analysis a, Kind kind, HasMetadata object, Map<String, String> labels, String ns) {
        String name = labels.get(ServiceCatalog.USE_WAYPOINT);
        if (name == null || name.isEmpty() || name.equals("none")) {
            return false;
        }
        String wpNs = labels.getOrDefault(ServiceCatalog.USE_WAYPOINT_NS, ns);
        Optional<Gateway> gw = a.config().get(Kind.GATEWAY, wpNs, name, Gateway.class);
        if (gw.isPresent() && ServiceCatalog.isWaypoint(gw.get())) {
            return true;
        }
        String what = gw.isPresent() ? "Gateway " + wpNs + "/" + name + " is of class "
                + gw.get().getSpec().getGatewayClassName() + ", not " + ServiceCatalog.WAYPOINT_CLASS + "; "
                : "";
        a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, kind, object,
                "metadata.labels[" + ServiceCatalog.USE_WAYPOINT + "]",
                "Referenced waypoint not found: \"" + wpNs + "/" + name + "\". " + what
                        + "Its traffic is refused until the waypoint exists (never sent around it).",
                "ambitctl waypoint apply -n " + wpNs + " --name " + name + " (istioctl waypoint apply), or correct"
                        + " the label.");
        return true;
    }

    private static Map<String, String> labels(HasMetadata o) {
        return o.getMetadata().getLabels() == null ? Map.of() : o.getMetadata().getLabels();
    }
}
