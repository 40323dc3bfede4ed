package dev.ambit.istiod.l7;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.Subset;
import io.fabric8.istio.api.api.networking.v1alpha3.TrafficPolicy;
import io.fabric8.istio.api.api.networking.v1alpha3.TrafficPolicyPortTrafficPolicy;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The DestinationRules by host, as the L7 translation applies them: subsets (by labels) and
 * {@code trafficPolicy.loadBalancer}, per port and per subset ({@link LoadBalancers}).
 *
 * <p>Several rules for one host: as Istio merges them, the oldest rule (creation time, then
 * namespace/name) comes first; subsets of later rules are added when their name is new
 * (a repeated name is reported and ignored) and the traffic policy is the first one set.
 * connectionPool and outlierDetection are translated by {@link ConnectionPools} and
 * {@link OutlierDetections}; settings not translated are reported as warnings, never silently dropped.
 */
final class DestinationRules {

    /** What applies to one host. */
    static final class HostPolicy {
        final Map<String, Subset> subsets = new LinkedHashMap<>();
        TrafficPolicy policy;
    }

    private final Map<String, HostPolicy> byHost = new HashMap<>();

    DestinationRules(ConfigSnapshot config, Hosts hosts, Problems problems) {
        List<DestinationRule> rules = new ArrayList<>(config.list(Kind.DESTINATION_RULE, DestinationRule.class));
        rules.sort(Comparator.comparing((DestinationRule d) -> Hosts.created(d)).thenComparing(Hosts::key));
        for (DestinationRule dr : rules) {
            var spec = dr.getSpec();
            if (spec == null || spec.getHost() == null || spec.getHost().isEmpty()) {
                problems.field(Kind.DESTINATION_RULE, dr, "spec.host", "missing (expected: a service host)");
                continue;
            }
            warnUntranslated(dr, problems);
            String host = hosts.resolve(spec.getHost(), dr.getMetadata().getNamespace());
            HostPolicy hp = byHost.computeIfAbsent(host, h -> new HostPolicy());
            if (hp.policy == null) {
                hp.policy = spec.getTrafficPolicy();
            } else if (spec.getTrafficPolicy() != null) {
                problems.field(Kind.DESTINATION_RULE, dr, "spec.trafficPolicy", "an older DestinationRule for "
                        + host + " already sets the traffic policy; this one is not applied");
            }
            List<Subset> subsets = spec.getSubsets() == null ? List.of() : spec.getSubsets();
            for (int i = 0; i < subsets.size(); i++) {
                Subset s = subsets.get(i);
                if (s == null || s.getName() == null || s.getName().isEmpty()) {
                    continue; // the validator rejects nameless subsets
                }
                if (hp.subsets.putIfAbsent(s.getName(), s) != null) {
                    problems.field(Kind.DESTINATION_RULE, dr, "spec.subsets[" + i + "]", "subset \"" + s.getName()
                            + "\" of " + host + " is already defined by an older DestinationRule; this one is ignored");
                }
            }
        }
    }

    HostPolicy forHost(String host) {
        return byHost.get(host);
    }

    boolean hasSubset(String host, String subset) {
        HostPolicy hp = byHost.get(host);
        return hp != null && hp.subsets.containsKey(subset);
    }

    /**
     * The load balancer of {@code host:port} (subset may be empty), merged as Istio's
     * {@code MergeSubsetTrafficPolicy}: the rule's port-level settings for the port replace
     * the rule's (not inherited: an unset loadBalancer there means the default); the subset's
     * loadBalancer, when set, replaces that; the subset's port-level settings for the port
     * replace it whatever they set. Null: Istio's default (LEAST_REQUEST).
     */
    LoadBalancerSettings loadBalancer(String host, int port, String subset) {
        HostPolicy hp = byHost.get(host);
        if (hp == null) {
            return null;
        }
        LoadBalancerSettings lb = hp.policy == null ? null : portLevel(hp.policy, port, hp.policy.getLoadBalancer());
        Subset s = subset.isEmpty() ? null : hp.subsets.get(subset);
        TrafficPolicy sp = s == null ? null : s.getTrafficPolicy();
        if (sp != null) {
            TrafficPolicyPortTrafficPolicy p = portSettings(sp, port);
            if (p != null) {
                lb = p.getLoadBalancer();
            } else if (sp.getLoadBalancer() != null) {
                lb = sp.getLoadBalancer();
            }
        }
        return lb;
    }

