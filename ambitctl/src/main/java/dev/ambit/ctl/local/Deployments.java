package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Deployments as Kubernetes names and places their pods: {@code <deploy>-<template
 * hash>-<5 chars>}, labelled {@code pod-template-hash}, owned by the ReplicaSet
 * {@code <deploy>-<hash>}, spread over the nodes. Pure functions: the controller applies them.
 */
public final class Deployments {

    /** Kubernetes' alphabet for generated names: no vowels (no words), no look-alikes. */
    static final String ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
    public static final String TEMPLATE_HASH_LABEL = "pod-template-hash";

    private Deployments() {
    }

    /** One pod a Deployment should have: where it comes from; name and node chosen by {@link #plan}. */
    public record PodPlan(String name, String node) {}

    /**
     * Checks a Deployment: replicas, a selector that matches the template's labels, a pod
     * template Ambit can run, restartPolicy Always.
     *
     * @throws IllegalArgumentException naming the field
     */
    static void validate(KubeObject d) {
        JsonNode spec = d.spec();
        JsonNode replicas = spec.path("replicas");
        if (!replicas.isMissingNode() && (!replicas.canConvertToInt() || replicas.asInt() < 0 || replicas.asInt() > 100)) {
            throw new IllegalArgumentException("spec.replicas: " + replicas + " (expected: 0-100)");
        }
        Map<String, String> selector = KubeObject.stringMap(spec.path("selector").path("matchLabels"));
        Map<String, String> labels = KubeObject.stringMap(spec.path("template").path("metadata").path("labels"));
        if (selector.isEmpty()) {
            throw new IllegalArgumentException("spec.selector.matchLabels: missing (expected: labels of spec.template)");
        }
        for (Map.Entry<String, String> e : selector.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                throw new IllegalArgumentException("spec.selector.matchLabels: " + e.getKey() + "=" + e.getValue()
                        + " does not match spec.template.metadata.labels " + labels
                        + " (expected: the selector picks the template's pods)");
            }
        }
        PodTemplate t = PodTemplate.parse(spec.path("template").path("spec"), "spec.template.spec");
        if (!t.restartPolicy().equals("Always")) {
            throw new IllegalArgumentException("spec.template.spec.restartPolicy: " + t.restartPolicy()
                    + " (expected: Always, the only policy a Deployment allows; use a Pod for OnFailure or Never)");
        }
    }

    /** {@code spec.replicas}, 1 when not given. */
    public static int replicas(KubeObject d) {
        JsonNode r = d.spec().path("replicas");
        return r.isMissingNode() || r.isNull() ? 1 : r.asInt();
    }

    /**
     * The pod template's hash, as {@code pod-template-hash}: FNV-1a over the template's
     * canonical JSON (keys sorted), in {@link #ALPHABET}; a changed template gives a new hash,
     * hence new pods.
     */
    public static String templateHash(KubeObject d) {
        StringBuilder canonical = new StringBuilder();
        canonical(d.spec().path("template"), canonical);
        int h = 0x811c9dc5;
        for (byte b : canonical.toString().getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x01000193;
        }
        long v = Integer.toUnsignedLong(h);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 10 && (v > 0 || out.isEmpty()); i++) {
            out.append(ALPHABET.charAt((int) (v % ALPHABET.length())));
            v /= ALPHABET.length();
        }
        return out.toString();
    }

    private static void canonical(JsonNode n, StringBuilder out) {
        if (n.isObject()) {
            TreeMap<String, JsonNode> sorted = new TreeMap<>();
            n.properties().forEach(e -> sorted.put(e.getKey(), e.getValue()));
            out.append('{');
            sorted.forEach((k, v) -> {
                out.append('"').append(k).append("\":");
                canonical(v, out);
                out.append(',');
            });
            out.append('}');
        } else if (n.isArray()) {
            out.append('[');
            n.forEach(x -> {
                canonical(x, out);
                out.append(',');
            });
            out.append(']');
        } else {
            out.append(n.toString());
        }
    }

    /** The ReplicaSet that would own the pods: {@code <deploy>-<hash>}. */
    public static String replicaSetName(KubeObject d) {
        return d.name() + "-" + templateHash(d);
    }

    /** A new pod name {@code <deploy>-<hash>-<5 chars>} not taken according to {@code taken}. */
    public static String newPodName(KubeObject d, Random random, Predicate<String> taken) {
        String prefix = replicaSetName(d) + "-";
        for (int attempt = 0; attempt < 1000; attempt++) {
            StringBuilder s = new StringBuilder(prefix);
            for (int i = 0; i < 5; i++) {
                s.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
            }
            if (!taken.test(s.toString())) {
                return s.toString();
            }
        }
        throw new IllegalStateException("no free pod name for deployment " + d.name() + " after 1000 attempts");
    }

    /**
     * Which pods the Deployment keeps and which it adds: the existing pods of the current
     * template are kept up to {@code replicas} (oldest names first, so scaling down removes
     * the newest), the rest are created on the node with the fewest pods of this Deployment
     * (then the fewest pods overall, then the lowest node index): round-robin over the nodes.
     *
     * @param existing names of this Deployment's current-template pods, with their nodes
     * @param nodes the cluster's nodes, in order
     * @param podsPerNode every pod on each node, to break ties
     * @return the pods to have: kept ones with their node, new ones with a fresh name
     */
    public static List<PodPlan> plan(KubeObject d, Map<String, String> existing, List<String> nodes,
                                     Map<String, Integer> podsPerNode, Random random, Predicate<String> taken) {
        requireNonNull(d, "d");
        requireNonNull(existing, "existing");
        requireNonNull(nodes, "nodes");
        if (nodes.isEmpty()) {
            throw new IllegalArgumentException("nodes: empty (expected: at least one node)");
        }
        int replicas = replicas(d);
        List<PodPlan> out = new ArrayList<>();
        Map<String, Integer> mine = new TreeMap<>();
        Map<String, Integer> all = new TreeMap<>(podsPerNode);
        existing.entrySet().stream().sorted(Map.Entry.comparingByKey()).limit(replicas).forEach(e -> {
            out.add(new PodPlan(e.getKey(), e.getValue()));
            mine.merge(e.getValue(), 1, Integer::sum);
        });
        while (out.size() < replicas) {
            String node = nodes.stream()
                    .min(Comparator.<String>comparingInt(n -> mine.getOrDefault(n, 0))
                            .thenComparingInt(n -> all.getOrDefault(n, 0))
                            .thenComparingInt(nodes::indexOf))
                    .orElseThrow();
            String name = newPodName(d, random,
                    n -> taken.test(n) || out.stream().anyMatch(p -> p.name().equals(n)));
            out.add(new PodPlan(name, node));
            mine.merge(node, 1, Integer::sum);
            all.merge(node, 1, Integer::sum);
        }
        return out;
    }
}
