package dev.ambit.istiod.model;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Address;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.ServiceAccountMatch;
import dev.ambit.api.security.StringMatch;
import dev.ambit.istiod.config.Cidr;
import dev.ambit.istiod.config.FailClosed;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Condition;
import io.fabric8.istio.api.api.security.v1beta1.Operation;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * Translates an Istio {@code AuthorizationPolicy} into the node agent's L4 form,
 * following Istio's ambient semantics:
 *
 * <ul>
 *   <li>Scope: the root namespace without a selector is mesh-wide (GLOBAL); any other
 *       namespace without a selector is that namespace; with a selector, the policy is
 *       named by the workloads it selects.</li>
 *   <li>Policies with {@code targetRef(s)} are for a waypoint or gateway, never the
 *       node agent; AUDIT and CUSTOM are not L4 actions and are skipped with a warning.</li>
 *   <li>L7 attributes (hosts, methods, paths, request principals, remote IPs, request
 *       conditions) cannot be checked by a node agent. In an ALLOW policy a rule that
 *       uses them is dropped: it never matches, so less is allowed. In a DENY policy the
 *       L7 attributes are dropped and the rest of the rule applies: more is denied.
 *       Either way the error is on the safe side, and a warning says so.</li>
 * </ul>
 */
final class AuthorizationTranslator {

    /** Source and operation fields that only a waypoint can evaluate. */
    private static final String[] L7_SOURCE = {"requestPrincipals", "notRequestPrincipals", "remoteIpBlocks",
        "notRemoteIpBlocks"};

    private final MeshConfig mesh;
    private final Consumer<String> warnings;

    AuthorizationTranslator(MeshConfig mesh, Consumer<String> warnings) {
        this.mesh = mesh;
        this.warnings = warnings;
    }

    /** True when the node agent enforces this policy (not a waypoint/gateway policy). */
    static boolean forNodeAgent(AuthorizationPolicy policy) {
        var spec = policy.getSpec();
        if (spec == null) {
            return true;
        }
        return spec.getTargetRef() == null && (spec.getTargetRefs() == null || spec.getTargetRefs().isEmpty());
    }

    static boolean hasSelector(AuthorizationPolicy policy) {
        var spec = policy.getSpec();
        return spec != null && spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
                && !spec.getSelector().getMatchLabels().isEmpty();
    }

    static Map<String, String> selector(AuthorizationPolicy policy) {
        return hasSelector(policy) ? policy.getSpec().getSelector().getMatchLabels() : Map.of();
    }

    /**
     * What the node agent enforces for a rejected AuthorizationPolicy: an ALLOW without
     * rules (matches nothing, so the workloads in scope get only what other ALLOW policies
     * allow) or a DENY with one empty rule (matches every connection). Scope as for a valid
     * policy: the selector's workloads, else the namespace, the root namespace mesh-wide.
     */
    static Authorization failClosed(FailClosed fc, String name, MeshConfig mesh) {
        Authorization.Builder out = Authorization.newBuilder()
                .setName(name)
                .setNamespace(fc.namespace())
                .setDryRun(fc.dryRun())
                .setScope(fc.selector() != null ? Scope.WORKLOAD_SELECTOR
                        : fc.namespace().equals(mesh.rootNamespace()) ? Scope.GLOBAL : Scope.NAMESPACE);
        return switch (fc.effect()) {
            case ALLOW_NOTHING -> out.setAction(Action.ALLOW).build();
            case DENY_ALL -> out.setAction(Action.DENY).addRules(Rule.getDefaultInstance()).build();
            default -> throw new IllegalArgumentException("effect: " + fc.effect() + " (expected: ALLOW_NOTHING or DENY_ALL)");
        };
    }

