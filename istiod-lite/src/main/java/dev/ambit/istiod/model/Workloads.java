package dev.ambit.istiod.model;

import dev.ambit.istiod.config.Cidr;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What Istio derives from one pod, shared by the ambient model and the L7 translation so
 * both name, address and count a workload the same way: liveness, readiness, addresses,
 * the workload name and type from its controlling owner, the canonical service and
 * revision, and the ports it serves for a service.
 */
public final class Workloads {

    private static final Pattern CRONJOB_JOB = Pattern.compile("(.+)-\\d{8,}");

    private Workloads() {}

    /** The workload kind and name Istio derives from the controlling owner. */
    public record Owner(String type, String name) {}

    /** A pod that is not finished and has a spec: it may still get, or have, an address. */
    public static boolean live(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return !"Succeeded".equals(phase) && !"Failed".equals(phase) && pod.getSpec() != null;
    }

    /** Ready condition true and not being deleted: Istio's HEALTHY. */
    public static boolean ready(Pod pod) {
        if (pod.getMetadata().getDeletionTimestamp() != null || pod.getStatus() == null
                || pod.getStatus().getConditions() == null) {
            return false;
        }
        return pod.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    /** The pod's IPs as text, {@code podIPs} first, else {@code podIP}; invalid ones left out. */
    public static List<String> ips(Pod pod) {
        if (pod.getStatus() == null) {
            return List.of();
        }
        List<String> ips = new ArrayList<>();
        if (pod.getStatus().getPodIPs() != null) {
            for (PodIP ip : pod.getStatus().getPodIPs()) {
                if (ip.getIp() != null) {
                    ips.add(ip.getIp());
                }
            }
        }
        if (ips.isEmpty() && pod.getStatus().getPodIP() != null) {
            ips.add(pod.getStatus().getPodIP());
        }
        return ips.stream().filter(ip -> Cidr.parse(ip) != null).toList();
    }

    /** The pod's IPs as address bytes, in {@link #ips} order. */
    public static List<byte[]> addresses(Pod pod) {
        return ips(pod).stream().map(ip -> Cidr.parse(ip).address()).toList();
    }

    /** Type ({@code DEPLOYMENT}, {@code CRONJOB}, {@code JOB}, {@code POD}) and name, from the controlling owner. */
    public static Owner owner(Pod pod) {
        var owners = pod.getMetadata().getOwnerReferences();
        OwnerReference owner = owners == null ? null : owners.stream()
                .filter(o -> Boolean.TRUE.equals(o.getController())).findFirst()
                .orElse(owners.isEmpty() ? null : owners.getFirst());
        if (owner == null) {
            return new Owner("POD", pod.getMetadata().getName());
        }
        String hash = labels(pod.getMetadata().getLabels()).get("pod-template-hash");
        return switch (owner.getKind()) {
            case "ReplicaSet" -> hash != null && owner.getName().endsWith("-" + hash)
                    ? new Owner("DEPLOYMENT", owner.getName().substring(0, owner.getName().length() - hash.length() - 1))
                    : new Owner("POD", owner.getName());
            case "Job" -> {
                var m = CRONJOB_JOB.matcher(owner.getName());
                yield m.matches() ? new Owner("CRONJOB", m.group(1)) : new Owner("JOB", owner.getName());
            }
            default -> new Owner("POD", owner.getName());
        };
    }

    /** Istio's canonical service: its label, else the Kubernetes name labels, else the workload name. */
    public static String canonicalName(Pod pod) {
        return first(labels(pod.getMetadata().getLabels()), owner(pod).name(), "service.istio.io/canonical-name",
                "app.kubernetes.io/name", "app");
    }

    /** Istio's canonical revision: its label, else the version labels, else {@code latest}. */
    public static String canonicalRevision(Pod pod) {
        return first(labels(pod.getMetadata().getLabels()), "latest", "service.istio.io/canonical-revision",
                "app.kubernetes.io/version", "version");
    }

    /**
     * Service port → target port as this pod serves it, TCP ports only: named target ports
     * are resolved against its containers; a pod without the named port does not serve
     * that service port (Istio's rule), so it is left out.
     */
    public static Map<Integer, Integer> targetPorts(Service svc, Pod pod) {
        Map<Integer, Integer> out = new LinkedHashMap<>();
        for (ServicePort p : svc.getSpec().getPorts() == null ? List.<ServicePort>of() : svc.getSpec().getPorts()) {
            if (p.getProtocol() != null && !p.getProtocol().equals("TCP")) {
                continue;
            }
            IntOrString target = p.getTargetPort();
            Integer port = target == null ? p.getPort()
                    : target.getIntVal() != null ? target.getIntVal() : containerPort(pod, target.getStrVal());
            if (port != null) {
                out.put(p.getPort(), port);
            }
        }
        return out;
    }

    private static Integer containerPort(Pod pod, String name) {
        for (Container c : pod.getSpec().getContainers() == null ? List.<Container>of() : pod.getSpec().getContainers()) {
            for (ContainerPort cp : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                if (name.equals(cp.getName())) {
                    return cp.getContainerPort();
                }
            }
        }
        return null;
    }

    static String first(Map<String, String> labels, String fallback, String... keys) {
        for (String k : keys) {
            String v = labels.get(k);
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return fallback;
    }

    /** {@code labels}, or an empty map for {@code null}. */
    public static Map<String, String> labels(Map<String, String> labels) {
        return labels == null ? Map.of() : labels;
    }
}
