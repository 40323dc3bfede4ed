package dev.ambit.waypoint.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;

/**
 * An HTTP/1.1 request-target as Envoy's codec takes it: origin-form ({@code /path}) and
 * {@code OPTIONS *} as they are; absolute-form ({@code http://host/path}) accepted as Envoy's
 * {@code allow_absolute_url} default does, the {@code Host} header replaced by the target's
 * authority and the target by its path (RFC 9112 3.2.2: a proxy MUST ignore the received Host);
 * anything else (a bare word, a control character, a space, a non-HTTP scheme, {@code @@} or
 * a character outside the URL's alphabet in the authority) refused {@code HPE_INVALID_URL}.
 */
final class RequestTarget {

    private RequestTarget() {}

    /**
     * Checks {@code request}'s target and rewrites an absolute-form one in place.
     *
     * @return the origin-form target now on the request, or null when Envoy refuses it
     */
    static String normalize(HttpRequest request) {
        String uri = request.uri();
        if (uri.isEmpty()) {
            return null;
        }
        char first = uri.charAt(0);
        if (first == '/' || first == '*') {
            if (first == '*' && (uri.length() != 1 || !request.method().equals(HttpMethod.OPTIONS))) {
                return null;
            }
            return validPathQuery(uri, 1) ? uri : null;
        }
        if (request.method().equals(HttpMethod.CONNECT)) {
            return null; // authority-form: no CONNECT over a terminated tunnel's HTTP/1.1
        }
        int colon = uri.indexOf("://");
        if (colon <= 0) {
            return null;
        }
        String scheme = uri.substring(0, colon);
        if (!scheme.equalsIgnoreCase("http") && !scheme.equalsIgnoreCase("https")) {
            return null;
        }
        int hostStart = colon + 3;
        int pathStart = hostStart;
        while (pathStart < uri.length() && uri.charAt(pathStart) != '/' && uri.charAt(pathStart) != '?') {
            pathStart++;
        }
        String authority = uri.substring(hostStart, pathStart);
        if (authority.contains("@@")) {
            return null;
        }
        for (int i = 0; i < authority.length(); i++) {
            if (!hostChar(authority.charAt(i))) {
                return null;
            }
        }
        int at = authority.lastIndexOf('@');
        String host = at >= 0 ? authority.substring(at + 1) : authority; // userinfo is not the host
        if (host.isEmpty() || !validPathQuery(uri, pathStart)) {
            return null;
        }
        String path = pathStart == uri.length() ? "/" : uri.substring(pathStart);
        if (path.charAt(0) == '?') {
            path = "/" + path;
        }
        request.headers().set(HttpHeaderNames.HOST, host);
        request.setUri(path);
        return path;
    }

    private static boolean validPathQuery(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c == 9 || c == 12 || ('!' <= c && c <= '~'))) {
                return false;
            }
        }
        return true;
    }

    private static boolean hostChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "!$%&'()*+,-.:;=@[]_~".indexOf(c) >= 0;
    }
}