    /** The translated policy, or {@code null} when the node agent has nothing to enforce. */
    Authorization translate(AuthorizationPolicy policy, boolean selectedWorkloadsHaveWaypoint) {
        String ns = policy.getMetadata().getNamespace();
        String name = policy.getMetadata().getName();
        String ref = "AuthorizationPolicy " + ns + "/" + name;
        var spec = policy.getSpec() == null
                ? new io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicy() : policy.getSpec();
        AuthorizationPolicyAction action = spec.getAction() == null ? AuthorizationPolicyAction.ALLOW : spec.getAction();
        if (action == AuthorizationPolicyAction.AUDIT || action == AuthorizationPolicyAction.CUSTOM) {
            warnings.accept(ref + ": action " + action + " is not enforced by the node agent (L4); "
                    + "attach it to a waypoint with targetRefs");
            return null;
        }
        Authorization.Builder out = Authorization.newBuilder()
                .setName(name)
                .setNamespace(ns)
                .setAction(action == AuthorizationPolicyAction.DENY ? Action.DENY : Action.ALLOW)
                .setDryRun("true".equalsIgnoreCase(annotation(policy, "istio.io/dry-run")));
        if (hasSelector(policy)) {
            out.setScope(Scope.WORKLOAD_SELECTOR);
        } else if (ns.equals(mesh.rootNamespace())) {
            out.setScope(Scope.GLOBAL);
        } else {
            out.setScope(Scope.NAMESPACE);
        }
        List<io.fabric8.istio.api.api.security.v1beta1.Rule> rules = spec.getRules() == null ? List.of() : spec.getRules();
        for (int i = 0; i < rules.size(); i++) {
            TreeSet<String> l7 = new TreeSet<>();
            Rule rule = rule(rules.get(i), action == AuthorizationPolicyAction.DENY, l7);
            if (!l7.isEmpty()) {
                String hint = selectedWorkloadsHaveWaypoint
                        ? "the selected workloads use a waypoint: target it with targetRefs to enforce HTTP rules"
                        : "no waypoint serves the selected workloads: deploy one and target it with targetRefs";
                warnings.accept(ref + ": rules[" + i + "] uses HTTP attributes " + l7 + " the node agent cannot "
                        + "check; " + (action == AuthorizationPolicyAction.DENY
                        ? "they are ignored and the DENY applies to all matching L4 traffic (more restrictive)"
                        : "the ALLOW rule is omitted (more restrictive)") + "; " + hint);
            }
            if (rule != null) {
                out.addRules(rule);
            }
        }
        return out.build();
    }

    /**
     * One rule: from, to and each condition become AND-ed clauses. Returns {@code null}
     * for an ALLOW rule with L7 attributes, which must never match.
     */
    Rule rule(io.fabric8.istio.api.api.security.v1beta1.Rule in, boolean deny, TreeSet<String> l7) {
        Rule.Builder rule = Rule.newBuilder();
        if (in == null) {
            return rule.build();
        }
        List<RuleFrom> from = in.getFrom() == null ? List.of() : in.getFrom();
        if (!from.isEmpty()) {
            Clause.Builder clause = Clause.newBuilder();
            for (RuleFrom f : from) {
                clause.addMatches(source(f.getSource(), l7));
            }
            rule.addClauses(clause);
        }
        List<RuleTo> to = in.getTo() == null ? List.of() : in.getTo();
        if (!to.isEmpty()) {
            Clause.Builder clause = Clause.newBuilder();
            for (RuleTo t : to) {
                clause.addMatches(operation(t.getOperation(), l7));
            }
            rule.addClauses(clause);
        }
        List<Condition> when = in.getWhen() == null ? List.of() : in.getWhen();
        for (Condition c : when) {
            Match m = condition(c, l7);
            if (m != null) {
                rule.addClauses(Clause.newBuilder().addMatches(m));
            }
        }
        if (!l7.isEmpty() && !deny) {
            return null;
        }
        return rule.build();
    }

    private Match source(Source s, TreeSet<String> l7) {
        Match.Builder m = Match.newBuilder();
        if (s == null) {
            return m.build();
        }
        strings(s.getPrincipals()).forEach(v -> m.addPrincipals(stringMatch(v)));
        strings(s.getNotPrincipals()).forEach(v -> m.addNotPrincipals(stringMatch(v)));
        strings(s.getNamespaces()).forEach(v -> m.addNamespaces(stringMatch(v)));
        strings(s.getNotNamespaces()).forEach(v -> m.addNotNamespaces(stringMatch(v)));
        strings(s.getIpBlocks()).forEach(v -> m.addSourceIps(address(v)));
        strings(s.getNotIpBlocks()).forEach(v -> m.addNotSourceIps(address(v)));
        strings(s.getServiceAccounts()).forEach(v -> m.addServiceAccounts(serviceAccount(v)));
        strings(s.getNotServiceAccounts()).forEach(v -> m.addNotServiceAccounts(serviceAccount(v)));
        List<List<String>> l7Fields = List.of(strings(s.getRequestPrincipals()), strings(s.getNotRequestPrincipals()),
                strings(s.getRemoteIpBlocks()), strings(s.getNotRemoteIpBlocks()));
        for (int i = 0; i < l7Fields.size(); i++) {
            if (!l7Fields.get(i).isEmpty()) {
                l7.add(L7_SOURCE[i]);
            }
        }
        return m.build();
    }

