package dev.ambit.istiod.config;

import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Condition;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.type.v1beta1.WorkloadSelector;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks what the API server's schema would not: names, label selectors, addresses,
 * ports, condition keys, and the routing objects' regexes, weights and durations
 * ({@link dev.ambit.istiod.l7.L7Validation}). Reports every problem found with the field path.
 */
final class ObjectValidator {

    /** Receives one problem: field path and reason. */
    @FunctionalInterface
    interface Problems {
        void add(String field, String reason);
    }

    private static final Pattern DNS1123_SUBDOMAIN =
            Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    private static final Pattern DNS1123_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    private static final Pattern LABEL_NAME = Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
    private static final Pattern PORT_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

    /** Condition keys Istio documents for AuthorizationPolicy {@code when}. */
    private static final Set<String> CONDITION_KEYS = Set.of(
            "source.ip", "remote.ip", "source.namespace", "source.principal", "source.serviceAccount",
            "request.auth.principal", "request.auth.audiences", "request.auth.presenter",
            "destination.ip", "destination.port", "connection.sni");
    private static final List<String> CONDITION_PREFIXES = List.of(
            "request.headers[", "request.auth.claims[", "experimental.envoy.filters.");

    void validate(Kind kind, HasMetadata object, Problems problems) {
        validateMetadata(kind, object, problems);
        switch (object) {
            case AuthorizationPolicy ap when ap.getSpec() != null -> validate(ap.getSpec(), problems);
            case PeerAuthentication pa when pa.getSpec() != null -> validate(pa.getSpec(), problems);
            case Service svc when svc.getSpec() != null -> validate(svc, problems);
            case io.fabric8.istio.api.networking.v1.Gateway gw -> IstioGatewayValidation.validate(gw, problems);
            // telemetry (issue 19): expressions, sampling
            case io.fabric8.istio.api.telemetry.v1.Telemetry t ->
                    dev.ambit.istiod.telemetry.TelemetryValidation.validate(t, problems::add);
            default -> { }
        }
        // Routing objects: regexes in RE2 syntax, weights, durations, percentages, retry
        // conditions (the checks that need no other object; the translator does the rest).
        dev.ambit.istiod.l7.L7Validation.validate(kind, object, problems::add);
    }

    private static void validateMetadata(Kind kind, HasMetadata object, Problems problems) {
        var meta = object.getMetadata();
        String name = meta.getName();
        if (name.length() > 253 || !DNS1123_SUBDOMAIN.matcher(name).matches()) {
            problems.add("metadata.name", "\"" + name + "\" is not a valid name (expected: lower-case "
                    + "letters, digits, '-' and '.', starting and ending with a letter or digit)");
        }
        if (kind.namespaced() && meta.getNamespace() != null && !meta.getNamespace().isEmpty()
                && (meta.getNamespace().length() > 63 || !DNS1123_LABEL.matcher(meta.getNamespace()).matches())) {
            problems.add("metadata.namespace", "\"" + meta.getNamespace() + "\" is not a valid namespace name");
        }
        labels("metadata.labels", meta.getLabels(), problems);
    }

    private static void labels(String field, Map<String, String> labels, Problems problems) {
        if (labels == null) {
            return;
        }
        labels.forEach((k, v) -> {
            String keyProblem = labelKeyProblem(k);
            if (keyProblem != null) {
                problems.add(field + "." + k, keyProblem);
            }
            String valueProblem = labelValueProblem(v);
            if (valueProblem != null) {
                problems.add(field + "." + k, valueProblem);
            }
        });
    }

    static String labelValueProblem(String v) {
        if (v == null || v.length() > 63 || (!v.isEmpty() && !LABEL_NAME.matcher(v).matches())) {
            return "invalid label value \"" + v + "\" (expected: at most 63 "
                    + "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)";
        }
        return null;
    }

    static String labelKeyProblem(String key) {
        String name = key;
        int slash = key.indexOf('/');
        if (slash >= 0) {
            String prefix = key.substring(0, slash);
            name = key.substring(slash + 1);
            if (prefix.isEmpty() || prefix.length() > 253 || !DNS1123_SUBDOMAIN.matcher(prefix).matches()) {
                return "invalid label key \"" + key + "\": the prefix must be a DNS subdomain";
            }
        }
        if (name.isEmpty() || name.length() > 63 || !LABEL_NAME.matcher(name).matches()) {
            return "invalid label key \"" + key + "\" (expected: [prefix/]name, name at most 63 letters, "
                    + "digits, '-', '_' or '.')";
        }
        return null;
    }

