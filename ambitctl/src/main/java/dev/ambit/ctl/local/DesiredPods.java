package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Which pods should exist, the controller manager's part: a Pod manifest as it is, a
 * Deployment expanded to its replicas ({@link Deployments#plan}), each on a node. A pod
 * keeps the node it runs on; a new one goes to its {@code spec.nodeName} or, for a Pod,
 * to the node with the fewest pods.
 */
final class DesiredPods {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final List<String> nodes;
    private final Random random;

    /** For a cluster of {@code nodes}; {@code random} spreads new Deployment pods. */
    DesiredPods(List<String> nodes, Random random) {
        this.nodes = List.copyOf(requireNonNull(nodes, "nodes"));
        this.random = requireNonNull(random, "random");
    }

    /** The pods {@code manifests} ask for, by {@code namespace/name}, given the pods running now. */
    Map<String, DesiredPod> of(List<KubeObject> manifests, Map<String, RunningPod> pods) {
        Map<String, DesiredPod> out = new LinkedHashMap<>();
        Map<String, Integer> perNode = new HashMap<>();
        pods.values().forEach(p -> perNode.merge(p.node, 1, Integer::sum));
        for (KubeObject o : manifests) {
            if (o.kind().equals("Pod")) {
                PodTemplate t = PodTemplate.parse(o.spec(), "spec");
                ObjectNode meta = metadataOf(o.tree().path("metadata"), o.namespace(), o.name());
                RunningPod running = pods.get(o.namespace() + "/" + o.name());
                String node = !t.nodeName().isEmpty() ? t.nodeName()
                        : running != null ? running.node : leastLoaded(nodes, perNode);
                ObjectNode spec = (ObjectNode) o.spec().deepCopy();
                out.put(o.namespace() + "/" + o.name(), new DesiredPod(o.namespace(), o.name(), "", node,
                        Integer.toHexString(o.spec().hashCode()), meta, spec, t));
                if (running == null) {
                    perNode.merge(node, 1, Integer::sum);
                }
            } else if (o.kind().equals("Deployment")) {
                String hash = Deployments.templateHash(o);
                Map<String, String> existing = new TreeMap<>();
                for (RunningPod p : pods.values()) {
                    if (p.namespace.equals(o.namespace()) && p.owner.equals(o.name()) && p.specHash.equals(hash)) {
                        existing.put(p.name, p.node);
                    }
                }
                JsonNode template = o.spec().path("template");
                PodTemplate t = PodTemplate.parse(template.path("spec"), "spec.template.spec");
                for (Deployments.PodPlan plan : Deployments.plan(o, existing, nodes, perNode, random,
                        n -> pods.containsKey(o.namespace() + "/" + n))) {
                    ObjectNode meta = metadataOf(template.path("metadata"), o.namespace(), plan.name());
                    meta.withObjectProperty("labels").put(Deployments.TEMPLATE_HASH_LABEL, hash);
                    ObjectNode ref = meta.putArray("ownerReferences").addObject();
                    ref.put("apiVersion", "apps/v1").put("kind", "ReplicaSet").put("name", o.name() + "-" + hash)
                            .put("controller", true).put("blockOwnerDeletion", true);
                    out.put(o.namespace() + "/" + plan.name(), new DesiredPod(o.namespace(), plan.name(), o.name(),
                            plan.node(), hash, meta, (ObjectNode) template.path("spec").deepCopy(), t));
                    if (!existing.containsKey(plan.name())) {
                        perNode.merge(plan.node(), 1, Integer::sum);
                    }
                }
            }
        }
        return out;
    }

    /** The labels of Namespace {@code ns} as applied; none if it was not applied. */
    static Map<String, String> namespaceLabels(List<KubeObject> manifests, String ns) {
        for (KubeObject o : manifests) {
            if (o.kind().equals("Namespace") && o.name().equals(ns)) {
                return o.labels();
            }
        }
        return Map.of();
    }

    private static String leastLoaded(List<String> nodes, Map<String, Integer> perNode) {
        String best = nodes.getFirst();
        for (String n : nodes) {
            if (perNode.getOrDefault(n, 0) < perNode.getOrDefault(best, 0)) {
                best = n;
            }
        }
        return best;
    }

    private static ObjectNode metadataOf(JsonNode source, String namespace, String name) {
        ObjectNode meta = NODES.objectNode();
        meta.put("name", name);
        meta.put("namespace", namespace);
        if (source.path("labels").isObject()) {
            meta.set("labels", source.path("labels").deepCopy());
        } else {
            meta.putObject("labels");
        }
        if (source.path("annotations").isObject()) {
            meta.set("annotations", source.path("annotations").deepCopy());
        }
        return meta;
    }
}
