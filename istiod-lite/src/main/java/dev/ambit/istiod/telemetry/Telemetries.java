package dev.ambit.istiod.telemetry;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.TelemetryProviders;
import io.fabric8.istio.api.api.telemetry.v1alpha1.AccessLogging;
import io.fabric8.istio.api.api.telemetry.v1alpha1.Metrics;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricsOverrides;
import io.fabric8.istio.api.api.telemetry.v1alpha1.ProviderRef;
import io.fabric8.istio.api.api.telemetry.v1alpha1.Tracing;
import io.fabric8.istio.api.api.telemetry.v1alpha1.WorkloadMode;
import io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference;
import io.fabric8.istio.api.telemetry.v1.Telemetry;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Telemetry objects of one snapshot, resolved per proxy as Istio merges them: the root
 * namespace's Telemetry without selector (mesh-wide), then the proxy's namespace's Telemetry
 * without selector, then the one that selects the proxy (a {@code selector} matching its pods'
 * labels, or {@code targetRefs} naming its Gateway or the Service an HCM serves), the later
 * overriding the earlier field by field:
 * <ul>
 *   <li>{@code tracing}: a non-empty {@code providers} replaces the providers;
 *       {@code randomSamplingPercentage} and {@code disableSpanReporting} override;
 *       {@code customTags} are merged by tag name. The defaults are MeshConfig's
 *       {@code defaultProviders.tracing} and {@code defaultConfig.tracing.sampling}; Envoy takes one
 *       provider, the first.</li>
 *   <li>{@code metrics}: a non-empty {@code providers} replaces the providers (default
 *       {@code defaultProviders.metrics}, else {@code prometheus}); {@code overrides} accumulate in
 *       that order, a later one winning per metric and tag.</li>
 *   <li>{@code accessLogging}: each entry switches its {@code providers} (none named: those of the
 *       entry before it, as Istio's; for the first, the defaults {@code defaultProviders.accessLogging}
 *       plus {@code envoy} when MeshConfig {@code accessLogFile} is set) on, or off with {@code disabled: true}; its
 *       {@code filter} replaces the provider's filter.</li>
 * </ul>
 * Entries whose {@code match.mode} excludes the proxy's side are skipped (a gateway is a client,
 * a waypoint a server). Several Telemetries at one level: the oldest applies, the others are
 * reported (Istio: "multiple Telemetry ... only one will be used"). An unknown provider is reported
 * and left out (validation normally refuses it first, {@link TelemetryValidation}).
 */
public final class Telemetries {

    /** Receives one problem with a Telemetry object's field. */
    @FunctionalInterface
    public interface Problems {
        void field(Telemetry telemetry, String field, String reason);
    }

    private final MeshConfig mesh;
    private final TelemetryProviders providers;
    private final Problems problems;
    private final List<Telemetry> all;

    private Telemetries(ConfigSnapshot config, MeshConfig mesh, Problems problems) {
        this.mesh = mesh;
        this.providers = mesh.telemetry();
        this.problems = problems;
        List<Telemetry> list = new ArrayList<>(config.list(Kind.TELEMETRY, Telemetry.class));
        list.sort(Comparator.comparing((Telemetry t) -> String.valueOf(t.getMetadata().getCreationTimestamp()))
                .thenComparing(t -> t.getMetadata().getNamespace())
                .thenComparing(t -> t.getMetadata().getName()));
        this.all = List.copyOf(list);
    }

    /** The Telemetries of {@code config} under {@code mesh}; problems found while resolving go to {@code problems}. */
    public static Telemetries of(ConfigSnapshot config, MeshConfig mesh, Problems problems) {
        return new Telemetries(requireNonNull(config, "config"), requireNonNull(mesh, "mesh"),
                requireNonNull(problems, "problems"));
    }

    /** The Telemetries that apply to {@code scope}, root first, most specific last. */
    List<Telemetry> applicable(ProxyScope scope) {
        List<Telemetry> out = new ArrayList<>();
        String root = mesh.rootNamespace();
        first(all.stream().filter(t -> ns(t).equals(root) && selectorless(t)).toList(), "root namespace " + root)
                .ifPresent(out::add);
        if (!scope.namespace().equals(root)) {
            first(all.stream().filter(t -> ns(t).equals(scope.namespace()) && selectorless(t)).toList(),
                    "namespace " + scope.namespace()).ifPresent(out::add);
        }
        first(all.stream().filter(t -> ns(t).equals(scope.namespace()) && !selectorless(t) && selects(t, scope))
                .toList(), "the same workload").ifPresent(out::add);
        return out;
    }

    /** What {@code scope}'s HCM reports and where. */
    public ProxyTelemetry resolve(ProxyScope scope) {
        requireNonNull(scope, "scope");
        List<Telemetry> chain = applicable(scope);
        return new ProxyTelemetry(scope, tracing(scope, chain), metrics(scope, chain), accessLogs(scope, chain));
    }