    private static void selector(String field, WorkloadSelector selector, Problems problems) {
        if (selector == null) {
            return;
        }
        labels(field + ".matchLabels", selector.getMatchLabels(), problems);
    }

    private static void validate(io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicy spec,
                                 Problems problems) {
        selector("spec.selector", spec.getSelector(), problems);
        boolean targeted = spec.getTargetRef() != null || (spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty());
        if (targeted && spec.getSelector() != null) {
            problems.add("spec.selector", "selector and targetRef(s) are mutually exclusive (expected: one of them)");
        }
        boolean custom = spec.getAction() == AuthorizationPolicyAction.CUSTOM;
        if (custom != (spec.getActionDetail() != null)) {
            problems.add("spec.provider", custom ? "action CUSTOM needs a provider" : "provider is only valid with action CUSTOM");
        }
        List<Rule> rules = spec.getRules() == null ? List.of() : spec.getRules();
        for (int i = 0; i < rules.size(); i++) {
            Rule rule = rules.get(i);
            String r = "spec.rules[" + i + "]";
            if (rule == null) {
                problems.add(r, "empty rule entry (expected: an object; use {} to match everything)");
                continue;
            }
            List<RuleFrom> from = rule.getFrom() == null ? List.of() : rule.getFrom();
            for (int j = 0; j < from.size(); j++) {
                var src = from.get(j) == null ? null : from.get(j).getSource();
                String f = r + ".from[" + j + "].source";
                if (src == null) {
                    problems.add(f, "from entry without source (expected: a source)");
                    continue;
                }
                cidrs(f + ".ipBlocks", src.getIpBlocks(), problems);
                cidrs(f + ".notIpBlocks", src.getNotIpBlocks(), problems);
                cidrs(f + ".remoteIpBlocks", src.getRemoteIpBlocks(), problems);
                cidrs(f + ".notRemoteIpBlocks", src.getNotRemoteIpBlocks(), problems);
                nonEmpty(f + ".principals", src.getPrincipals(), problems);
                nonEmpty(f + ".notPrincipals", src.getNotPrincipals(), problems);
                nonEmpty(f + ".namespaces", src.getNamespaces(), problems);
                nonEmpty(f + ".notNamespaces", src.getNotNamespaces(), problems);
                serviceAccounts(f + ".serviceAccounts", src.getServiceAccounts(), problems);
                serviceAccounts(f + ".notServiceAccounts", src.getNotServiceAccounts(), problems);
            }
            List<RuleTo> to = rule.getTo() == null ? List.of() : rule.getTo();
            for (int j = 0; j < to.size(); j++) {
                var op = to.get(j) == null ? null : to.get(j).getOperation();
                String t = r + ".to[" + j + "].operation";
                if (op == null) {
                    problems.add(t, "to entry without operation (expected: an operation)");
                    continue;
                }
                ports(t + ".ports", op.getPorts(), problems);
                ports(t + ".notPorts", op.getNotPorts(), problems);
            }
            List<Condition> when = rule.getWhen() == null ? List.of() : rule.getWhen();
            for (int j = 0; j < when.size(); j++) {
                condition(r + ".when[" + j + "]", when.get(j), problems);
            }
        }
    }

    private static void condition(String field, Condition c, Problems problems) {
        if (c == null || c.getKey() == null || c.getKey().isEmpty()) {
            problems.add(field + ".key", "condition without key");
            return;
        }
        String key = c.getKey();
        boolean known = CONDITION_KEYS.contains(key) || CONDITION_PREFIXES.stream().anyMatch(key::startsWith);
        if (!known) {
            problems.add(field + ".key", "unknown condition key \"" + key + "\" (expected one of: "
                    + String.join(", ", CONDITION_KEYS.stream().sorted().toList()) + ", request.headers[...], "
                    + "request.auth.claims[...])");
            return;
        }
        boolean noValues = (c.getValues() == null || c.getValues().isEmpty())
                && (c.getNotValues() == null || c.getNotValues().isEmpty());
        if (noValues) {
            problems.add(field, "condition " + key + " needs values or notValues");
        }
        switch (key) {
            case "source.ip", "remote.ip", "destination.ip" -> {
                cidrs(field + ".values", c.getValues(), problems);
                cidrs(field + ".notValues", c.getNotValues(), problems);
            }
            case "destination.port" -> {
                ports(field + ".values", c.getValues(), problems);
                ports(field + ".notValues", c.getNotValues(), problems);
            }
            default -> { }
        }
    }