    private static Match operation(Operation op, TreeSet<String> l7) {
        Match.Builder m = Match.newBuilder();
        if (op == null) {
            return m.build();
        }
        strings(op.getPorts()).forEach(p -> m.addDestinationPorts(Integer.parseInt(p)));
        strings(op.getNotPorts()).forEach(p -> m.addNotDestinationPorts(Integer.parseInt(p)));
        if (!strings(op.getHosts()).isEmpty()) l7.add("hosts");
        if (!strings(op.getNotHosts()).isEmpty()) l7.add("notHosts");
        if (!strings(op.getMethods()).isEmpty()) l7.add("methods");
        if (!strings(op.getNotMethods()).isEmpty()) l7.add("notMethods");
        if (!strings(op.getPaths()).isEmpty()) l7.add("paths");
        if (!strings(op.getNotPaths()).isEmpty()) l7.add("notPaths");
        return m.build();
    }

    /** An L4 condition as a match; {@code null} (and noted in {@code l7}) for anything else. */
    private Match condition(Condition c, TreeSet<String> l7) {
        List<String> values = strings(c.getValues());
        List<String> notValues = strings(c.getNotValues());
        Match.Builder m = Match.newBuilder();
        switch (c.getKey()) {
            case "source.ip" -> {
                values.forEach(v -> m.addSourceIps(address(v)));
                notValues.forEach(v -> m.addNotSourceIps(address(v)));
            }
            case "source.namespace" -> {
                values.forEach(v -> m.addNamespaces(stringMatch(v)));
                notValues.forEach(v -> m.addNotNamespaces(stringMatch(v)));
            }
            case "source.principal" -> {
                values.forEach(v -> m.addPrincipals(stringMatch(v)));
                notValues.forEach(v -> m.addNotPrincipals(stringMatch(v)));
            }
            case "source.serviceAccount" -> {
                values.forEach(v -> m.addServiceAccounts(serviceAccount(v)));
                notValues.forEach(v -> m.addNotServiceAccounts(serviceAccount(v)));
            }
            case "destination.ip" -> {
                values.forEach(v -> m.addDestinationIps(address(v)));
                notValues.forEach(v -> m.addNotDestinationIps(address(v)));
            }
            case "destination.port" -> {
                values.forEach(v -> m.addDestinationPorts(Integer.parseInt(v)));
                notValues.forEach(v -> m.addNotDestinationPorts(Integer.parseInt(v)));
            }
            default -> {
                l7.add("when " + c.getKey());
                return null;
            }
        }
        return m.build();
    }

    /** Istio's string match: "*" = present, "x*" = prefix, "*x" = suffix, else exact. */
    static StringMatch stringMatch(String v) {
        if (v.equals("*")) {
            return StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()).build();
        }
        if (v.endsWith("*")) {
            return StringMatch.newBuilder().setPrefix(v.substring(0, v.length() - 1)).build();
        }
        if (v.startsWith("*")) {
            return StringMatch.newBuilder().setSuffix(v.substring(1)).build();
        }
        return StringMatch.newBuilder().setExact(v).build();
    }

    private static Address address(String v) {
        Cidr cidr = Cidr.parse(v); // validated by the config decoder
        return Address.newBuilder().setAddress(ByteString.copyFrom(cidr.address())).setLength(cidr.length()).build();
    }

    private static ServiceAccountMatch serviceAccount(String v) {
        int slash = v.indexOf('/');
        return ServiceAccountMatch.newBuilder().setNamespace(v.substring(0, slash))
                .setServiceAccount(v.substring(slash + 1)).build();
    }

    private static List<String> strings(List<String> values) {
        return values == null ? List.of() : new ArrayList<>(values);
    }

    private static String annotation(AuthorizationPolicy p, String key) {
        Map<String, String> a = p.getMetadata().getAnnotations();
        return a == null ? null : a.get(key);
    }
}
