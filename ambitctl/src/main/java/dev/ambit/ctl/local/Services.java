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

    /**
     * One port of a Service; {@code targetPort} is a number or a container port's name.
     *
     * @param nodePort {@code spec.ports[].nodePort} as applied, 0 when unset (then one is
     *     allocated for a NodePort or LoadBalancer Service)
     */
    public record ServicePort(String name, int port, String protocol, String targetPort, int nodePort) {

        public ServicePort(String name, int port, String protocol, String targetPort) {
            this(name, port, protocol, targetPort, 0);
        }

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
            throw new IllegalArgumentException("spec.type: ExternalName (expected: ClusterIP, NodePort or LoadBalancer;"
                    + " ambitctl local has no DNS server for external names)");
        }
        if (!type.isEmpty() && !List.of(CLUSTER_IP, NODE_PORT, LOAD_BALANCER).contains(type)) {
            throw new IllegalArgumentException("spec.type: " + type + " (expected: ClusterIP, NodePort or LoadBalancer)");
        }
        List<ServicePort> ports = ports(svc);
        for (int i = 0; i < ports.size(); i++) {
            int nodePort = ports.get(i).nodePort();
            if (nodePort == 0) {
                continue;
            }
            // The API server's checks: a nodePort only where there are node ports, and in its range.
            if (!hasNodePorts(svc)) {
                throw new IllegalArgumentException("spec.ports[" + i + "].nodePort: " + nodePort + " (expected: unset"
                        + " for type " + type(svc) + "; node ports are for NodePort and LoadBalancer Services)");
            }
            if (nodePort < PortPool.NODE_PORT_FIRST || nodePort > PortPool.NODE_PORT_LAST) {
                throw new IllegalArgumentException("spec.ports[" + i + "].nodePort: " + nodePort + " (expected: "
                        + PortPool.NODE_PORT_FIRST + "-" + PortPool.NODE_PORT_LAST + ", the node port range)");
            }
        }
        String lbIp = loadBalancerIp(svc);
        if (!lbIp.isEmpty() && IpPool.parse(lbIp) == -1) { // addresses from 128.0.0.0 are negative ints
            throw new IllegalArgumentException("spec.loadBalancerIP: " + lbIp + " (expected: an IPv4 address or empty)");
        }
    }

    static final String CLUSTER_IP = "ClusterIP";
    static final String NODE_PORT = "NodePort";
    static final String LOAD_BALANCER = "LoadBalancer";

    /** {@code spec.type}, ClusterIP when unset. */
    public static String type(KubeObject svc) {
        String type = KubeObject.text(svc.spec().path("type"));
        return type.isEmpty() ? CLUSTER_IP : type;
    }

    /**
     * Whether the Service's ports get node ports: NodePort Services, and LoadBalancer ones
     * unless {@code spec.allocateLoadBalancerNodePorts} is false (Kubernetes' rule).
     */
    public static boolean hasNodePorts(KubeObject svc) {
        String type = type(svc);
        return type.equals(NODE_PORT) || type.equals(LOAD_BALANCER)
                && !svc.spec().path("allocateLoadBalancerNodePorts").asText("true").equals("false");
    }

    /** {@code spec.loadBalancerIP} (deprecated in Kubernetes, honoured by MetalLB): "" when unset. */
    public static String loadBalancerIp(KubeObject svc) {
        return KubeObject.text(svc.spec().path("loadBalancerIP"));
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
            int nodePort = p.path("nodePort").asInt(0);
            if (nodePort < 0 || nodePort > 65535) {
                throw new IllegalArgumentException("spec.ports[" + i + "].nodePort: " + p.path("nodePort")
                        + " (expected: " + PortPool.NODE_PORT_FIRST + "-" + PortPool.NODE_PORT_LAST + ")");
            }
            out.add(new ServicePort(KubeObject.text(p.path("name")), port, protocol, target, nodePort));
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

    /**
     * {@code tree} (a Service) with what the cluster allocated for it, as the API server and a
     * load balancer controller write them: {@code spec.ports[].nodePort} and
     * {@code status.loadBalancer.ingress[].ip} (an empty {@code status.loadBalancer} while a
     * LoadBalancer Service waits for an address).
     */
    static ObjectNode withAllocations(ObjectNode tree, ServiceView view) {
        JsonNode ports = tree.path("spec").path("ports");
        List<ServicePort> sps = view.ports();
        for (int i = 0; i < ports.size() && i < sps.size(); i++) {
            Integer nodePort = view.nodePorts().get(sps.get(i).port() + "/" + sps.get(i).protocol());
            if (nodePort != null && ports.get(i) instanceof ObjectNode p) {
                p.put("nodePort", nodePort);
            }
        }
        if (type(view.object()).equals(LOAD_BALANCER)) {
            ObjectNode lb = tree.withObjectProperty("status").putObject("loadBalancer");
            if (view.loadBalancerIp() != null) {
                lb.putArray("ingress").addObject().put("ip", view.loadBalancerIp()).put("ipMode", "VIP");
            }
        }
        return tree;
    }

    /** {@code spec.clusterIP} as written: "" when ambitctl should allocate one, "None" for a headless Service. */
    public static String explicitClusterIp(KubeObject svc) {
        return KubeObject.text(svc.spec().path("clusterIP"));
    }
}
