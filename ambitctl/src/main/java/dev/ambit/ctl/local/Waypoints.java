package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.model.MeshConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Istio's waypoint deployment controller for {@code ambitctl local}: every Gateway API
 * {@code Gateway} of class {@value #GATEWAY_CLASS} becomes, in its namespace and named after
 * it, a ServiceAccount, a Service (15008 {@code mesh}, 15021 {@code status-port}, 15020
 * {@code metrics}) and a one-replica Deployment whose pod runs the waypoint process, as
 * istiod's deployer creates them on a cluster. They are derived anew from the manifests every
 * tick and owned by the Gateway (owner references), so deleting the Gateway removes them.
 *
 * <p>Pure: the controller adds {@link #expand}'s objects to the applied ones, and the rest of
 * the loop (pods, VIPs, istiod-lite's folder) treats them like any other.
 */
final class Waypoints {

    static final String GATEWAY_CLASS = "istio-waypoint";
    static final String GATEWAY_GROUP = "gateway.networking.k8s.io";
    static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
    static final String MANAGED_LABEL = "gateway.istio.io/managed";
    static final String GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name";
    static final String MANAGED_VALUE = "istio.io-mesh-controller";
    static final String WAYPOINT_FOR_LABEL = "istio.io/waypoint-for";
    static final String DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode";
    static final String READY_PATH = "/healthz/ready";
    static final String CONTAINER = "istio-proxy";

    /** The waypoint's and gateway's JVM flags: {@link dev.ambit.proxy.WaypointJvm#OPTIONS}. */
    static final List<String> JVM_FLAGS = dev.ambit.proxy.WaypointJvm.OPTIONS;

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /**
     * How a waypoint process is started on this cluster: the node agents' choices for the
     * control plane (its TLS address, the root certificate they trust, their node tokens).
     *
     * @param java the JVM to run it with
     * @param jar {@code <repo>/waypoint-proxy/target/waypoint-proxy.jar}
     * @param istiod istiod-lite's TLS xDS and CA address, {@code ip:port}
     * @param rootCert the root certificate istiod-lite's server and certificates chain to
     * @param nodeTokenPattern the node token's path with {@code $(NODE_NAME)} for the pod's node:
     *     the CA issues the identities of the pods on the caller's node, and the waypoint pod is one
     */
    record Launch(String java, Path jar, String istiod, Path rootCert, String nodeTokenPattern, MeshConfig mesh) {
        Launch {
            requireNonNull(java, "java");
            requireNonNull(jar, "jar");
            requireNonNull(istiod, "istiod");
            requireNonNull(rootCert, "rootCert");
            requireNonNull(nodeTokenPattern, "nodeTokenPattern");
            requireNonNull(mesh, "mesh");
        }

        /** The local cluster in {@code state}, built from the repository {@code home}. */
        static Launch of(StateDir state, Path home) {
            return new Launch(Daemons.java(), home.resolve("waypoint-proxy").resolve("target").resolve("waypoint-proxy.jar"),
                    Topology.CP_ADDRESS + ":" + IstioPorts.ISTIOD_SECURE, state.rootCert(),
                    state.root().resolve("nodes").resolve("$(NODE_NAME)").resolve("token").toString(),
                    MeshConfig.defaults());
        }
    }

    /**
     * The applied objects plus what the waypoint Gateways among them expand to.
     *
     * @param objects the applied objects, then the generated ones
     * @param problems by Gateway {@code namespace/name}, why a waypoint Gateway is not deployed
     */
    record Expansion(List<KubeObject> objects, Map<String, String> problems) {}

    private final Launch launch;

    Waypoints(Launch launch) {
        this.launch = requireNonNull(launch, "launch");
    }

    /** Whether {@code o} is a Gateway API Gateway of class {@value #GATEWAY_CLASS}. */
    static boolean isWaypoint(KubeObject o) {
        return isGateway(o) && KubeObject.text(o.spec().path("gatewayClassName")).equals(GATEWAY_CLASS);
    }

    /** Whether {@code o} is a Gateway API Gateway (not Istio's networking.istio.io Gateway). */
    static boolean isGateway(KubeObject o) {
        return o.kind().equals("Gateway") && o.group().equals(GATEWAY_GROUP);
    }

    /**
     * Why each listener of {@code gw} is not one a waypoint serves, by index (absent: valid): a
     * waypoint listener is {@code port: 15008, protocol: HBONE}.
     */
    static Map<Integer, String> invalidListeners(KubeObject gw) {
        Map<Integer, String> out = new LinkedHashMap<>();
        JsonNode listeners = gw.spec().path("listeners");
        for (int i = 0; i < listeners.size(); i++) {
            JsonNode l = listeners.get(i);
            if (!(l.path("port").asInt() == IstioPorts.HBONE && KubeObject.text(l.path("protocol")).equals("HBONE"))) {
                out.put(i, "spec.listeners[" + i + "] (" + KubeObject.text(l.path("name")) + "): port "
                        + KubeObject.text(l.path("port")) + ", protocol " + KubeObject.text(l.path("protocol"))
                        + " (expected: port " + IstioPorts.HBONE + ", protocol HBONE)");
            }
        }
        return out;
    }

    /**
     * Why waypoint Gateway {@code gw} cannot be deployed, Gateway API style (a field and the
     * expected value), or empty: a waypoint needs a listener {@code port: 15008, protocol: HBONE}
     * (others beside it make it ListenersNotValid but still deployed, as Istio).
     */
    static Optional<String> problem(KubeObject gw) {
        Map<Integer, String> invalid = invalidListeners(gw);
        if (invalid.size() < gw.spec().path("listeners").size()) {
            return Optional.empty();
        }
        StringBuilder m = new StringBuilder("spec.listeners: no listener with port " + IstioPorts.HBONE
                + " and protocol HBONE (expected: a listener {name: mesh, port: " + IstioPorts.HBONE + ", protocol: HBONE})");
        invalid.values().forEach(v -> m.append("; ").append(v));
        return Optional.of(m.toString());
    }

    /** {@code manifests} with the ServiceAccount, Service and Deployment of every valid waypoint Gateway. */
    Expansion expand(List<KubeObject> manifests) {
        List<KubeObject> out = new ArrayList<>(manifests);
        Map<String, String> problems = new LinkedHashMap<>();
        for (KubeObject gw : manifests) {
            if (!isWaypoint(gw)) {
                continue;
            }
            Optional<String> problem = problem(gw);
            if (problem.isPresent()) {
                problems.put(gw.namespace() + "/" + gw.name(), problem.get());
                continue;
            }
            out.add(serviceAccount(gw));
            out.add(service(gw));
            out.add(deployment(gw));
        }
        return new Expansion(List.copyOf(out), problems);
    }

    static KubeObject serviceAccount(KubeObject gw) {
        ObjectNode sa = NODES.objectNode();
        sa.put("apiVersion", "v1").put("kind", "ServiceAccount");
        sa.set("metadata", metadata(gw, false));
        return KubeObject.of(sa).from("waypoint " + gw.namespace() + "/" + gw.name());
    }

    static KubeObject service(KubeObject gw) {
        ObjectNode svc = NODES.objectNode();
        svc.put("apiVersion", "v1").put("kind", "Service");
        svc.set("metadata", metadata(gw, true));
        ObjectNode spec = svc.putObject("spec");
        spec.put("type", "ClusterIP");
        spec.putObject("selector").put(GATEWAY_NAME_LABEL, gw.name());
        ArrayNode ports = spec.putArray("ports");
        // Istio's waypoint Service: HBONE (any protocol inside the tunnel), status and metrics.
        ports.addObject().put("name", "mesh").put("port", IstioPorts.HBONE).put("protocol", "TCP")
                .put("appProtocol", "all").put("targetPort", IstioPorts.HBONE);
        ports.addObject().put("name", "status-port").put("port", IstioPorts.HEALTH).put("protocol", "TCP")
                .put("appProtocol", "tcp").put("targetPort", IstioPorts.HEALTH);
        ports.addObject().put("name", "metrics").put("port", IstioPorts.MERGED_METRICS).put("protocol", "TCP")
                .put("appProtocol", "http").put("targetPort", IstioPorts.MERGED_METRICS);
        return KubeObject.of(svc).from("waypoint " + gw.namespace() + "/" + gw.name());
    }

    KubeObject deployment(KubeObject gw) {
        ObjectNode d = NODES.objectNode();
        d.put("apiVersion", "apps/v1").put("kind", "Deployment");
        d.set("metadata", metadata(gw, true));
        ObjectNode spec = d.putObject("spec");
        spec.put("replicas", 1);
        spec.putObject("selector").putObject("matchLabels").put(GATEWAY_NAME_LABEL, gw.name());
        ObjectNode template = spec.putObject("template");
        ObjectNode templateMeta = template.putObject("metadata");
        ObjectNode labels = labels(gw, true);
        templateMeta.set("labels", labels);
        // Never captured: the waypoint terminates HBONE itself, and its own tunnels must not loop back.
        labels.put(DATAPLANE_MODE_LABEL, "none");
        labels.put("service.istio.io/canonical-name", gw.name());
        labels.put("service.istio.io/canonical-revision", "latest");
        labels.put("sidecar.istio.io/inject", "false");
        ObjectNode podAnnotations = annotations(gw);
        podAnnotations.put("prometheus.io/scrape", "true");
        podAnnotations.put("prometheus.io/port", String.valueOf(IstioPorts.MERGED_METRICS));
        podAnnotations.put("prometheus.io/path", "/metrics");
        templateMeta.set("annotations", podAnnotations);
        ObjectNode podSpec = template.putObject("spec");
        podSpec.put("serviceAccountName", gw.name());
        ObjectNode c = podSpec.putArray("containers").addObject();
        c.put("name", CONTAINER);
        ArrayNode command = c.putArray("command");
        command(gw).forEach(command::add);
        ArrayNode ports = c.putArray("ports");
        ports.addObject().put("name", "mesh").put("containerPort", IstioPorts.HBONE).put("protocol", "TCP");
        ports.addObject().put("name", "status-port").put("containerPort", IstioPorts.HEALTH).put("protocol", "TCP");
        ports.addObject().put("name", "metrics").put("containerPort", IstioPorts.MERGED_METRICS).put("protocol", "TCP");
        ports.addObject().put("name", "admin").put("containerPort", IstioPorts.ADMIN).put("protocol", "TCP");
        // Istio's probe; a shorter period than its 15 s, so a local waypoint is Programmed within seconds.
        ObjectNode probe = c.putObject("readinessProbe");
        probe.putObject("httpGet").put("path", READY_PATH).put("port", IstioPorts.HEALTH);
        probe.put("periodSeconds", 1).put("timeoutSeconds", 1).put("failureThreshold", 4);
        return KubeObject.of(d).from("waypoint " + gw.namespace() + "/" + gw.name());
    }

    /**
     * The waypoint container's command line. Pod name, IP and node are filled in when the
     * container starts ({@code $(POD_NAME)}, ... from its environment, as Kubernetes expands them).
     */
    List<String> command(KubeObject gw) {
        return proxyCommand(launch, List.of(), gw.namespace(), gw.name(), gw.name());
    }

    /**
     * The command line of a waypoint-proxy container (a waypoint, or with {@code modeFlags} a
     * gateway): the JVM, the jar, its control-plane flags from {@code launch}, its identity.
     */
    static List<String> proxyCommand(Launch launch, List<String> modeFlags, String namespace, String name,
                                     String serviceAccount) {
        List<String> cmd = new ArrayList<>();
        cmd.add(launch.java());
        cmd.addAll(JVM_FLAGS);
        cmd.addAll(List.of("-jar", launch.jar().toString()));
        cmd.addAll(modeFlags);
        cmd.addAll(List.of(
                "--namespace", namespace,
                "--name", name,
                "--pod-name", "$(POD_NAME)",
                "--pod-ip", "$(POD_IP)",
                "--service-account", serviceAccount,
                "--xds-address", launch.istiod(),
                "--ca-address", launch.istiod(),
                "--root-cert", launch.rootCert().toString(),
                "--token-file", launch.nodeTokenPattern(),
                "--trust-domain", launch.mesh().trustDomain(),
                "--cluster-id", launch.mesh().clusterId()));
        return cmd;
    }

    /**
     * Metadata of a generated object, as istiod-lite's deployer labels it on a cluster: the
     * Gateway's {@code spec.infrastructure} labels and annotations (else its own), its name and
     * class, {@code gateway.istio.io/managed} on what the deployer manages (not the
     * ServiceAccount), and the Gateway as controlling owner (local objects have no uid: the name
     * identifies it).
     */
    private static ObjectNode metadata(KubeObject gw, boolean managed) {
        ObjectNode meta = NODES.objectNode();
        meta.put("name", gw.name());
        meta.put("namespace", gw.namespace());
        String created = KubeObject.text(gw.tree().path("metadata").path("creationTimestamp"));
        if (!created.isEmpty()) {
            meta.put("creationTimestamp", created); // made when the Gateway was
        }
        meta.set("labels", labels(gw, managed));
        ObjectNode annotations = annotations(gw);
        if (!annotations.isEmpty()) {
            meta.set("annotations", annotations);
        }
        ObjectNode ref = meta.putArray("ownerReferences").addObject();
        ref.put("apiVersion", gw.apiVersion()).put("kind", "Gateway").put("name", gw.name())
                .put("controller", true).put("blockOwnerDeletion", true);
        return meta;
    }

    private static ObjectNode labels(KubeObject gw, boolean managed) {
        JsonNode infra = gw.spec().path("infrastructure").path("labels");
        ObjectNode labels = NODES.objectNode();
        (infra.isObject() ? KubeObject.stringMap(infra) : gw.labels()).forEach(labels::put);
        labels.put(GATEWAY_NAME_LABEL, gw.name());
        labels.put(GATEWAY_CLASS_LABEL, KubeObject.text(gw.spec().path("gatewayClassName")));
        if (managed) {
            labels.put(MANAGED_LABEL, MANAGED_VALUE);
        } else {
            labels.remove(MANAGED_LABEL);
        }
        return labels;
    }

    private static ObjectNode annotations(KubeObject gw) {
        JsonNode infra = gw.spec().path("infrastructure").path("annotations");
        ObjectNode annotations = NODES.objectNode();
        (infra.isObject() ? KubeObject.stringMap(infra) : KubeObject.stringMap(gw.tree().path("metadata").path("annotations")))
                .forEach(annotations::put);
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration"); // the Gateway's, not theirs
        return annotations;
    }
}
