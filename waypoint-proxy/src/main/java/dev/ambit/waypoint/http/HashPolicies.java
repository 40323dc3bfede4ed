package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.upstream.lb.XxHash64;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * The request hash of a route's {@code RouteAction.hash_policy}, as Envoy's router computes it
 * for RING_HASH and MAGLEV clusters. Each policy may yield a hash:
 * <ul>
 * <li>{@code header}: xxHash64 of the header's value (several values: sorted, each hashed with
 *     the previous hash as seed); {@code :authority}, {@code :path} and {@code :method} read
 *     the Host, the URI and the method.
 * <li>{@code cookie}: xxHash64 of the cookie's value (surrounding quotes removed). Absent and
 *     {@code ttl} set: a value is generated, the hex xxHash64 of the client's {@code ip:port}
 *     (so one connection gets one value), the hash is that value's, and the response carries
 *     {@code Set-Cookie: name="value"; Max-Age=ttl; Path=path; attributes; HttpOnly}
 *     (no Max-Age for a zero ttl: a session cookie). Absent without ttl: no hash.
 * <li>{@code connection_properties.source_ip}: xxHash64 of the client's IP (RFC 5952 text).
 * <li>{@code query_parameter}: xxHash64 of the first value of the parameter (not decoded).
 * </ul>
 * Hashes combine as Envoy's: {@code hash = rotl(hash, 1) ^ next}; a {@code terminal} policy
 * that produced a hash (alone or combined) ends the evaluation.
 */
final class HashPolicies {

    /** A computed hash and the {@code Set-Cookie} values to add to the response (generated cookies). */
    record Result(OptionalLong hash, List<String> setCookies) {
        static final Result NONE = new Result(OptionalLong.empty(), List.of());

        Result {
            requireNonNull(hash, "hash");
            setCookies = List.copyOf(setCookies);
        }
    }

    private HashPolicies() {}

    /** The hash of {@code exchange}'s request under {@code action}'s hash policies. */
    static Result compute(RouteAction action, HttpExchange exchange) {
        if (action.getHashPolicyCount() == 0) {
            return Result.NONE;
        }
        return compute(action.getHashPolicyList(), exchange.request().method().name(), exchange.request().uri(),
                exchange.request().headers(), exchange.downstream().source());
    }

    /**
     * The hash of a request ({@code method}, {@code uri}, {@code headers}) from {@code source}
     * under {@code policies}.
     */
    static Result compute(List<RouteAction.HashPolicy> policies, String method, String uri, HttpHeaders headers,
                          InetSocketAddress source) {
        requireNonNull(policies, "policies");
        requireNonNull(headers, "headers");
        Long hash = null;
        List<String> cookies = new ArrayList<>(0);
        for (RouteAction.HashPolicy p : policies) {
            Long next = switch (p.getPolicySpecifierCase()) {
                case HEADER -> header(p.getHeader().getHeaderName(), method, uri, headers);
                case COOKIE -> cookie(p.getCookie(), headers, source, cookies);
                case CONNECTION_PROPERTIES -> p.getConnectionProperties().getSourceIp() && source != null
                        ? XxHash64.hash(NetUtil.toAddressString(source.getAddress())) : null;
                case QUERY_PARAMETER -> query(p.getQueryParameter().getName(), uri);
                default -> null; // the config helper NACKs the others
            };
            if (next != null) {
                hash = hash == null ? next : Long.rotateLeft(hash, 1) ^ next;
            }
            if (p.getTerminal() && hash != null) {
                break;
            }
        }
        return hash == null && cookies.isEmpty() ? Result.NONE
                : new Result(hash == null ? OptionalLong.empty() : OptionalLong.of(hash), cookies);
    }

    private static Long header(String name, String method, String uri, HttpHeaders headers) {
        List<String> values = switch (name.toLowerCase(Locale.ROOT)) {
            case ":authority" -> headers.getAll(HttpHeaderNames.HOST);
            case ":path" -> uri == null ? List.of() : List.of(uri);
            case ":method" -> method == null ? List.of() : List.of(method);
            default -> headers.getAll(name);
        };
        if (values.isEmpty()) {
            return null;
        }
        if (values.size() == 1) {
            return XxHash64.hash(values.get(0));
        }
        List<String> sorted = new ArrayList<>(values);
        sorted.sort(null);
        long h = 0;
        for (String v : sorted) {
            h = XxHash64.hash(v, h);
        }
        return h;
    }

    private static Long cookie(RouteAction.HashPolicy.Cookie c, HttpHeaders headers, InetSocketAddress source,
                               List<String> setCookies) {
        String value = cookieValue(headers, c.getName());
        if (value != null) {
            return XxHash64.hash(value);
        }
        if (!c.hasTtl() || source == null) {
            return null;
        }
        String generated = String.format("%016x", XxHash64.hash(NetUtil.toSocketAddressString(source)));
        StringBuilder sb = new StringBuilder(c.getName()).append("=\"").append(generated).append('"');
        long maxAge = c.getTtl().getSeconds();
        if (maxAge > 0) {
            sb.append("; Max-Age=").append(maxAge);
        }
        if (!c.getPath().isEmpty()) {
            sb.append("; Path=").append(c.getPath());
        }
        for (RouteAction.HashPolicy.CookieAttribute a : c.getAttributesList()) {
            sb.append("; ").append(a.getName());
            if (!a.getValue().isEmpty()) {
                sb.append('=').append(a.getValue());
            }
        }
        sb.append("; HttpOnly");
        setCookies.add(sb.toString());
        return XxHash64.hash(generated);
    }

    /** The value of cookie {@code name} in the request's Cookie headers (quotes removed), or null. */
    static String cookieValue(HttpHeaders headers, String name) {
        for (String header : headers.getAll(HttpHeaderNames.COOKIE)) {
            for (String part : header.split(";")) {
                String p = part.strip();
                int eq = p.indexOf('=');
                if (eq > 0 && p.substring(0, eq).strip().equals(name)) {
                    String v = p.substring(eq + 1).strip();
                    if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                        v = v.substring(1, v.length() - 1);
                    }
                    return v;
                }
            }
        }
        return null;
    }

    private static Long query(String name, String uri) {
        if (uri == null) {
            return null;
        }
        int q = uri.indexOf('?');
        if (q < 0) {
            return null;
        }
        int end = uri.indexOf('#', q);
        String query = uri.substring(q + 1, end < 0 ? uri.length() : end);
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            String key = eq < 0 ? pair : pair.substring(0, eq);
            if (key.equals(name)) {
                return XxHash64.hash(eq < 0 ? "" : pair.substring(eq + 1));
            }
        }
        return null;
    }
}
