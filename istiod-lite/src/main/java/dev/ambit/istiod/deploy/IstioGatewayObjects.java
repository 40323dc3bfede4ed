package dev.ambit.istiod.deploy;

import dev.ambit.common.config.IstioPorts;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.SysctlBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Listener;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The objects a Gateway of class {@code istio} {@code NS/NAME} is deployed as, as Istio's gateway
 * deployment controller names and shapes them: a ServiceAccount, a Deployment and a Service of
 * type LoadBalancer, each named {@code NAME-istio} in NS, controlled by the Gateway (owner
 * reference), labelled {@code gateway.networking.k8s.io/gateway-name: NAME} and
 * {@code gateway.istio.io/managed: istio.io-gateway-controller}. The pods run the waypoint image
 * in gateway mode ({@code --mode=gateway}, node label {@code gateway-name=NAME}, so istiod-lite
 * serves them the proxy {@code NS/NAME}); they may bind the listeners' ports below 1024 as uid
 * 1337 (Istio's {@code net.ipv4.ip_unprivileged_port_start=0}). The Service exposes every
 * distinct listener port (named {@code <protocol>-<port>}, as Istio) plus {@code status-port}
 * 15021. Everything else (security context, token, root certificate, probes) is the waypoint's
 * ({@link WaypointObjects}).
 *
 * <p>Pure: the same Gateway and template give equal objects.
 */
final class IstioGatewayObjects {

    static final String CLASS = "istio";
    static final String MANAGED_VALUE = "istio.io-gateway-controller";

    private IstioGatewayObjects() {}

    /** {@code NAME-istio}: Istio's {@code <gateway>-<class>} naming. */
    static String name(Gateway gw) {
        return gw.getMetadata().getName() + "-" + CLASS;
    }

    static ServiceAccount serviceAccount(Gateway gw) {
        ServiceAccount sa = WaypointObjects.serviceAccount(gw);
        rename(sa.getMetadata(), gw);
        return sa;
    }

    static Service service(Gateway gw) {
        Service waypoint = WaypointObjects.service(gw);
        rename(waypoint.getMetadata(), gw);
        List<ServicePort> ports = new ArrayList<>();
        ports.add(new ServicePortBuilder().withName("status-port").withPort(IstioPorts.HEALTH).withProtocol("TCP")
                .withAppProtocol("tcp").withTargetPort(new IntOrString(IstioPorts.HEALTH)).build());
        listenerPorts(gw).forEach((port, protocol) -> ports.add(new ServicePortBuilder()
                .withName(protocol.toLowerCase(Locale.ROOT) + "-" + port).withPort(port).withProtocol("TCP")
                .withAppProtocol(protocol.equals("HTTP") ? "http" : null)
                .withTargetPort(new IntOrString(port)).build()));
        return new ServiceBuilder(waypoint).editSpec().withType("LoadBalancer").withPorts(ports).endSpec().build();
    }

    static Deployment deployment(Gateway gw, WaypointObjects.Template t) {
        Deployment d = WaypointObjects.deployment(gw, t);
        rename(d.getMetadata(), gw);
        var pod = d.getSpec().getTemplate();
        pod.getMetadata().getLabels().put(WaypointObjects.MANAGED_LABEL, MANAGED_VALUE);
        pod.getMetadata().getLabels().put("service.istio.io/canonical-name", name(gw));
        pod.getSpec().setServiceAccountName(name(gw));
        pod.getSpec().getSecurityContext().setSysctls(List.of(new SysctlBuilder()
                .withName("net.ipv4.ip_unprivileged_port_start").withValue("0").build()));
        var c = pod.getSpec().getContainers().get(0);
        c.setArgs(args(gw, t));
        List<ContainerPort> ports = new ArrayList<>();
        ports.add(new ContainerPortBuilder().withName("status-port").withContainerPort(IstioPorts.HEALTH)
                .withProtocol("TCP").build());
        ports.add(new ContainerPortBuilder().withName("metrics").withContainerPort(IstioPorts.MERGED_METRICS)
                .withProtocol("TCP").build());
        listenerPorts(gw).forEach((port, protocol) -> ports.add(new ContainerPortBuilder()
                .withContainerPort(port).withProtocol("TCP").build()));
        c.setPorts(ports);
        return d;
    }

    /** The proxy's flags: the waypoint's, in gateway mode, named after the Deployment, with the gateway's label. */
    static List<String> args(Gateway gw, WaypointObjects.Template t) {
        List<String> out = new ArrayList<>();
        for (String a : WaypointObjects.args(gw, t)) {
            if (a.startsWith("--name=")) {
                out.add("--name=" + name(gw));
            } else if (a.startsWith("--service-account=")) {
                out.add("--service-account=" + name(gw));
            } else {
                out.add(a);
            }
        }
        out.add("--mode=gateway");
        out.add("--label=" + WaypointObjects.GATEWAY_NAME_LABEL + "=" + gw.getMetadata().getName());
        return out;
    }

    /** Each distinct listener port with the first listener's protocol on it, by port. */
    static Map<Integer, String> listenerPorts(Gateway gw) {
        Map<Integer, String> out = new TreeMap<>();
        for (Listener l : gw.getSpec().getListeners() == null ? List.<Listener>of() : gw.getSpec().getListeners()) {
            if (l != null && l.getPort() != null) {
                out.putIfAbsent(l.getPort(), l.getProtocol() == null ? "TCP" : l.getProtocol());
            }
        }
        return out;
    }

    private static void rename(ObjectMeta meta, Gateway gw) {
        meta.setName(name(gw));
        if (meta.getLabels() != null && meta.getLabels().containsKey(WaypointObjects.MANAGED_LABEL)) {
            meta.getLabels().put(WaypointObjects.MANAGED_LABEL, MANAGED_VALUE);
        }
    }
}