    // ------------------------------------------------------------------ tracing

    private ProxyTelemetry.TracingSettings tracing(ProxyScope scope, List<Telemetry> chain) {
        if (!providers.enableTracing()) {
            return null;
        }
        List<String> names = providers.defaultTracing();
        double sampling = providers.defaultSampling();
        boolean disabled = false;
        Map<String, io.fabric8.istio.api.api.telemetry.v1alpha1.TracingCustomTag> tags = new LinkedHashMap<>();
        Telemetry from = null;
        for (Telemetry t : chain) {
            List<Tracing> entries = t.getSpec().getTracing() == null ? List.of() : t.getSpec().getTracing();
            for (Tracing e : entries) {
                if (e == null || !applies(e.getMatch() == null ? null : e.getMatch().getMode(), scope)) {
                    continue;
                }
                if (e.getProviders() != null && !e.getProviders().isEmpty()) {
                    names = names(e.getProviders());
                    from = t;
                }
                if (e.getRandomSamplingPercentage() != null) {
                    sampling = e.getRandomSamplingPercentage();
                }
                if (e.getDisableSpanReporting() != null) {
                    disabled = e.getDisableSpanReporting();
                }
                if (e.getCustomTags() != null) {
                    tags.putAll(e.getCustomTags());
                }
            }
        }
        if (disabled || names.isEmpty()) {
            return null;
        }
        String name = names.get(0);
        TelemetryProviders.Provider p = providers.provider(name).orElse(null);
        if (!(p instanceof TelemetryProviders.Zipkin) && !(p instanceof TelemetryProviders.OpenTelemetry)) {
            if (from != null) {
                problems.field(from, "spec.tracing.providers", p == null ? "unknown provider " + name
                        + " (expected: the name of a zipkin or opentelemetry extensionProviders entry); no tracing"
                        : "provider " + name + " is not a tracing provider (expected: zipkin or opentelemetry); "
                        + "no tracing");
            }
            return null;
        }
        return new ProxyTelemetry.TracingSettings(p, sampling, tags);
    }

    // ------------------------------------------------------------------ metrics

    private ProxyTelemetry.MetricsSettings metrics(ProxyScope scope, List<Telemetry> chain) {
        List<String> names = providers.defaultMetrics().isEmpty() ? List.of(TelemetryProviders.PROMETHEUS)
                : providers.defaultMetrics();
        List<ProxyTelemetry.MetricOverride> overrides = new ArrayList<>();
        for (Telemetry t : chain) {
            List<Metrics> entries = t.getSpec().getMetrics() == null ? List.of() : t.getSpec().getMetrics();
            for (int i = 0; i < entries.size(); i++) {
                Metrics e = entries.get(i);
                if (e == null) {
                    continue;
                }
                if (e.getProviders() != null && !e.getProviders().isEmpty()) {
                    names = names(e.getProviders());
                    for (String n : names) {
                        if (providers.provider(n).isEmpty()) {
                            problems.field(t, "spec.metrics[" + i + "].providers", "unknown provider " + n
                                    + " (expected: prometheus or an extensionProviders entry)");
                        }
                    }
                }
                List<MetricsOverrides> os = e.getOverrides() == null ? List.of() : e.getOverrides();
                for (int j = 0; j < os.size(); j++) {
                    MetricsOverrides o = os.get(j);
                    if (o == null || !applies(o.getMatch() == null ? null : o.getMatch().getMode(), scope)) {
                        continue;
                    }
                    overrides.add(new ProxyTelemetry.MetricOverride(t, "spec.metrics[" + i + "].overrides[" + j + "]", o));
                }
            }
        }
        boolean prometheus = names.stream().map(providers::provider)
                .anyMatch(p -> p.isPresent() && p.get() instanceof TelemetryProviders.Prometheus);
        return new ProxyTelemetry.MetricsSettings(prometheus, overrides);
    }

    // ------------------------------------------------------------------ access logs

