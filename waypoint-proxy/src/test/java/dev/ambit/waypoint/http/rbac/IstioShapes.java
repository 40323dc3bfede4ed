package dev.ambit.waypoint.http.rbac;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ListMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import java.util.List;

/** The Envoy RBAC shapes istiod (and istiod-lite) generate for AuthorizationPolicy fields, for tests. */
public final class IstioShapes {

    private IstioShapes() {}

    /** Istio's string form: {@code *} any (regex {@code .+}), {@code x*} prefix, {@code *x} suffix, else exact. */
    public static StringMatcher str(String v) {
        if (v.equals("*")) {
            return StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(".+")).build();
        }
        if (v.endsWith("*")) {
            return StringMatcher.newBuilder().setPrefix(v.substring(0, v.length() - 1)).build();
        }
        if (v.startsWith("*")) {
            return StringMatcher.newBuilder().setSuffix(v.substring(1)).build();
        }
        return StringMatcher.newBuilder().setExact(v).build();
    }

    public static Permission and(Permission... p) {
        return Permission.newBuilder().setAndRules(Permission.Set.newBuilder().addAllRules(List.of(p))).build();
    }

    public static Permission or(Permission... p) {
        return Permission.newBuilder().setOrRules(Permission.Set.newBuilder().addAllRules(List.of(p))).build();
    }

    public static Permission not(Permission p) {
        return Permission.newBuilder().setNotRule(p).build();
    }

    public static Principal and(Principal... p) {
        return Principal.newBuilder().setAndIds(Principal.Set.newBuilder().addAllIds(List.of(p))).build();
    }

    public static Principal or(Principal... p) {
        return Principal.newBuilder().setOrIds(Principal.Set.newBuilder().addAllIds(List.of(p))).build();
    }

    public static Principal not(Principal p) {
        return Principal.newBuilder().setNotId(p).build();
    }

    public static Permission anyPermission() {
        return Permission.newBuilder().setAny(true).build();
    }

    public static Principal anyPrincipal() {
        return Principal.newBuilder().setAny(true).build();
    }

    public static Permission method(String m) {
        return Permission.newBuilder().setHeader(HeaderMatcher.newBuilder().setName(":method")
                .setStringMatch(str(m))).build();
    }

    public static Permission path(String p) {
        return Permission.newBuilder().setUrlPath(PathMatcher.newBuilder().setPath(str(p))).build();
    }

    public static Permission host(String h) {
        return Permission.newBuilder().setHeader(HeaderMatcher.newBuilder().setName(":authority")
                .setStringMatch(str(h).toBuilder().setIgnoreCase(true))).build();
    }

    public static Permission port(int port) {
        return Permission.newBuilder().setDestinationPort(port).build();
    }

    public static Principal header(String name, String value) {
        return Principal.newBuilder().setHeader(HeaderMatcher.newBuilder().setName(name)
                .setStringMatch(str(value))).build();
    }

    /** {@code principals: [cluster.local/ns/x/sa/y]}: {@code spiffe://} + the value. */
    public static Principal principal(String v) {
        StringMatcher m = v.equals("*") ? str("*") : v.startsWith("*") ? str(v)
                : str("spiffe://" + v);
        return Principal.newBuilder().setAuthenticated(Principal.Authenticated.newBuilder().setPrincipalName(m))
                .build();
    }

    /** {@code namespaces: [ns]}: a regex on the principal. */
    public static Principal namespace(String ns) {
        return Principal.newBuilder().setAuthenticated(Principal.Authenticated.newBuilder().setPrincipalName(
                StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(".*/ns/" + ns + "/.*"))))
                .build();
    }

    public static Principal directRemoteIp(String prefix, int len) {
        return Principal.newBuilder().setDirectRemoteIp(CidrRange.newBuilder().setAddressPrefix(prefix)
                .setPrefixLen(UInt32Value.of(len))).build();
    }

    /** {@code requestPrincipals} per CONTRACT seam 6: metadata {@code istio_authn / request.auth.principal}. */
    public static Principal requestPrincipal(String v) {
        return Principal.newBuilder().setMetadata(MetadataMatcher.newBuilder().setFilter("istio_authn")
                .addPath(MetadataMatcher.PathSegment.newBuilder().setKey("request.auth.principal"))
                .setValue(ValueMatcher.newBuilder().setStringMatch(str(v)))).build();
    }

    /** {@code request.auth.claims[name]}: a list match (one of) on {@code istio_authn / request.auth.claims / name}. */
    public static Principal claim(String name, String v) {
        return Principal.newBuilder().setMetadata(MetadataMatcher.newBuilder().setFilter("istio_authn")
                .addPath(MetadataMatcher.PathSegment.newBuilder().setKey("request.auth.claims"))
                .addPath(MetadataMatcher.PathSegment.newBuilder().setKey(name))
                .setValue(ValueMatcher.newBuilder().setListMatch(ListMatcher.newBuilder()
                        .setOneOf(ValueMatcher.newBuilder().setStringMatch(str(v)))))).build();
    }

    public static Policy policy(List<Permission> permissions, List<Principal> principals) {
        return Policy.newBuilder().addAllPermissions(permissions).addAllPrincipals(principals).build();
    }

    public static RBAC rbac(RBAC.Action action, Object... namesAndPolicies) {
        RBAC.Builder b = RBAC.newBuilder().setAction(action);
        for (int i = 0; i < namesAndPolicies.length; i += 2) {
            b.putPolicies((String) namesAndPolicies[i], (Policy) namesAndPolicies[i + 1]);
        }
        return b.build();
    }
}
