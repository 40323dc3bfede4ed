package dev.ambit.istiod.l7;

import com.google.protobuf.Duration;
import com.google.protobuf.UInt64Value;
import dev.ambit.istiod.config.Kind;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.RuntimeDouble;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.type.v3.Percent;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHash;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLB;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBHttpCookie;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBHttpHeaderName;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBHttpQueryParameterName;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBMaglev;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBRingHash;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBUseSourceIp;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsSimple;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsSimpleLB;
import io.fabric8.istio.api.api.networking.v1alpha3.WarmupConfiguration;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * DestinationRule {@code loadBalancer} → Envoy, as Istio's {@code applyLoadBalancer} and
 * {@code ConsistentHashToHashPolicy}:
 * <ul>
 * <li>{@code simple}: ROUND_ROBIN, LEAST_REQUEST (and the deprecated LEAST_CONN), RANDOM;
 *     UNSPECIFIED or none: Istio's default LEAST_REQUEST. PASSTHROUGH (Istio: an ORIGINAL_DST
 *     cluster) makes no sense behind a waypoint, whose requests are addressed to the service:
 *     warned, default applied.
 * <li>{@code warmup} / {@code warmupDurationSecs} → {@code round_robin_lb_config} /
 *     {@code least_request_lb_config} {@code .slow_start_config} (window; with {@code warmup}
 *     also aggression (1.0) and min_weight_percent (10), as Istio).
 * <li>{@code consistentHash}: the cluster becomes RING_HASH ({@code ring_hash_lb_config.minimum_ring_size}
 *     from {@code ringHash.minimumRingSize}, or the deprecated {@code minimumRingSize}, else
 *     1024) or MAGLEV ({@code maglev_lb_config.table_size} when set); the routes to the cluster
 *     get {@code RouteAction.hash_policy} from the key (header, cookie {name, path, ttl,
 *     attributes}, source IP, query parameter). As Istio, a route with a single destination
 *     that hashes drops the retry policy's {@code previous_hosts} predicate (retries stay on
 *     the hashed host); the default route keeps it.
 * <li>{@code localityLbSetting}: the model has no localities (one locality per cluster): warned.
 * </ul>
 */
final class LoadBalancers {

    /** Istio's fixed runtime key for the warmup aggression (it exposes no runtime). */
    static final String AGGRESSION_RUNTIME_KEY = "(";

    private LoadBalancers() {}

