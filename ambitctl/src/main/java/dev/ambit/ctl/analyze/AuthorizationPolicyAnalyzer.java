package dev.ambit.ctl.analyze;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.HttpAttributes;
import dev.ambit.istiod.model.Selectors;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * AuthorizationPolicies that do less than written:
 * <ul>
 *   <li>a selector (or a namespace) with no workload in the mesh (IST0127, as istioctl's
 *       {@code AuthorizationPoliciesAnalyzer}: the root namespace's selector looks mesh-wide);</li>
 *   <li>HTTP attributes (methods, paths, hosts, request principals, request headers...) in a
 *       policy the node agent enforces (no {@code targetRefs}): the node agent cannot check them,
 *       so an ALLOW rule is omitted and a DENY applies without them. Istio sets condition
 *       {@code ZtunnelAccepted=False} ({@code UnsupportedValue}), which istioctl reports as IST0171;</li>
 *   <li>{@code targetRefs} naming a Gateway or Service that does not exist (IST0101).</li>
 * </ul>
 */
final class AuthorizationPolicyAnalyzer implements Analyzer {

    @Override
    public void analyze(Analysis a) {
        List<Pod> meshPods = a.catalog().pods().stream().filter(a.catalog()::enrolled).toList();
        for (AuthorizationPolicy ap : a.config().list(Kind.AUTHORIZATION_POLICY, AuthorizationPolicy.class)) {
            var spec = ap.getSpec();
            List<PolicyTargetReference> targets = new ArrayList<>();
            if (spec != null && spec.getTargetRefs() != null) {
                targets.addAll(spec.getTargetRefs());
            }
            if (spec != null && spec.getTargetRef() != null) {
                targets.add(spec.getTargetRef());
            }
            if (!targets.isEmpty()) {
                targetRefs(a, ap, spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty(), targets);
                continue; // a waypoint's or gateway's policy: no selector, HTTP attributes are fine there
            }
            List<Pod> selected = selected(a, ap, meshPods);
            httpAttributes(a, ap, selected);
        }
    }

    /** The mesh pods the policy applies to; reports IST0127 when none. */
    private static List<Pod> selected(Analysis a, AuthorizationPolicy ap, List<Pod> meshPods) {
        String ns = ap.getMetadata().getNamespace();
        boolean root = ns.equals(a.mesh().rootNamespace());
        Map<String, String> selector = ap.getSpec() == null || ap.getSpec().getSelector() == null
                || ap.getSpec().getSelector().getMatchLabels() == null ? Map.of()
                : ap.getSpec().getSelector().getMatchLabels();
        List<Pod> scope = root ? meshPods : meshPods.stream().filter(p -> p.getMetadata().getNamespace().equals(ns)).toList();
        if (selector.isEmpty()) {
            if (!root && scope.isEmpty()) {
                a.report(MessageType.NO_MATCHING_WORKLOADS_FOUND, Kind.AUTHORIZATION_POLICY, ap, "",
                        "No matching workloads for this resource with the following labels: ",
                        "namespace " + ns + " has no pod in the ambient mesh: enrol it (kubectl label namespace " + ns
                                + " istio.io/dataplane-mode=ambient) or deploy the workloads it is for.");
            }
            return scope;
        }
        List<Pod> selected = scope.stream().filter(p -> Selectors.matches(selector,
                p.getMetadata().getLabels() == null ? Map.of() : p.getMetadata().getLabels())).toList();
        if (selected.isEmpty()) {
            String labels = new TreeMap<>(selector).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                    .collect(Collectors.joining(","));
            a.report(MessageType.NO_MATCHING_WORKLOADS_FOUND, Kind.AUTHORIZATION_POLICY, ap, "spec.selector.matchLabels",
                    "No matching workloads for this resource with the following labels: " + labels,
                    "correct the selector, or enrol the pods it is meant for (istio.io/dataplane-mode=ambient);"
                            + (root ? " in the root namespace it selects across the mesh." : " it selects pods of "
                            + ap.getMetadata().getNamespace() + " only."));
        }
        return selected;
    }

    private static void httpAttributes(Analysis a, AuthorizationPolicy ap, List<Pod> selected) {
        var spec = ap.getSpec();
        if (spec == null || spec.getRules() == null) {
            return;
        }
        AuthorizationPolicyAction action = spec.getAction() == null ? AuthorizationPolicyAction.ALLOW : spec.getAction();
        if (action == AuthorizationPolicyAction.AUDIT || action == AuthorizationPolicyAction.CUSTOM) {
            return;
        }
        boolean waypoint = selected.stream().anyMatch(p -> a.catalog().workloadWaypoint(p, w -> { }) != null)
                || a.catalog().services().stream().anyMatch(s -> a.catalog().serviceWaypoint(s, w -> { }) != null
                && a.catalog().endpoints(s).stream().anyMatch(selected::contains));
        List<Rule> rules = spec.getRules();
        for (int i = 0; i < rules.size(); i++) {
            if (rules.get(i) == null) {
                continue;
            }
            SortedSet<String> found = HttpAttributes.of(rules.get(i));
            if (found.isEmpty()) {
                continue;
            }
            String effect = action == AuthorizationPolicyAction.DENY
                    ? "DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more"
                    + " restrictive than requested."
                    : "Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more"
                    + " restrictive than requested.";
            String ns = ap.getMetadata().getNamespace();
            a.report(MessageType.NEGATIVE_CONDITION_STATUS, Kind.AUTHORIZATION_POLICY, ap, "spec.rules[" + i + "]",
                    "A condition with a negative status is present: type=ZtunnelAccepted, reason=UnsupportedValue,"
                            + " message=ztunnel does not support HTTP attributes (found: " + String.join(", ", found)
                            + "). In ambient mode you must use a waypoint proxy to enforce HTTP rules. " + effect,
                    waypoint ? "the selected workloads use a waypoint: replace the selector with targetRefs naming it"
                            + " (kind: Gateway, group: gateway.networking.k8s.io) or its Service."
                            : "no waypoint serves the selected workloads: deploy one (ambitctl waypoint apply -n " + ns
                            + " --enroll-namespace) and replace the selector with targetRefs naming it.");
        }
    }

    private static void targetRefs(Analysis a, AuthorizationPolicy ap, boolean plural, List<PolicyTargetReference> refs) {
        String ns = ap.getMetadata().getNamespace();
        for (int i = 0; i < refs.size(); i++) {
            PolicyTargetReference r = refs.get(i);
            if (r == null || r.getName() == null) {
                continue;
            }
            String field = plural ? "spec.targetRefs[" + i + "]" : "spec.targetRef";
            boolean exists = switch (r.getKind() == null ? "" : r.getKind()) {
                case "Gateway" -> a.config().get(Kind.GATEWAY, ns, r.getName(), Gateway.class).isPresent();
                case "Service" -> a.config().get(Kind.SERVICE, ns, r.getName(), Service.class).isPresent();
                default -> true; // GatewayClass, ServiceEntry: not judged here
            };
            if (!exists) {
                a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, Kind.AUTHORIZATION_POLICY, ap, field,
                        "Referenced " + r.getKind() + " not found: \"" + ns + "/" + r.getName() + "\".",
                        "create " + r.getKind() + " " + ns + "/" + r.getName() + " (a waypoint: ambitctl waypoint apply -n "
                                + ns + " --name " + r.getName() + "), or correct the targetRef; until then the policy"
                                + " applies nowhere.");
            }
        }
    }
}