    private List<ProxyTelemetry.AccessLog> accessLogs(ProxyScope scope, List<Telemetry> chain) {
        Set<String> defaults = new LinkedHashSet<>(providers.defaultAccessLogging());
        if (!providers.accessLogFile().isEmpty()) {
            defaults.add(TelemetryProviders.ENVOY);
        }
        Map<String, String> enabled = new LinkedHashMap<>(); // provider → filter expression ("" = none)
        defaults.forEach(d -> enabled.put(d, ""));
        Map<String, String> filters = new LinkedHashMap<>();
        // An entry naming no provider means the providers of the entry before it (Istio's
        // mergeLogs), so a namespace's {disabled: true} turns off what the root turned on.
        List<String> parent = List.copyOf(defaults);
        for (Telemetry t : chain) {
            List<AccessLogging> entries = t.getSpec().getAccessLogging() == null ? List.of()
                    : t.getSpec().getAccessLogging();
            for (int i = 0; i < entries.size(); i++) {
                AccessLogging e = entries.get(i);
                if (e == null || !applies(e.getMatch() == null ? null : e.getMatch().getMode(), scope)) {
                    continue;
                }
                List<String> targets = e.getProviders() == null || e.getProviders().isEmpty()
                        ? parent : names(e.getProviders());
                parent = targets;
                for (String n : targets) {
                    if (Boolean.TRUE.equals(e.getDisabled())) {
                        enabled.remove(n);
                        continue;
                    }
                    if (e.getFilter() != null && e.getFilter().getExpression() != null
                            && !e.getFilter().getExpression().isEmpty()) {
                        filters.put(n, e.getFilter().getExpression());
                    }
                    enabled.put(n, filters.getOrDefault(n, ""));
                }
            }
        }
        List<ProxyTelemetry.AccessLog> out = new ArrayList<>();
        enabled.forEach((name, filter) -> {
            TelemetryProviders.Provider p = providers.provider(name).orElse(null);
            if (p instanceof TelemetryProviders.FileAccessLog f) {
                out.add(new ProxyTelemetry.AccessLog(f, filters.getOrDefault(name, filter)));
            } else {
                chain.stream().filter(t -> t.getSpec().getAccessLogging() != null && t.getSpec().getAccessLogging()
                        .stream().anyMatch(e -> e != null && e.getProviders() != null && names(e.getProviders())
                                .contains(name))).findFirst()
                        .ifPresent(t -> problems.field(t, "spec.accessLogging.providers", (p == null ? "unknown "
                                + "provider " : "provider is not a file access log: ") + name
                                + " (expected: envoy or an envoyFileAccessLog extensionProviders entry); left out"));
            }
        });
        return out;
    }

    // ------------------------------------------------------------------ selection

    private java.util.Optional<Telemetry> first(List<Telemetry> candidates, String level) {
        if (candidates.size() > 1) {
            for (Telemetry t : candidates.subList(1, candidates.size())) {
                problems.field(t, "metadata", "more than one Telemetry applies at " + level + "; the oldest, "
                        + candidates.get(0).getMetadata().getNamespace() + "/" + candidates.get(0).getMetadata().getName()
                        + ", is used (as Istio)");
            }
        }
        return candidates.stream().findFirst();
    }

    private static String ns(Telemetry t) {
        return t.getMetadata().getNamespace();
    }

    static boolean selectorless(Telemetry t) {
        var spec = t.getSpec();
        if (spec == null) {
            return true;
        }
        boolean selector = spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
                && !spec.getSelector().getMatchLabels().isEmpty();
        return !selector && spec.getTargetRef() == null && (spec.getTargetRefs() == null || spec.getTargetRefs().isEmpty());
    }

    private static boolean selects(Telemetry t, ProxyScope scope) {
        var spec = t.getSpec();
        if (spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
                && !spec.getSelector().getMatchLabels().isEmpty()) {
            return scope.labels().entrySet().containsAll(spec.getSelector().getMatchLabels().entrySet());
        }
        List<PolicyTargetReference> refs = new ArrayList<>();
        if (spec.getTargetRef() != null) {
            refs.add(spec.getTargetRef());
        }
        if (spec.getTargetRefs() != null) {
            refs.addAll(spec.getTargetRefs());
        }
        for (PolicyTargetReference r : refs) {
            if (r == null || (r.getNamespace() != null && !r.getNamespace().isEmpty()
                    && !r.getNamespace().equals(ns(t)))) {
                continue;
            }
            String group = r.getGroup() == null ? "" : r.getGroup();
            if ("Gateway".equals(r.getKind()) && group.equals("gateway.networking.k8s.io")
                    && r.getName() != null && r.getName().equals(scope.gatewayName())) {
                return true;
            }
            if ("Service".equals(r.getKind()) && (group.isEmpty() || group.equals("core"))
                    && r.getName() != null && r.getName().equals(scope.serviceName())
                    && ns(t).equals(scope.serviceNamespace())) {
                return true;
            }
        }
        return false;
    }

    /** Whether an entry with {@code match.mode} applies to the proxy's reporting side. */
    static boolean applies(WorkloadMode mode, ProxyScope scope) {
        if (mode == null || mode == WorkloadMode.CLIENT_AND_SERVER) {
            return true;
        }
        return scope.client() ? mode == WorkloadMode.CLIENT : mode == WorkloadMode.SERVER;
    }

    private static List<String> names(List<ProviderRef> refs) {
        return refs.stream().filter(r -> r != null && r.getName() != null).map(ProviderRef::getName).toList();
    }
}
