package dev.ambit.waypoint.http.rbac;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.http.Downstream;
import dev.ambit.waypoint.http.HttpExchange;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the RBAC matchers look at, as Envoy's RBAC filter sees a request: its headers
 * (pseudo headers {@code :method}, {@code :path}, {@code :authority}, {@code :scheme}
 * included), its path without the query, the connection (the peer's proven SPIFFE principal,
 * the client address: the HBONE tunnel's source is the direct, the remote and the source IP
 * alike, the tunnel's original destination as destination IP and port), and the dynamic
 * metadata earlier filters wrote.
 */
public final class RequestAttributes {

    private final String method;
    private final String uri;
    private final String authority;
    private final String scheme;
    private final HttpHeaders headers;
    private final String principal;
    private final InetAddress source;
    private final InetAddress destinationIp;
    private final int destinationPort;
    private final Map<String, Map<String, Object>> metadata;

    private RequestAttributes(String method, String uri, String authority, String scheme, HttpHeaders headers,
                              String principal, InetAddress source, InetAddress destinationIp, int destinationPort,
                              Map<String, Map<String, Object>> metadata) {
        this.method = requireNonNull(method, "method");
        this.uri = requireNonNull(uri, "uri");
        this.authority = requireNonNull(authority, "authority");
        this.scheme = requireNonNull(scheme, "scheme");
        this.headers = requireNonNull(headers, "headers");
        this.principal = principal;
        this.source = source;
        this.destinationIp = destinationIp;
        this.destinationPort = destinationPort;
        this.metadata = requireNonNull(metadata, "metadata");
    }

    /** The request of {@code exchange} as it is now (after earlier filters changed it). */
    public static RequestAttributes of(HttpExchange exchange) {
        Downstream d = exchange.downstream();
        String scheme = exchange.request().headers().get("x-http2-scheme", "http");
        return new RequestAttributes(exchange.request().method().name(), exchange.request().uri(),
                exchange.authority(), scheme, exchange.request().headers(), d.peer() == null ? null : d.peer().uri(),
                d.source().getAddress(), d.destination().getAddress(), d.destination().getPort(),
                exchange.metadata());
    }

    /** For tests and other callers: every attribute given. */
    public static RequestAttributes of(String method, String uri, String authority, HttpHeaders headers,
                                       String principal, InetAddress source, InetAddress destinationIp,
                                       int destinationPort, Map<String, Map<String, Object>> metadata) {
        return new RequestAttributes(method, uri, authority, "http", headers, principal, source, destinationIp,
                destinationPort, metadata);
    }

    /**
     * The value of header {@code name} (lower case), as Envoy's header matcher reads it: pseudo
     * headers from the request line, several values joined by {@code ,}; null when absent.
     */
    public String header(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case ":method" -> method;
            case ":path" -> uri;
            case ":authority", "host" -> authority.isEmpty() ? null : authority;
            case ":scheme" -> scheme;
            default -> {
                List<String> all = headers.getAll(name);
                yield all.isEmpty() ? null : String.join(",", all);
            }
        };
    }

    /** The path without query ({@code url_path} matches this). */
    public String path() {
        int q = uri.indexOf('?');
        return q < 0 ? uri : uri.substring(0, q);
    }

    /** The peer's URI SAN ({@code spiffe://...}), or null without one. */
    public String principal() {
        return principal;
    }

    /** The client's address (direct remote, remote and source IP: the HBONE tunnel's source). */
    public InetAddress source() {
        return source;
    }

    public InetAddress destinationIp() {
        return destinationIp;
    }

    public int destinationPort() {
        return destinationPort;
    }

    /** The TLS SNI the client sent: none inside an HBONE tunnel. */
    public String requestedServerName() {
        return "";
    }

    /** Dynamic metadata by filter namespace. */
    public Map<String, Map<String, Object>> metadata() {
        return metadata;
    }
}
