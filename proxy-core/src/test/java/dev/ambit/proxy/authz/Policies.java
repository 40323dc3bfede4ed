package dev.ambit.proxy.authz;

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
import java.net.InetAddress;
import java.net.UnknownHostException;

/** Builders for policies and connections in tests. */
final class Policies {

    static final String MTLS_FRONTEND = "cluster.local/ns/shop/sa/frontend";

    private Policies() {}

    static Authorization.Builder policy(String namespace, String name, Scope scope, Action action) {
        return Authorization.newBuilder().setNamespace(namespace).setName(name).setScope(scope).setAction(action);
    }

    /** A policy with one rule of one clause holding {@code matches}. */
    static Authorization oneMatch(Action action, Match.Builder... matches) {
        Clause.Builder clause = Clause.newBuilder();
        for (Match.Builder m : matches) {
            clause.addMatches(m);
        }
        return policy("shop", "p", Scope.NAMESPACE, action).addRules(Rule.newBuilder().addClauses(clause)).build();
    }

    static Rule.Builder rule(Match.Builder... clausesOfOneMatch) {
        Rule.Builder r = Rule.newBuilder();
        for (Match.Builder m : clausesOfOneMatch) {
            r.addClauses(Clause.newBuilder().addMatches(m));
        }
        return r;
    }

    static Match.Builder match() {
        return Match.newBuilder();
    }

    static StringMatch exact(String v) {
        return StringMatch.newBuilder().setExact(v).build();
    }

    static StringMatch prefix(String v) {
        return StringMatch.newBuilder().setPrefix(v).build();
    }

    static StringMatch suffix(String v) {
        return StringMatch.newBuilder().setSuffix(v).build();
    }

    static StringMatch presence() {
        return StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()).build();
    }

    static ServiceAccountMatch sa(String namespace, String account) {
        return ServiceAccountMatch.newBuilder().setNamespace(namespace).setServiceAccount(account).build();
    }

    static Address cidr(String spec) {
        int slash = spec.indexOf('/');
        return Address.newBuilder().setAddress(ByteString.copyFrom(ip(spec.substring(0, slash)).getAddress()))
                .setLength(Integer.parseInt(spec.substring(slash + 1))).build();
    }

    /** A 16-byte address even for IPv4-mapped literals, which InetAddress would turn into IPv4. */
    static Address cidr16(byte[] sixteen, int length) {
        return Address.newBuilder().setAddress(ByteString.copyFrom(sixteen)).setLength(length).build();
    }

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    /** {@code ::ffff:a.b.c.d} as an Inet6Address (getByName would return an Inet4Address). */
    static InetAddress mapped(String v4) {
        byte[] four = ip(v4).getAddress();
        byte[] b = new byte[16];
        b[10] = (byte) 0xff;
        b[11] = (byte) 0xff;
        System.arraycopy(four, 0, b, 12, 4);
        try {
            return java.net.Inet6Address.getByAddress(null, b, -1);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    static byte[] mappedBytes(String v4) {
        byte[] b = new byte[16];
        b[10] = (byte) 0xff;
        b[11] = (byte) 0xff;
        System.arraycopy(ip(v4).getAddress(), 0, b, 12, 4);
        return b;
    }

    static ConnectionAttributes mtls(String principal) {
        return ConnectionAttributes.mtls(principal, ip("10.0.0.1"), ip("10.0.1.1"), 8080);
    }

    static ConnectionAttributes plaintext() {
        return ConnectionAttributes.plaintext(ip("10.0.0.1"), ip("10.0.1.1"), 8080);
    }

    static ConnectionAttributes from(String src, String dst, int port) {
        return ConnectionAttributes.mtls(MTLS_FRONTEND, ip(src), ip(dst), port);
    }
}
