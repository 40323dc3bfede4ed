package dev.ambit.istiod.l7;

import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Cidr;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ListMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.OrMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.fabric8.istio.api.api.security.v1beta1.Condition;
import io.fabric8.istio.api.api.security.v1beta1.Operation;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * One AuthorizationPolicy rule → one Envoy RBAC {@link Policy}, in the shapes Istio's
 * {@code authz/model} generates for HTTP: per {@code to} an {@code and_rules} of hosts
 * ({@code :authority}, case-insensitive), methods ({@code :method}), paths ({@code url_path}),
 * ports, then the {@code when} conditions on the destination; per {@code from} an
 * {@code and_ids} of principals ({@code authenticated.principal_name} {@code spiffe://...}),
 * request principals, service accounts, namespaces (a regex on the principal), remote and
 * source IP blocks, then the {@code when} conditions on the source and request. Each field's
 * values are an {@code or}, its {@code not*} values a {@code not} of an {@code or}; an empty
 * side is {@code any}. JWT attributes are metadata matchers on {@code istio_authn}
 * (CONTRACT seam 6): {@code request.auth.principal}, {@code .audiences}, {@code .presenter},
 * {@code request.auth.claims} (a claim as a list or a single string).
 */
final class AuthorizationRules {

    static final String AUTHN_FILTER = "istio_authn";

    private AuthorizationRules() {}

    /**
     * The policy of {@code rule} (a policy in namespace {@code ns}).
     *
     * @throws IllegalArgumentException naming the attribute that cannot be translated
     */
    static Policy policy(Rule rule, String ns) {
        List<Permission> basePermission = new ArrayList<>();
        List<Principal> basePrincipal = new ArrayList<>();
        for (Condition c : list(rule.getWhen())) {
            when(c, basePermission, basePrincipal);
        }
        Policy.Builder p = Policy.newBuilder();
        for (RuleTo to : list(rule.getTo())) {
            List<Permission> and = new ArrayList<>();
            Operation o = to.getOperation();
            if (o != null) {
                permission(and, o.getHosts(), o.getNotHosts(), AuthorizationRules::host);
                permission(and, o.getMethods(), o.getNotMethods(),
                        v -> Permission.newBuilder().setHeader(header(":method", v)).build());
                permission(and, o.getPaths(), o.getNotPaths(),
                        v -> Permission.newBuilder().setUrlPath(PathMatcher.newBuilder().setPath(string(v))).build());
                permission(and, o.getPorts(), o.getNotPorts(),
                        v -> Permission.newBuilder().setDestinationPort(port(v)).build());
            }
            and.addAll(basePermission);
            p.addPermissions(andPermissions(and));
        }
        if (list(rule.getTo()).isEmpty()) {
            p.addPermissions(andPermissions(basePermission));
        }
        for (RuleFrom from : list(rule.getFrom())) {
            List<Principal> and = new ArrayList<>();
            Source s = from.getSource();
            if (s != null) {
                principal(and, s.getPrincipals(), s.getNotPrincipals(), AuthorizationRules::sourcePrincipal);
                principal(and, s.getRequestPrincipals(), s.getNotRequestPrincipals(),
                        v -> metadata(List.of("request.auth.principal"), string(v), false));
                principal(and, s.getServiceAccounts(), s.getNotServiceAccounts(),
                        v -> authenticated(regex(serviceAccountRegex(ns, v))));
                principal(and, s.getNamespaces(), s.getNotNamespaces(), AuthorizationRules::namespace);
                principal(and, s.getRemoteIpBlocks(), s.getNotRemoteIpBlocks(),
                        v -> Principal.newBuilder().setRemoteIp(cidr(v)).build());
                principal(and, s.getIpBlocks(), s.getNotIpBlocks(),
                        v -> Principal.newBuilder().setDirectRemoteIp(cidr(v)).build());
            }
            and.addAll(basePrincipal);
            p.addPrincipals(andPrincipals(and));
        }
        if (list(rule.getFrom()).isEmpty()) {
            p.addPrincipals(andPrincipals(basePrincipal));
        }
        return p.build();
    }

    private static void when(Condition c, List<Permission> permissions, List<Principal> principals) {
        String key = c.getKey() == null ? "" : c.getKey();
        List<String> values = list(c.getValues());
        List<String> notValues = list(c.getNotValues());
        switch (key) {
            case "destination.ip" -> permission(permissions, values, notValues,
                    v -> Permission.newBuilder().setDestinationIp(cidr(v)).build());
            case "destination.port" -> permission(permissions, values, notValues,
                    v -> Permission.newBuilder().setDestinationPort(port(v)).build());
            case "connection.sni" -> permission(permissions, values, notValues,
                    v -> Permission.newBuilder().setRequestedServerName(string(v)).build());
            case "source.ip" -> principal(principals, values, notValues,
                    v -> Principal.newBuilder().setDirectRemoteIp(cidr(v)).build());
            case "remote.ip" -> principal(principals, values, notValues,
                    v -> Principal.newBuilder().setRemoteIp(cidr(v)).build());
            case "source.namespace" -> principal(principals, values, notValues, AuthorizationRules::namespace);
            case "source.principal" -> principal(principals, values, notValues, AuthorizationRules::sourcePrincipal);
            case "request.auth.principal", "request.auth.audiences", "request.auth.presenter" ->
                    principal(principals, values, notValues, v -> metadata(List.of(key), string(v), false));
            default -> {
                if (key.startsWith("request.headers[") && key.endsWith("]")) {
                    String name = key.substring("request.headers[".length(), key.length() - 1);
                    if (name.isEmpty()) {
                        throw new IllegalArgumentException("when key " + key + " (expected: request.headers[NAME])");
                    }
                    principal(principals, values, notValues,
                            v -> Principal.newBuilder().setHeader(header(name, v)).build());
                } else if (key.startsWith("request.auth.claims[") && key.endsWith("]")) {
                    List<String> path = new ArrayList<>(List.of("request.auth.claims"));
                    path.addAll(claims(key.substring("request.auth.claims".length())));
                    principal(principals, values, notValues, v -> metadata(path, string(v), true));
                } else {
                    throw new IllegalArgumentException("when key " + key + " (expected one of request.headers[...], "
                            + "source.ip, remote.ip, source.namespace, source.principal, request.auth.principal, "
                            + "request.auth.audiences, request.auth.presenter, request.auth.claims[...], "
                            + "destination.ip, destination.port, connection.sni)");
                }
            }
        }
    }

    /** {@code [a][b]} → a, b (Istio's nested claim brackets). */
    static List<String> claims(String brackets) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < brackets.length()) {
            int close = brackets.indexOf(']', i);
            if (brackets.charAt(i) != '[' || close < 0 || close == i + 1) {
                throw new IllegalArgumentException("claim " + brackets + " (expected: [NAME] or [NAME][NESTED]...)");
            }
            out.add(brackets.substring(i + 1, close));
            i = close + 1;
        }
        return out;
    }

    private static void permission(List<Permission> and, List<String> values, List<String> notValues,
                                   Function<String, Permission> one) {
        if (!list(values).isEmpty()) {
            and.add(Permission.newBuilder().setOrRules(Permission.Set.newBuilder()
                    .addAllRules(list(values).stream().map(one).toList())).build());
        }
        if (!list(notValues).isEmpty()) {
            and.add(Permission.newBuilder().setNotRule(Permission.newBuilder().setOrRules(Permission.Set.newBuilder()
                    .addAllRules(list(notValues).stream().map(one).toList()))).build());
        }
    }

    private static void principal(List<Principal> and, List<String> values, List<String> notValues,
                                  Function<String, Principal> one) {
        if (!list(values).isEmpty()) {
            and.add(Principal.newBuilder().setOrIds(Principal.Set.newBuilder()
                    .addAllIds(list(values).stream().map(one).toList())).build());
        }
        if (!list(notValues).isEmpty()) {
            and.add(Principal.newBuilder().setNotId(Principal.newBuilder().setOrIds(Principal.Set.newBuilder()
                    .addAllIds(list(notValues).stream().map(one).toList()))).build());
        }
    }

    private static Permission andPermissions(List<Permission> and) {
        List<Permission> rules = and.isEmpty() ? List.of(Permission.newBuilder().setAny(true).build()) : and;
        return Permission.newBuilder().setAndRules(Permission.Set.newBuilder().addAllRules(rules)).build();
    }

    private static Principal andPrincipals(List<Principal> and) {
        List<Principal> ids = and.isEmpty() ? List.of(Principal.newBuilder().setAny(true).build()) : and;
        return Principal.newBuilder().setAndIds(Principal.Set.newBuilder().addAllIds(ids)).build();
    }

    /** Istio's value forms: {@code *} any non-empty ({@code .+}), {@code x*} prefix, {@code *x} suffix, else exact. */
    static StringMatcher string(String v) {
        return withPrefix(v, "");
    }

    /** Istio's {@code StringMatcherWithPrefix}: the value behind {@code prefix} (principals: {@code spiffe://}). */
    static StringMatcher withPrefix(String v, String prefix) {
        if (v.equals("*")) {
            return regex(".+");
        }
        if (v.startsWith("*")) {
            return prefix.isEmpty() ? StringMatcher.newBuilder().setSuffix(v.substring(1)).build()
                    : regex(prefix + ".*" + quote(v.substring(1)));
        }
        if (v.endsWith("*")) {
            return StringMatcher.newBuilder().setPrefix(prefix + v.substring(0, v.length() - 1)).build();
        }
        return StringMatcher.newBuilder().setExact(prefix + v).build();
    }

    /** RE2 quoting as Go's {@code regexp.QuoteMeta}. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if ("\\.+*?()|[]{}^$".indexOf(c) >= 0) {
                b.append('\\');
            }
            b.append(c);
        }
        return b.toString();
    }

    static StringMatcher regex(String re) {
        return StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(re)).build();
    }

    private static Principal authenticated(StringMatcher m) {
        return Principal.newBuilder().setAuthenticated(Principal.Authenticated.newBuilder().setPrincipalName(m)).build();
    }

    private static Principal sourcePrincipal(String v) {
        return authenticated(withPrefix(v, "spiffe://"));
    }

    private static Principal namespace(String v) {
        StringBuilder re = new StringBuilder();
        String[] parts = v.split("\\*", -1);
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                re.append(".*");
            }
            re.append(quote(parts[i]));
        }
        return authenticated(regex(".*/ns/" + re + "/.*"));
    }

    static String serviceAccountRegex(String defaultNamespace, String v) {
        int slash = v.indexOf('/');
        String ns = slash < 0 ? defaultNamespace : v.substring(0, slash);
        String sa = slash < 0 ? v : v.substring(slash + 1);
        return "spiffe://.+/ns/" + quote(ns) + "/(.+/|)sa/" + quote(sa) + "(/.+)?";
    }

    /** Istio's header matcher: {@code *} present, {@code *x} suffix, {@code x*} prefix, else exact. */
    private static HeaderMatcher header(String name, String v) {
        HeaderMatcher.Builder h = HeaderMatcher.newBuilder().setName(name);
        if (v.equals("*")) {
            return h.setPresentMatch(true).build();
        }
        if (v.startsWith("*")) {
            return h.setStringMatch(StringMatcher.newBuilder().setSuffix(v.substring(1))).build();
        }
        if (v.endsWith("*")) {
            return h.setStringMatch(StringMatcher.newBuilder().setPrefix(v.substring(0, v.length() - 1))).build();
        }
        return h.setStringMatch(StringMatcher.newBuilder().setExact(v)).build();
    }

    /** Istio's host matcher on {@code :authority}: as a header matcher, ignoring case. */
    private static Permission host(String v) {
        HeaderMatcher.Builder h = HeaderMatcher.newBuilder().setName(":authority");
        if (v.equals("*")) {
            h.setPresentMatch(true);
        } else if (v.startsWith("*")) {
            h.setStringMatch(StringMatcher.newBuilder().setSuffix(v.substring(1)).setIgnoreCase(true));
        } else if (v.endsWith("*")) {
            h.setStringMatch(StringMatcher.newBuilder().setPrefix(v.substring(0, v.length() - 1)).setIgnoreCase(true));
        } else {
            h.setStringMatch(StringMatcher.newBuilder().setExact(v).setIgnoreCase(true));
        }
        return Permission.newBuilder().setHeader(h).build();
    }

    private static int port(String v) {
        try {
            int p = Integer.parseInt(v.trim());
            if (p >= 0 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("port " + v + " (expected: 0-65535)");
    }

    private static CidrRange cidr(String v) {
        Cidr c = Cidr.parse(v);
        String address;
        try {
            address = java.net.InetAddress.getByAddress(c.address()).getHostAddress();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException("IP block " + v + " (expected: an address or CIDR)", e);
        }
        return CidrRange.newBuilder().setAddressPrefix(address).setPrefixLen(UInt32Value.of(c.length())).build();
    }

    /**
     * A metadata matcher on {@code istio_authn} at {@code path}; a claim ({@code list}) matches
     * a list holding the value or the value itself (Istio's extended JWT matcher).
     */
    private static Principal metadata(List<String> path, StringMatcher value, boolean list) {
        MetadataMatcher.Builder m = MetadataMatcher.newBuilder().setFilter(AUTHN_FILTER);
        for (String key : path) {
            m.addPath(MetadataMatcher.PathSegment.newBuilder().setKey(key));
        }
        ValueMatcher string = ValueMatcher.newBuilder().setStringMatch(value).build();
        if (list) {
            m.setValue(ValueMatcher.newBuilder().setOrMatch(OrMatcher.newBuilder()
                    .addValueMatchers(ValueMatcher.newBuilder().setListMatch(ListMatcher.newBuilder().setOneOf(string)))
                    .addValueMatchers(string)));
        } else {
            m.setValue(string);
        }
        return Principal.newBuilder().setMetadata(m).build();
    }

    private static <T> List<T> list(List<T> l) {
        return l == null ? List.of() : l;
    }
}
