package dev.ambit.waypoint.http;

import com.google.re2j.Pattern;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;

/**
 * Path rewrites and redirect locations, as Envoy builds them.
 */
final class Redirects {

    private Redirects() {}

    /** Envoy's redirect status: 301 unless {@code response_code} says 302, 303, 307 or 308. */
    static int status(RedirectAction redirect) {
        return switch (redirect.getResponseCode()) {
            case FOUND -> 302;
            case SEE_OTHER -> 303;
            case TEMPORARY_REDIRECT -> 307;
            case PERMANENT_REDIRECT -> 308;
            default -> 301;
        };
    }

    /**
     * The {@code Location} of a redirect: scheme ({@code scheme_redirect}, {@code https_redirect},
     * else the request's), host ({@code host_redirect}, else the request's {@code Host}), port
     * ({@code port_redirect} replaces the host's port; a port that is the new scheme's default is
     * dropped when the scheme changes), path ({@code path_redirect}, which may carry its own
     * query, or the request's path with {@code prefix_rewrite} / {@code regex_rewrite} applied),
     * and the request's query unless {@code strip_query} or the path redirect has one.
     */
    static String location(RedirectAction r, String scheme, String authority, String path, RouteMatcher matcher) {
        String newScheme = scheme;
        boolean schemeChanged = false;
        if (r.hasSchemeRedirect()) {
            newScheme = r.getSchemeRedirect().toLowerCase(java.util.Locale.ROOT);
            schemeChanged = true;
        } else if (r.hasHttpsRedirect() && r.getHttpsRedirect()) {
            newScheme = "https";
            schemeChanged = true;
        }
        String host = authority;
        String port = "";
        int colon = host.lastIndexOf(':');
        if (colon > 0 && host.indexOf(']') < colon) {
            port = host.substring(colon + 1);
            host = host.substring(0, colon);
        }
        if (!r.getHostRedirect().isEmpty()) {
            // Envoy swaps the whole host: the request's port goes with it.
            host = r.getHostRedirect();
            port = "";
            int c = host.lastIndexOf(':');
            if (c > 0 && host.indexOf(']') < c) {
                port = host.substring(c + 1);
                host = host.substring(0, c);
            }
        }
        if (r.getPortRedirect() != 0) {
            port = Integer.toString(r.getPortRedirect());
        } else if (schemeChanged && (port.equals("80") || port.equals("443"))) {
            port = ""; // the old scheme's port means nothing to the new one
        }
        if ((newScheme.equals("http") && port.equals("80")) || (newScheme.equals("https") && port.equals("443"))) {
            port = "";
        }

        int q = path.indexOf('?');
        String pathOnly = q < 0 ? path : path.substring(0, q);
        String query = q < 0 ? "" : path.substring(q);
        String newPath = pathOnly;
        if (r.hasPathRedirect()) {
            String p = r.getPathRedirect();
            int pq = p.indexOf('?');
            if (pq >= 0) {
                newPath = p.substring(0, pq);
                query = p.substring(pq);
            } else {
                newPath = p;
            }
        } else if (r.hasPrefixRewrite()) {
            newPath = rewritePrefix(pathOnly, matcher.prefix(), r.getPrefixRewrite());
        } else if (r.hasRegexRewrite()) {
            newPath = rewriteRegex(pathOnly, r.getRegexRewrite());
        }
        if (r.getStripQuery()) {
            query = "";
        }
        return newScheme + "://" + host + (port.isEmpty() ? "" : ":" + port) + newPath + query;
    }

    /** Replaces the matched {@code prefix} of {@code path} (query kept) with {@code rewrite}. */
    static String rewritePrefix(String path, String prefix, String rewrite) {
        if (prefix.isEmpty() || !path.regionMatches(true, 0, prefix, 0, prefix.length())) {
            return path;
        }
        return rewrite + path.substring(prefix.length());
    }

    /** Envoy's {@code regex_rewrite}: every match in the path (not the query) replaced, {@code \1} groups allowed. */
    static String rewriteRegex(String path, RegexMatchAndSubstitute rewrite) {
        int q = path.indexOf('?');
        String pathOnly = q < 0 ? path : path.substring(0, q);
        String query = q < 0 ? "" : path.substring(q);
        Pattern p = Pattern.compile(rewrite.getPattern().getRegex());
        // RE2 writes groups as \1; Java as $1.
        String replacement = rewrite.getSubstitution().replace("$", "\\$").replaceAll("\\\\(\\d)", "\\$$1");
        return p.matcher(pathOnly).replaceAll(replacement) + query;
    }
}
