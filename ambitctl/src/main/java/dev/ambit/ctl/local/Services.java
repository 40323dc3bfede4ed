package dev.ambit.ctl.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Reading Services: ports, selector, an explicit {@code clusterIP}. */
public final class Services {

    private Services() {
    }

    /** One port of a Service; {@code targetPort} is a number or a container port's name. */
    public record ServicePort(String name, int port, String protocol, String targetPort) {

        /** The target port for a pod with these container ports; -1 when a named port is not there. */
        public int targetFor(List<PodTemplate.Port> containerPorts) {
            if (targetPort.isEmpty()) {
                return port;
            }
            if (targetPort.chars().allMatch(Character::isDigit)) {
                return Integer.parseInt(targetPort);
            }
            return containerPorts.stream().filter(p -> p.name().equals(targetPort)).mapToInt(PodTemplate.Port::containerPort)
                    .findFirst().orElse(-1);
        }
    }

    /**
     * Checks ports (1-65535, TCP/UDP/SCTP), {@code targetPort} and an explicit {@code clusterIP}.
     *
     * @throws IllegalArgumentException naming the field
     */
    static void validate(KubeObject svc) {
        ports(svc);
        String ip = explicitClusterIp(svc);
        if (!ip.isEmpty() && !ip.equals("None") && IpPool.parse(ip) < 0) {
            throw new IllegalArgumentException("spec.clusterIP: " + ip + " (expected: an IPv4 address, None or empty)");
        }
        String type = KubeObject.text(svc.spec().path("type"));
        if (type.equals("ExternalName")) {
            throw new IllegalArgumentException("spec.type: ExternalName (expected: ClusterIP; ambitctl local has no DNS"
                    + " server for external names)");
        }
    }

    /** The Service's ports. */
    public static List<ServicePort> ports(KubeObject svc) {
        List<ServicePort> out = new ArrayList<>();
        JsonNode ports = svc.spec().path("ports");
        for (int i = 0; i < ports.size(); i++) {
            JsonNode p = ports.get(i);
            int port = p.path("port").asInt(-1);
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("spec.ports[" + i + "].port: " + p.path("port") + " (expected: 1-65535)");
            }
            String protocol = KubeObject.text(p.path("protocol"));
            protocol = protocol.isEmpty() ? "TCP" : protocol;
            if (!List.of("TCP", "UDP", "SCTP").contains(protocol)) {
                throw new IllegalArgumentException("spec.ports[" + i + "].protocol: " + protocol
                        + " (expected: TCP, UDP or SCTP)");
            }
            String target = KubeObject.text(p.path("targetPort"));
            if (target.chars().allMatch(Character::isDigit) && !target.isEmpty()) {
                int t = Integer.parseInt(target);
                if (t < 1 || t > 65535) {
                    throw new IllegalArgumentException("spec.ports[" + i + "].targetPort: " + t + " (expected: 1-65535)");
                }
            }
            out.add(new ServicePort(KubeObject.text(p.path("name")), port, protocol, target));
        }
        return out;
    }

    /** {@code spec.selector}; empty for a selector-less Service. */
    public static Map<String, String> selector(KubeObject svc) {
        return KubeObject.stringMap(svc.spec().path("selector"));
    }

    /**
     * {@code tree} (a Service) with its VIP in {@code spec.clusterIP} and {@code spec.clusterIPs},
     * as the controller hands it to istiod-lite and shows it.
     */
    public static ObjectNode withClusterIp(ObjectNode tree, String vip) {
        ObjectNode spec = tree.withObjectProperty("spec");
        spec.put("clusterIP", vip);
        spec.putArray("clusterIPs").add(vip);
        return tree;
    }

    /** {@code spec.clusterIP} as written: "" when ambitctl should allocate one, "None" for a headless Service. */
    public static String explicitClusterIp(KubeObject svc) {
        return KubeObject.text(svc.spec().path("clusterIP"));
    }
}
