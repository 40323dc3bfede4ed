package dev.ambit.waypoint.http;

import com.google.re2j.Pattern;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * One compiled Envoy {@link RouteMatch}: the path specifier ({@code prefix}, {@code path},
 * {@code safe_regex}; {@code case_sensitive}, default true), then every {@code headers}
 * matcher (pseudo headers {@code :method}, {@code :authority}, {@code :path},
 * {@code :scheme} included; {@code present_match}, {@code invert_match}) and every
 * {@code query_parameters} matcher must match, as Envoy's route entries do.
 */
final class RouteMatcher {

    /** What a route is matched against: the request's pseudo headers and headers. */
    record RequestView(String method, String authority, String path, String scheme, HttpHeaders headers) {

        /** The path without its query string and fragment (what {@code path} and {@code safe_regex} see). */
        String pathOnly() {
            int q = path.indexOf('?');
            int h = path.indexOf('#');
            int end = q < 0 ? h : h < 0 ? q : Math.min(q, h);
            return end < 0 ? path : path.substring(0, end);
        }

        /** Values of header {@code name} (pseudo headers by their HTTP/2 names), joined by {@code ,} as Envoy does; null if absent. */
        String header(String name) {
            switch (name) {
                case ":method": return method;
                case ":authority": case "host": return authority;
                case ":path": return path;
                case ":scheme": return scheme;
                default:
                    List<String> all = headers.getAll(name);
                    return all.isEmpty() ? null : String.join(",", all);
            }
        }

        Map<String, List<String>> queryParameters() {
            return new QueryStringDecoder(path, StandardCharsets.UTF_8).parameters();
        }
    }

    private final Predicate<RequestView> pathMatch;
    private final List<Predicate<RequestView>> headerMatches = new ArrayList<>();
    private final List<Predicate<RequestView>> queryMatches = new ArrayList<>();
    /** The matched prefix (for a prefix route's prefix_rewrite), or empty. */
    private final String prefix;
    private final Pattern pathRegex;

    RouteMatcher(RouteMatch match) {
        boolean caseSensitive = !match.hasCaseSensitive() || match.getCaseSensitive().getValue();
        String p = "";
        Pattern regex = null;
        switch (match.getPathSpecifierCase()) {
            case PREFIX -> {
                p = match.getPrefix();
                String prefixValue = p;
                pathMatch = caseSensitive ? r -> r.path().startsWith(prefixValue)
                        : r -> r.path().regionMatches(true, 0, prefixValue, 0, prefixValue.length());
            }
            case PATH -> {
                String exact = match.getPath();
                pathMatch = caseSensitive ? r -> r.pathOnly().equals(exact) : r -> r.pathOnly().equalsIgnoreCase(exact);
            }
            case SAFE_REGEX -> {
                regex = Pattern.compile(match.getSafeRegex().getRegex());
                Pattern compiled = regex;
                pathMatch = r -> compiled.matcher(r.pathOnly()).matches();
            }
            case PATHSPECIFIER_NOT_SET -> throw new IllegalArgumentException(
                    "route match: no path specifier (expected: prefix, path or safe_regex)");
            default -> throw new IllegalArgumentException("route match: " + match.getPathSpecifierCase()
                    + " (expected: prefix, path or safe_regex)");
        }
        prefix = p;
        pathRegex = regex;
        for (HeaderMatcher h : match.getHeadersList()) {
            headerMatches.add(header(h));
        }
        for (QueryParameterMatcher q : match.getQueryParametersList()) {
            queryMatches.add(query(q));
        }
    }

    boolean matches(RequestView request) {
        if (!pathMatch.test(request)) {
            return false;
        }
        for (Predicate<RequestView> h : headerMatches) {
            if (!h.test(request)) {
                return false;
            }
        }
        if (!queryMatches.isEmpty()) {
            for (Predicate<RequestView> q : queryMatches) {
                if (!q.test(request)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** The route's prefix (empty when it is not a prefix route). */
    String prefix() {
        return prefix;
    }

    /** The route's path regex, or null. */
    Pattern pathRegex() {
        return pathRegex;
    }

    static Predicate<RequestView> header(HeaderMatcher h) {
        String name = h.getName().toLowerCase(java.util.Locale.ROOT);
        Predicate<String> value = switch (h.getHeaderMatchSpecifierCase()) {
            case STRING_MATCH -> StringMatch.of(h.getStringMatch());
            case EXACT_MATCH -> StringMatch.exact(h.getExactMatch(), false);
            case PREFIX_MATCH -> StringMatch.prefix(h.getPrefixMatch(), false);
            case SUFFIX_MATCH -> StringMatch.suffix(h.getSuffixMatch(), false);
            case CONTAINS_MATCH -> StringMatch.contains(h.getContainsMatch(), false);
            case SAFE_REGEX_MATCH -> StringMatch.regex(h.getSafeRegexMatch().getRegex());
            case PRESENT_MATCH -> {
                boolean present = h.getPresentMatch();
                yield v -> present; // only reached when the header is there
            }
            case HEADERMATCHSPECIFIER_NOT_SET -> v -> true; // Envoy: present
            default -> throw new IllegalArgumentException("header matcher " + h.getName() + ": "
                    + h.getHeaderMatchSpecifierCase() + " (expected: string_match or present_match)");
        };
        boolean presentMatch = h.getHeaderMatchSpecifierCase() == HeaderMatcher.HeaderMatchSpecifierCase.PRESENT_MATCH;
        boolean wantPresent = !presentMatch || h.getPresentMatch();
        boolean invert = h.getInvertMatch();
        boolean missingAsEmpty = h.getTreatMissingHeaderAsEmpty();
        return r -> {
            String v = r.header(name);
            boolean matched;
            if (v == null && !missingAsEmpty) {
                // An absent header matches only present_match: false; inverting does not make
                // it match, except for a present_match (Envoy: invert of "present" is "absent").
                matched = presentMatch && !wantPresent;
                return presentMatch && invert ? !matched : matched;
            }
            matched = value.test(v == null ? "" : v);
            return invert != matched;
        };
    }

    static Predicate<RequestView> query(QueryParameterMatcher q) {
        String name = q.getName();
        if (q.hasStringMatch()) {
            StringMatch m = StringMatch.of(q.getStringMatch());
            return r -> {
                List<String> values = r.queryParameters().get(name);
                return values != null && !values.isEmpty() && m.test(values.get(0));
            };
        }
        boolean present = !q.hasPresentMatch() || q.getPresentMatch();
        return r -> r.queryParameters().containsKey(name) == present;
    }
}