    /** Sets {@code c}'s {@code lb_policy} and its config from {@code lb} (null: Istio's default). */
    static void apply(Cluster.Builder c, LoadBalancerSettings lb) {
        LoadBalancerSettingsSimpleLB simple = lb != null && lb.getLbPolicy() instanceof LoadBalancerSettingsSimple s
                ? s.getSimple() : null;
        Duration window = warmupWindow(lb);
        if (simple == LoadBalancerSettingsSimpleLB.RANDOM) {
            c.setLbPolicy(Cluster.LbPolicy.RANDOM);
        } else if (simple == LoadBalancerSettingsSimpleLB.ROUND_ROBIN) {
            c.setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN);
            if (window != null) {
                c.setRoundRobinLbConfig(Cluster.RoundRobinLbConfig.newBuilder().setSlowStartConfig(slowStart(lb)));
            }
        } else {
            // LEAST_REQUEST, LEAST_CONN, UNSPECIFIED, PASSTHROUGH (warned) and consistentHash
            // (which then overrides the policy below), as Istio's default branch.
            c.setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST);
            if (window != null) {
                c.setLeastRequestLbConfig(Cluster.LeastRequestLbConfig.newBuilder().setSlowStartConfig(slowStart(lb)));
            }
        }
        LoadBalancerSettingsConsistentHashLB hash = consistentHash(lb);
        if (hash == null) {
            return;
        }
        if (hash.getHashAlgorithm() instanceof LoadBalancerSettingsConsistentHashLBMaglev m) {
            c.setLbPolicy(Cluster.LbPolicy.MAGLEV);
            Long size = m.getMaglev() == null ? null : m.getMaglev().getTableSize();
            if (size != null && size != 0) {
                c.setMaglevLbConfig(Cluster.MaglevLbConfig.newBuilder().setTableSize(UInt64Value.of(size)));
            }
        } else if (hash.getHashAlgorithm() instanceof LoadBalancerSettingsConsistentHashLBRingHash r) {
            c.setLbPolicy(Cluster.LbPolicy.RING_HASH);
            long size = ringSize(r);
            if (size != 0) {
                c.setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder().setMinimumRingSize(UInt64Value.of(size)));
            }
        } else {
            Long deprecated = hash.getMinimumRingSize();
            c.setLbPolicy(Cluster.LbPolicy.RING_HASH);
            c.setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder().setMinimumRingSize(
                    UInt64Value.of(deprecated != null && deprecated != 0 ? deprecated : 1024)));
        }
    }

    /**
     * {@code ringHash.minimumRingSize}. The fabric8 model gives the inner RingHash message the
     * oneof wrapper's class, so the size arrives as an additional property.
     */
    private static long ringSize(LoadBalancerSettingsConsistentHashLBRingHash r) {
        Object inner = r.getRingHash() == null ? null
                : r.getRingHash().getAdditionalProperties().get("minimumRingSize");
        if (inner instanceof Number n) {
            return n.longValue();
        }
        if (inner instanceof String s) {
            try {
                return Long.parseLong(s);
            } catch (NumberFormatException e) {
                return 0;
            }
        }
        return 0;
    }

    private static Duration warmupWindow(LoadBalancerSettings lb) {
        if (lb == null) {
            return null;
        }
        if (lb.getWarmup() != null && lb.getWarmup().getDuration() != null) {
            return Envoy.duration(lb.getWarmup().getDuration());
        }
        return lb.getWarmupDurationSecs() == null ? null : Envoy.duration(lb.getWarmupDurationSecs());
    }

    private static Cluster.SlowStartConfig.Builder slowStart(LoadBalancerSettings lb) {
        Cluster.SlowStartConfig.Builder b = Cluster.SlowStartConfig.newBuilder().setSlowStartWindow(warmupWindow(lb));
        WarmupConfiguration w = lb.getWarmup();
        if (w != null && w.getDuration() != null) {
            b.setAggression(RuntimeDouble.newBuilder()
                    .setDefaultValue(w.getAggression() == null ? 1.0 : w.getAggression())
                    .setRuntimeKey(AGGRESSION_RUNTIME_KEY))
                    .setMinWeightPercent(Percent.newBuilder()
                            .setValue(w.getMinimumPercent() == null ? 10.0 : w.getMinimumPercent()));
        }
        return b;
    }

    private static LoadBalancerSettingsConsistentHashLB consistentHash(LoadBalancerSettings lb) {
        return lb != null && lb.getLbPolicy() instanceof LoadBalancerSettingsConsistentHash h ? h.getConsistentHash() : null;
    }

    /** The route hash policy of {@code lb}'s consistentHash key, or null (no consistentHash, no key). */
    static RouteAction.HashPolicy hashPolicy(LoadBalancerSettings lb) {
        LoadBalancerSettingsConsistentHashLB hash = consistentHash(lb);
        if (hash == null) {
            return null;
        }
        return switch (hash.getHashKey()) {
            case LoadBalancerSettingsConsistentHashLBHttpHeaderName h when h.getHttpHeaderName() != null ->
                    RouteAction.HashPolicy.newBuilder().setHeader(RouteAction.HashPolicy.Header.newBuilder()
                            .setHeaderName(h.getHttpHeaderName())).build();
            case LoadBalancerSettingsConsistentHashLBHttpCookie c when c.getHttpCookie() != null -> {
                var cookie = c.getHttpCookie();
                RouteAction.HashPolicy.Cookie.Builder b = RouteAction.HashPolicy.Cookie.newBuilder()
                        .setName(cookie.getName() == null ? "" : cookie.getName())
                        .setPath(cookie.getPath() == null ? "" : cookie.getPath());
                Duration ttl = cookie.getTtl() == null ? null : Envoy.duration(cookie.getTtl());
                if (ttl != null) {
                    b.setTtl(ttl);
                }
                if (cookie.getAttributes() != null) {
                    for (var a : cookie.getAttributes()) {
                        if (a != null && a.getName() != null) {
                            b.addAttributes(RouteAction.HashPolicy.CookieAttribute.newBuilder().setName(a.getName())
                                    .setValue(a.getValue() == null ? "" : a.getValue()));
                        }
                    }
                }
                yield RouteAction.HashPolicy.newBuilder().setCookie(b).build();
            }
            case LoadBalancerSettingsConsistentHashLBUseSourceIp s when s.getUseSourceIp() != null ->
                    RouteAction.HashPolicy.newBuilder().setConnectionProperties(
                            RouteAction.HashPolicy.ConnectionProperties.newBuilder().setSourceIp(s.getUseSourceIp()))
                            .build();
            case LoadBalancerSettingsConsistentHashLBHttpQueryParameterName q when q.getHttpQueryParameterName() != null ->
                    RouteAction.HashPolicy.newBuilder().setQueryParameter(RouteAction.HashPolicy.QueryParameter
                            .newBuilder().setName(q.getHttpQueryParameterName())).build();
            case null, default -> null;
        };
    }

    /**
     * {@code routes} with the hash policies of their destination clusters ({@code lbOf}: the
     * effective load balancer of a cluster name, null when none or not ours): one per
     * destination that hashes, in destination order, as Istio appends them.
     */
    static List<Route> withHashPolicies(List<Route> routes, Function<String, LoadBalancerSettings> lbOf) {
        List<Route> out = new ArrayList<>(routes.size());
        for (Route r : routes) {
            if (!r.hasRoute() || r.getRoute().getHashPolicyCount() > 0) {
                out.add(r);
                continue;
            }
            RouteAction a = r.getRoute();
            List<RouteAction.HashPolicy> policies = new ArrayList<>();
            if (a.getClusterSpecifierCase() == RouteAction.ClusterSpecifierCase.CLUSTER) {
                add(policies, lbOf.apply(a.getCluster()));
            } else if (a.hasWeightedClusters()) {
                for (WeightedCluster.ClusterWeight w : a.getWeightedClusters().getClustersList()) {
                    add(policies, lbOf.apply(w.getName()));
                }
            }
            if (policies.isEmpty()) {
                out.add(r);
                continue;
            }
            RouteAction.Builder b = a.toBuilder().addAllHashPolicy(policies);
            boolean single = a.getClusterSpecifierCase() == RouteAction.ClusterSpecifierCase.CLUSTER;
            if (single && !r.getName().equals("default") && a.hasRetryPolicy()) {
                // Istio's retry.ConvertPolicy(policy, hashPolicy=true): no previous_hosts predicate.
                RetryPolicy.Builder rp = a.getRetryPolicy().toBuilder().clearRetryHostPredicate();
                b.setRetryPolicy(rp);
            }
            out.add(r.toBuilder().setRoute(b).build());
        }
        return out;
    }

    private static void add(List<RouteAction.HashPolicy> policies, LoadBalancerSettings lb) {
        RouteAction.HashPolicy p = hashPolicy(lb);
        if (p != null) {
            policies.add(p);
        }
    }

    /** Reports what of {@code lb} (at {@code path} of {@code dr}) is not applied as written. */
    static void warn(DestinationRule dr, String path, LoadBalancerSettings lb, Problems problems) {
        if (lb == null) {
            return;
        }
        if (lb.getLbPolicy() instanceof LoadBalancerSettingsSimple s && s.getSimple() != null) {
            switch (s.getSimple()) {
                case PASSTHROUGH -> problems.field(Kind.DESTINATION_RULE, dr, path + ".simple",
                        "PASSTHROUGH is not supported by waypoints (requests are addressed to the service, "
                                + "there is no original destination to pass through to); LEAST_REQUEST is used");
                case LEAST_CONN -> problems.field(Kind.DESTINATION_RULE, dr, path + ".simple",
                        "LEAST_CONN is deprecated; applied as LEAST_REQUEST");
                default -> { }
            }
        }
        LoadBalancerSettingsConsistentHashLB hash = consistentHash(lb);
        if (hash != null) {
            if (hash.getHashKey() == null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".consistentHash", "no hash key (expected: "
                        + "httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName); requests are "
                        + "spread at random");
            } else if (hash.getHashKey() instanceof LoadBalancerSettingsConsistentHashLBHttpCookie c
                    && c.getHttpCookie() != null && c.getHttpCookie().getTtl() != null
                    && Envoy.duration(c.getHttpCookie().getTtl()) == null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".consistentHash.httpCookie.ttl", "\""
                        + c.getHttpCookie().getTtl() + "\" is not a duration; no cookie is generated");
            } else if (hash.getHashKey() instanceof LoadBalancerSettingsConsistentHashLBUseSourceIp s
                    && !Boolean.TRUE.equals(s.getUseSourceIp())) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".consistentHash.useSourceIp", "false: no hash "
                        + "key; requests are spread at random");
            }
        }
        if (lb.getLocalityLbSetting() != null) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".localityLbSetting", "not applied (the mesh model "
                    + "has no localities: every endpoint is in one locality)");
        }
        String warmup = lb.getWarmup() != null ? lb.getWarmup().getDuration() : lb.getWarmupDurationSecs();
        String warmupPath = path + (lb.getWarmup() != null ? ".warmup.duration" : ".warmupDurationSecs");
        if (warmup != null && Envoy.duration(warmup) == null) {
            problems.field(Kind.DESTINATION_RULE, dr, warmupPath, "\"" + warmup + "\" is not a duration; no warmup");
        } else if (warmup != null && (hash != null || lb.getLbPolicy() instanceof LoadBalancerSettingsSimple s
                && s.getSimple() == LoadBalancerSettingsSimpleLB.RANDOM)) {
            problems.field(Kind.DESTINATION_RULE, dr, warmupPath, "not applied: slow start is for ROUND_ROBIN "
                    + "and LEAST_REQUEST only (as Envoy)");
        }
    }
}
