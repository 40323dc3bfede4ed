package dev.ambit.istiod.config;

import static java.util.Objects.requireNonNull;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What stands in for a security object (AuthorizationPolicy, PeerAuthentication) that was
 * rejected: an invalid security object never disappears, it fails closed in its scope.
 *
 * <ul>
 *   <li>AuthorizationPolicy with action ALLOW (or no action): an ALLOW that allows
 *       nothing ({@link Effect#ALLOW_NOTHING}); the workloads in scope accept only what
 *       other valid ALLOW policies allow, as ztunnel drops an ALLOW rule it cannot honour.</li>
 *   <li>DENY, CUSTOM (its external authorizer is not consulted: Envoy's ext_authz fails
 *       closed), an unknown or unreadable action: a DENY of everything in scope
 *       ({@link Effect#DENY_ALL}), as ztunnel denies all in scope for a DENY it cannot fully
 *       honour.</li>
 *   <li>AUDIT: nothing ({@link Effect#NONE}); an AUDIT policy never changes a decision,
 *       so leaving it out cannot weaken enforcement. It is still reported.</li>
 *   <li>PeerAuthentication: STRICT in scope ({@link Effect#STRICT}), overriding every
 *       other PeerAuthentication of the workloads in scope.</li>
 * </ul>
 *
 * <p>Scope: the object's namespace and selector when both parse. When the selector (or an
 * AuthorizationPolicy's {@code targetRef(s)}, which no node agent can honour) is present
 * but invalid or a target, the whole namespace; the root namespace means mesh-wide, as in
 * Istio. Both sources and every restart derive this from the input alone, so the same
 * files give the same served policy whenever they are read.
 *
 * @param ref      the object (a synthetic name when the input named none)
 * @param origin   file path or {@code kubernetes}
 * @param effect   what is enforced instead
 * @param selector the workloads in scope ({@code matchLabels}), or {@code null} for the
 *                 whole namespace
 * @param dryRun   an AuthorizationPolicy marked {@code istio.io/dry-run: "true"}: reported, not enforced
 * @param reasons  why the object was rejected
 */
public record FailClosed(ObjectRef ref, String origin, Effect effect, Map<String, String> selector, boolean dryRun,
                         List<ConfigError> reasons) implements Comparable<FailClosed> {

    /** What a rejected security object enforces instead. */
    public enum Effect {
        /** An ALLOW policy without rules: nothing is allowed by it. */
        ALLOW_NOTHING,
        /** A DENY policy with one empty rule: everything in scope is denied. */
        DENY_ALL,
        /** PeerAuthentication STRICT: connections without a verified peer identity are denied. */
        STRICT,
        /** Nothing enforced (an invalid AUDIT policy). */
        NONE
    }

    private static final String SECURITY_GROUP = "security.istio.io";
    private static final Pattern DNS1123_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    private static final Pattern TEXT_KIND = Pattern.compile(
            "(?m)(?:^|[{,\\s])\"?kind\"?\\s*:\\s*[\"']?((?i)AuthorizationPolicy|PeerAuthentication)\\b");
    private static final Pattern TEXT_NAMESPACE = Pattern.compile(
            "(?m)(?:^|[{,\\s])\"?namespace\"?\\s*:\\s*[\"']?([a-z0-9]([-a-z0-9]*[a-z0-9])?)[\"']?\\s*(?:[,}]|$)");

    public FailClosed {
        requireNonNull(ref, "ref");
        requireNonNull(origin, "origin");
        requireNonNull(effect, "effect");
        selector = selector == null ? null : Map.copyOf(selector);
        reasons = List.copyOf(requireNonNull(reasons, "reasons"));
        if (!isSecurity(ref.kind())) {
            throw new IllegalArgumentException("ref: " + ref + " (expected: an AuthorizationPolicy or PeerAuthentication)");
        }
    }

    /** True for the kinds that fail closed when invalid. */
    public static boolean isSecurity(Kind kind) {
        return kind == Kind.AUTHORIZATION_POLICY || kind == Kind.PEER_AUTHENTICATION;
    }

    /** The namespace the stand-in applies in. */
    public String namespace() {
        return ref.namespace();
    }

    /** One line for logs and {@code /debug/config}. */
    public String describe() {
        String scope = selector == null ? "every workload in namespace " + namespace()
                : "workloads in namespace " + namespace() + " selected by " + new java.util.TreeMap<>(selector);
        return switch (effect) {
            case ALLOW_NOTHING -> "fail closed: an ALLOW policy that allows nothing for " + scope;
            case DENY_ALL -> "fail closed: all traffic denied to " + scope;
            case STRICT -> "fail closed: mTLS STRICT for " + scope;
            case NONE -> "AUDIT policy not enforced (an AUDIT policy never changes a decision)";
        } + (dryRun && effect != Effect.NONE && effect != Effect.STRICT ? " (dry-run: reported, not enforced)" : "");
    }

    /** The same rejected object, scoped to its whole namespace (used for duplicates and undecodable objects). */
    public static FailClosed wholeNamespace(ObjectRef ref, String origin, List<ConfigError> reasons) {
        return new FailClosed(ref, origin, ref.kind() == Kind.PEER_AUTHENTICATION ? Effect.STRICT : Effect.DENY_ALL,
                null, false, reasons);
    }

    /**
     * Attributes a rejected document to a security kind and namespace, from its raw form.
     *
     * @param fallbackName the name to use when the document names none
     * @return the stand-in, or {@code null} when the document is not a security kind or
     *         its namespace cannot be read (the caller reports it loudly)
     */
    public static FailClosed attribute(String origin, Map<?, ?> document, String defaultNs, String fallbackName,
                                       List<ConfigError> reasons) {
        Kind kind = securityKind(document.get("apiVersion"), document.get("kind"));
        if (kind == null) {
            return null;
        }
        Object metaObject = document.get("metadata");
        Map<?, ?> meta = metaObject instanceof Map<?, ?> m ? m : Map.of();
        Object nsObject = meta.get("namespace");
        String ns;
        if (nsObject == null || "".equals(nsObject)) {
            ns = defaultNs;
        } else if (nsObject instanceof String s && s.length() <= 63 && DNS1123_LABEL.matcher(s).matches()) {
            ns = s;
        } else {
            return null; // no real namespace has this name
        }
        String name = meta.get("name") instanceof String s && !s.isEmpty() && s.length() <= 253 ? s : fallbackName;
        Map<?, ?> spec = document.get("spec") instanceof Map<?, ?> s ? s : Map.of();
        Map<String, String> selector = selector(spec.get("selector"));
        Effect effect;
        if (kind == Kind.PEER_AUTHENTICATION) {
            effect = Effect.STRICT;
        } else {
            if (spec.get("targetRef") != null || spec.get("targetRefs") != null) {
                selector = null; // a waypoint/gateway target: the node agents can only cover the namespace
            }
            Object action = spec.get("action");
            effect = action == null || "ALLOW".equals(action) ? Effect.ALLOW_NOTHING
                    : "AUDIT".equals(action) ? Effect.NONE : Effect.DENY_ALL;
        }
        boolean dryRun = meta.get("annotations") instanceof Map<?, ?> a && "true".equals(a.get("istio.io/dry-run"));
        return new FailClosed(ObjectRef.of(kind, ns, name), origin, effect, selector, dryRun, reasons);
    }

    /**
     * Attributes an input that could not be read object by object (a file that is not
     * YAML, or over the size limit) from its text: each security kind it names fails
     * closed in every namespace it names ({@code defaultNs} when it names none), and in
     * the namespaces of the security objects it held before ({@code previously}).
     */
    public static List<FailClosed> attributeText(String origin, String text, String defaultNs,
                                                 Collection<ObjectRef> previously, List<ConfigError> reasons) {
        Set<Kind> kinds = new TreeSet<>();
        Matcher k = TEXT_KIND.matcher(text);
        while (k.find()) {
            kinds.add(k.group(1).equalsIgnoreCase("AuthorizationPolicy") ? Kind.AUTHORIZATION_POLICY : Kind.PEER_AUTHENTICATION);
        }
        Set<String> namespaces = new TreeSet<>();
        Matcher n = TEXT_NAMESPACE.matcher(text);
        while (n.find()) {
            namespaces.add(n.group(1));
        }
        if (namespaces.isEmpty()) {
            namespaces.add(defaultNs);
        }
        Map<ObjectRef, Boolean> pairs = new LinkedHashMap<>();
        String name = "invalid-file-" + shortHash(origin);
        for (Kind kind : kinds) {
            for (String ns : namespaces) {
                pairs.put(ObjectRef.of(kind, ns, name), Boolean.TRUE);
            }
        }
        for (ObjectRef p : previously) {
            if (isSecurity(p.kind())) {
                pairs.put(ObjectRef.of(p.kind(), p.namespace(), name), Boolean.TRUE);
            }
        }
        List<FailClosed> out = new ArrayList<>();
        pairs.keySet().stream().sorted().forEach(ref -> out.add(wholeNamespace(ref, origin, reasons)));
        return out;
    }

    /**
     * Whether a rejected document says what it is and that is not a security kind, even read
     * leniently ({@code networking.istio.io/v1 VirtualServise}): nothing to fail closed.
     */
    static boolean readableAsOtherKind(Map<?, ?> document) {
        return document.get("apiVersion") instanceof String av && !av.isEmpty() && document.get("kind") instanceof String
                && securityKind(av, document.get("kind")) == null;
    }

    /**
     * The security kind a document claims, or {@code null}. Lenient on purpose, since it only
     * ever makes a rejected document fail closed: the kind is matched case-insensitively, and
     * any group that looks like {@code security.istio.io} (one containing "istio", or a few
     * typos away) counts, as does a missing apiVersion. A misspelt policy must not vanish.
     */
    static Kind securityKind(Object apiVersion, Object kind) {
        if (!(kind instanceof String k)) {
            return null;
        }
        if (apiVersion instanceof String av && !av.isEmpty()) {
            int slash = av.indexOf('/');
            String group = (slash < 0 ? av : av.substring(0, slash)).toLowerCase(java.util.Locale.ROOT);
            if (!group.contains("istio") && editDistance(group, SECURITY_GROUP) > 3) {
                return null;
            }
        }
        if (k.equalsIgnoreCase("AuthorizationPolicy")) {
            return Kind.AUTHORIZATION_POLICY;
        }
        return k.equalsIgnoreCase("PeerAuthentication") ? Kind.PEER_AUTHENTICATION : null;
    }

    /** Levenshtein distance, for group names (short). */
    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j], cur[j - 1]) + 1);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** {@code matchLabels} when the selector is absent-or-valid; {@code null} (whole namespace) otherwise. */
    private static Map<String, String> selector(Object selector) {
        if (!(selector instanceof Map<?, ?> s) || !(s.get("matchLabels") instanceof Map<?, ?> labels)
                || labels.isEmpty()) {
            return null;
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (var e : labels.entrySet()) {
            if (!(e.getKey() instanceof String key) || !(e.getValue() instanceof String value)
                    || ObjectValidator.labelKeyProblem(key) != null || ObjectValidator.labelValueProblem(value) != null) {
                return null;
            }
            out.put(key, value);
        }
        return out;
    }

    private static String shortHash(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 5);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public int compareTo(FailClosed o) {
        int c = ref.compareTo(o.ref);
        return c != 0 ? c : origin.compareTo(o.origin);
    }
}