    private static void validate(io.fabric8.istio.api.api.security.v1beta1.PeerAuthentication spec,
                                 Problems problems) {
        selector("spec.selector", spec.getSelector(), problems);
        if (spec.getPortLevelMtls() != null && !spec.getPortLevelMtls().isEmpty()) {
            if (spec.getSelector() == null || spec.getSelector().getMatchLabels() == null
                    || spec.getSelector().getMatchLabels().isEmpty()) {
                problems.add("spec.portLevelMtls", "port-level mTLS needs a workload selector");
            }
            spec.getPortLevelMtls().keySet().forEach(p -> {
                if (portProblem(p) != null) {
                    problems.add("spec.portLevelMtls." + p, portProblem(p));
                }
            });
        }
    }

    private static void validate(Service svc, Problems problems) {
        labels("spec.selector", svc.getSpec().getSelector(), problems);
        List<ServicePort> ports = svc.getSpec().getPorts() == null ? List.of() : svc.getSpec().getPorts();
        for (int i = 0; i < ports.size(); i++) {
            ServicePort p = ports.get(i);
            String f = "spec.ports[" + i + "]";
            if (p.getPort() == null || p.getPort() < 1 || p.getPort() > 65535) {
                problems.add(f + ".port", "port " + p.getPort() + " (expected: 1-65535)");
            }
            IntOrString target = p.getTargetPort();
            if (target != null && target.getIntVal() != null && (target.getIntVal() < 1 || target.getIntVal() > 65535)) {
                problems.add(f + ".targetPort", "port " + target.getIntVal() + " (expected: 1-65535)");
            }
            if (target != null && target.getStrVal() != null && !PORT_NAME.matcher(target.getStrVal()).matches()) {
                problems.add(f + ".targetPort", "\"" + target.getStrVal() + "\" is not a port number or name");
            }
        }
    }

    private static void cidrs(String field, List<String> values, Problems problems) {
        if (values == null) {
            return;
        }
        for (int i = 0; i < values.size(); i++) {
            String v = values.get(i);
            if (v == null || Cidr.parse(v) == null) {
                problems.add(field + "[" + i + "]", "\"" + v + "\" is not an IP address or CIDR (expected: "
                        + "like 10.0.0.1 or 10.0.0.0/16)");
            }
        }
    }

    private static void ports(String field, List<String> values, Problems problems) {
        if (values == null) {
            return;
        }
        for (int i = 0; i < values.size(); i++) {
            String problem = portProblem(values.get(i));
            if (problem != null) {
                problems.add(field + "[" + i + "]", problem);
            }
        }
    }

    private static String portProblem(String v) {
        try {
            int p = Integer.parseInt(v);
            return p >= 1 && p <= 65535 ? null : "port " + v + " (expected: 1-65535)";
        } catch (NumberFormatException e) {
            return "\"" + v + "\" is not a port number (expected: 1-65535)";
        }
    }

    private static void nonEmpty(String field, List<String> values, Problems problems) {
        if (values == null) {
            return;
        }
        for (int i = 0; i < values.size(); i++) {
            if (values.get(i) == null || values.get(i).isEmpty()) {
                problems.add(field + "[" + i + "]", "empty value (expected: a string, \"*\" for any)");
            }
        }
    }

    private static void serviceAccounts(String field, List<String> values, Problems problems) {
        if (values == null) {
            return;
        }
        for (int i = 0; i < values.size(); i++) {
            String v = values.get(i);
            if (v == null || v.split("/", -1).length != 2 || v.startsWith("/") || v.endsWith("/")) {
                problems.add(field + "[" + i + "]", "\"" + v + "\" (expected: <namespace>/<service account>)");
            }
        }
    }
}