    private static LoadBalancerSettings portLevel(TrafficPolicy tp, int port, LoadBalancerSettings otherwise) {
        TrafficPolicyPortTrafficPolicy p = portSettings(tp, port);
        return p != null ? p.getLoadBalancer() : otherwise;
    }

    private static TrafficPolicyPortTrafficPolicy portSettings(TrafficPolicy tp, int port) {
        if (tp.getPortLevelSettings() != null) {
            for (TrafficPolicyPortTrafficPolicy p : tp.getPortLevelSettings()) {
                if (p != null && p.getPort() != null && p.getPort().getNumber() != null
                        && p.getPort().getNumber() == port) {
                    return p;
                }
            }
        }
        return null;
    }

    /** The effective load balancer of an {@code outbound|P|SUBSET|HOST} cluster name (null: default or not one). */
    LoadBalancerSettings loadBalancer(String clusterName) {
        return ClusterTranslator.ClusterName.parse(clusterName)
                .map(n -> loadBalancer(n.host(), n.port(), n.subset())).orElse(null);
    }

    private static void warnUntranslated(DestinationRule dr, Problems problems) {
        var spec = dr.getSpec();
        if (spec.getWorkloadSelector() != null) {
            problems.field(Kind.DESTINATION_RULE, dr, "spec.workloadSelector", "not supported by waypoints "
                    + "(the rule is applied to every client of the host)");
        }
        if (spec.getExportTo() != null && !spec.getExportTo().isEmpty()) {
            problems.field(Kind.DESTINATION_RULE, dr, "spec.exportTo", "not applied (visible mesh-wide)");
        }
        trafficPolicy(dr, "spec.trafficPolicy", spec.getTrafficPolicy(), problems);
        List<Subset> subsets = spec.getSubsets() == null ? List.of() : spec.getSubsets();
        for (int i = 0; i < subsets.size(); i++) {
            if (subsets.get(i) != null) {
                trafficPolicy(dr, "spec.subsets[" + i + "].trafficPolicy", subsets.get(i).getTrafficPolicy(), problems);
            }
        }
    }

    private static void trafficPolicy(DestinationRule dr, String path, TrafficPolicy tp, Problems problems) {
        if (tp == null) {
            return;
        }
        String next = "not applied yet (load balancing beyond simple, circuit breaking and outlier "
                + "detection come with issue 15)";
        ConnectionPools.warnUntranslated(dr, path + ".connectionPool", tp.getConnectionPool(), problems);
        OutlierDetections.warnUntranslated(dr, path + ".outlierDetection", tp.getOutlierDetection(), problems);
        loadBalancer(dr, path + ".loadBalancer", tp.getLoadBalancer(), problems, next);
        if (tp.getTls() != null) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".tls", "not applied (the waypoint reaches "
                    + "meshed endpoints over HBONE mTLS, others in plaintext)");
        }
        if (tp.getProxyProtocol() != null) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".proxyProtocol", "not supported");
        }
        if (tp.getTunnel() != null) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".tunnel", "not supported");
        }
        if (tp.getRetryBudget() != null) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".retryBudget", "not supported");
        }
        if (tp.getPortLevelSettings() != null) {
            for (int i = 0; i < tp.getPortLevelSettings().size(); i++) {
                var p = tp.getPortLevelSettings().get(i);
                String pp = path + ".portLevelSettings[" + i + "]";
                ConnectionPools.warnUntranslated(dr, pp + ".connectionPool", p.getConnectionPool(), problems);
                OutlierDetections.warnUntranslated(dr, pp + ".outlierDetection", p.getOutlierDetection(), problems);
                if (p.getTls() != null) {
                    problems.field(Kind.DESTINATION_RULE, dr, pp + ".tls", "not applied (the waypoint reaches "
                            + "meshed endpoints over HBONE mTLS, others in plaintext)");
                }
                loadBalancer(dr, pp + ".loadBalancer", p.getLoadBalancer(), problems, next);
            }
        }
    }

    private static void loadBalancer(DestinationRule dr, String path, LoadBalancerSettings lb, Problems problems,
                                     String next) {
        LoadBalancers.warn(dr, path, lb, problems); // lb: issue 15 translates loadBalancer (LoadBalancers)
    }
}
