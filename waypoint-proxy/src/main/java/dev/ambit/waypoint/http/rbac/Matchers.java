package dev.ambit.waypoint.http.rbac;

import com.google.re2j.Pattern;
import dev.ambit.waypoint.config.Regexes;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ListMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Compiles Envoy's {@code config.rbac.v3} {@link Permission} and {@link Principal} trees (and
 * the string, header, path, metadata and CIDR matchers in them) into predicates over
 * {@link RequestAttributes}, with Envoy's semantics: {@code and_*} all, {@code or_*} any,
 * {@code not_*} negation, {@code any}; a missing header or metadata value never matches
 * (unless inverted). Anything the waypoint cannot evaluate is refused when compiling
 * ({@link IllegalArgumentException} naming it), never silently treated as a match.
 */
final class Matchers {

    private Matchers() {}

    static Predicate<RequestAttributes> permission(Permission p) {
        return switch (p.getRuleCase()) {
            case AND_RULES -> and(p.getAndRules().getRulesList(), Matchers::permission);
            case OR_RULES -> or(p.getOrRules().getRulesList(), Matchers::permission);
            case ANY -> r -> p.getAny();
            case NOT_RULE -> permission(p.getNotRule()).negate();
            case HEADER -> header(p.getHeader());
            case URL_PATH -> path(p.getUrlPath());
            case DESTINATION_IP -> cidr(p.getDestinationIp(), RequestAttributes::destinationIp);
            case DESTINATION_PORT -> {
                int port = p.getDestinationPort();
                yield r -> r.destinationPort() == port;
            }
            case DESTINATION_PORT_RANGE -> {
                long start = p.getDestinationPortRange().getStart();
                long end = p.getDestinationPortRange().getEnd();
                yield r -> r.destinationPort() >= start && r.destinationPort() < end;
            }
            case METADATA -> metadata(p.getMetadata());
            case REQUESTED_SERVER_NAME -> {
                Predicate<String> m = string(p.getRequestedServerName());
                yield r -> m.test(r.requestedServerName());
            }
            default -> throw new IllegalArgumentException("RBAC permission: " + p.getRuleCase() + " (expected: "
                    + "and_rules, or_rules, any, not_rule, header, url_path, destination_ip, destination_port, "
                    + "destination_port_range, metadata or requested_server_name)");
        };
    }

    static Predicate<RequestAttributes> principal(Principal p) {
        return switch (p.getIdentifierCase()) {
            case AND_IDS -> and(p.getAndIds().getIdsList(), Matchers::principal);
            case OR_IDS -> or(p.getOrIds().getIdsList(), Matchers::principal);
            case ANY -> r -> p.getAny();
            case NOT_ID -> principal(p.getNotId()).negate();
            case AUTHENTICATED -> {
                if (!p.getAuthenticated().hasPrincipalName()) {
                    yield r -> r.principal() != null;
                }
                Predicate<String> m = string(p.getAuthenticated().getPrincipalName());
                yield r -> r.principal() != null && m.test(r.principal());
            }
            case SOURCE_IP -> cidr(p.getSourceIp(), RequestAttributes::source);
            case DIRECT_REMOTE_IP -> cidr(p.getDirectRemoteIp(), RequestAttributes::source);
            case REMOTE_IP -> cidr(p.getRemoteIp(), RequestAttributes::source);
            case HEADER -> header(p.getHeader());
            case URL_PATH -> path(p.getUrlPath());
            case METADATA -> metadata(p.getMetadata());
            default -> throw new IllegalArgumentException("RBAC principal: " + p.getIdentifierCase() + " (expected: "
                    + "and_ids, or_ids, any, not_id, authenticated, source_ip, direct_remote_ip, remote_ip, header, "
                    + "url_path or metadata)");
        };
    }

    private static <T> Predicate<RequestAttributes> and(List<T> items, Function<T, Predicate<RequestAttributes>> f) {
        List<Predicate<RequestAttributes>> ps = items.stream().map(f).toList();
        return r -> {
            for (Predicate<RequestAttributes> p : ps) {
                if (!p.test(r)) {
                    return false;
                }
            }
            return true;
        };
    }

    private static <T> Predicate<RequestAttributes> or(List<T> items, Function<T, Predicate<RequestAttributes>> f) {
        List<Predicate<RequestAttributes>> ps = items.stream().map(f).toList();
        return r -> {
            for (Predicate<RequestAttributes> p : ps) {
                if (p.test(r)) {
                    return true;
                }
            }
            return false;
        };
    }

    /** Envoy's StringMatcher: exact, prefix, suffix, contains, safe_regex (RE2, whole value), ignore_case. */
    static Predicate<String> string(StringMatcher m) {
        boolean ic = m.getIgnoreCase();
        Predicate<String> p = switch (m.getMatchPatternCase()) {
            case EXACT -> {
                String v = m.getExact();
                yield ic ? s -> s.equalsIgnoreCase(v) : v::equals;
            }
            case PREFIX -> {
                String v = m.getPrefix();
                yield ic ? s -> s.regionMatches(true, 0, v, 0, v.length()) : s -> s.startsWith(v);
            }
            case SUFFIX -> {
                String v = m.getSuffix();
                yield ic ? s -> s.length() >= v.length()
                        && s.regionMatches(true, s.length() - v.length(), v, 0, v.length()) : s -> s.endsWith(v);
            }
            case CONTAINS -> {
                String v = m.getContains();
                String lower = v.toLowerCase(Locale.ROOT);
                yield ic ? s -> s.toLowerCase(Locale.ROOT).contains(lower) : s -> s.contains(v);
            }
            case SAFE_REGEX -> {
                Pattern re = Regexes.compile(m.getSafeRegex().getRegex());
                yield s -> re.matches(s);
            }
            default -> throw new IllegalArgumentException("string matcher: " + m.getMatchPatternCase()
                    + " (expected: exact, prefix, suffix, contains or safe_regex)");
        };
        return s -> s != null && p.test(s);
    }

    /** Envoy's route HeaderMatcher as RBAC uses it (absent header: no match unless {@code present_match: false}). */
    static Predicate<RequestAttributes> header(HeaderMatcher m) {
        String name = m.getName().toLowerCase(Locale.ROOT);
        Predicate<String> value = switch (m.getHeaderMatchSpecifierCase()) {
            case EXACT_MATCH -> m.getExactMatch()::equals;
            case PREFIX_MATCH -> s -> s.startsWith(m.getPrefixMatch());
            case SUFFIX_MATCH -> s -> s.endsWith(m.getSuffixMatch());
            case CONTAINS_MATCH -> s -> s.contains(m.getContainsMatch());
            case SAFE_REGEX_MATCH -> {
                Pattern re = Regexes.compile(m.getSafeRegexMatch().getRegex());
                yield s -> re.matches(s);
            }
            case STRING_MATCH -> string(m.getStringMatch());
            case RANGE_MATCH -> s -> {
                try {
                    long v = Long.parseLong(s);
                    return v >= m.getRangeMatch().getStart() && v < m.getRangeMatch().getEnd();
                } catch (NumberFormatException e) {
                    return false;
                }
            };
            case PRESENT_MATCH -> null;
            default -> s -> true; // no specifier: presence
        };
        boolean invert = m.getInvertMatch();
        boolean missingAsEmpty = m.getTreatMissingHeaderAsEmpty();
        if (value == null) {
            boolean present = m.getPresentMatch();
            // Envoy: an absent header matches a present_match only when not inverted and present is false.
            return r -> r.header(name) == null ? !invert && !present : present != invert;
        }
        return r -> {
            String v = r.header(name);
            if (v == null) {
                if (!missingAsEmpty) {
                    return invert; // Envoy: an absent header matches only an inverted matcher
                }
                v = "";
            }
            return value.test(v) != invert;
        };
    }

    static Predicate<RequestAttributes> path(PathMatcher m) {
        if (!m.hasPath()) {
            throw new IllegalArgumentException("url_path: no path matcher (expected: path)");
        }
        Predicate<String> s = string(m.getPath());
        return r -> s.test(r.path());
    }

    static Predicate<RequestAttributes> cidr(CidrRange range, Function<RequestAttributes, InetAddress> of) {
        byte[] prefix = NetUtil.createByteArrayFromIpAddressString(range.getAddressPrefix());
        if (prefix == null) {
            throw new IllegalArgumentException("CIDR range: " + range.getAddressPrefix() + " (expected: an IP literal)");
        }
        int bits = range.hasPrefixLen() ? range.getPrefixLen().getValue() : prefix.length * 8;
        return r -> {
            InetAddress a = of.apply(r);
            return a != null && contains(prefix, bits, a.getAddress());
        };
    }

    static boolean contains(byte[] prefix, int bits, byte[] address) {
        if (prefix.length != address.length) {
            return false;
        }
        for (int i = 0; i < bits / 8; i++) {
            if (prefix[i] != address[i]) {
                return false;
            }
        }
        int rest = bits % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (prefix[bits / 8] & mask) == (address[bits / 8] & mask);
    }

    /** Envoy's MetadataMatcher over the request's dynamic metadata. */
    static Predicate<RequestAttributes> metadata(MetadataMatcher m) {
        String filter = m.getFilter();
        List<String> path = new ArrayList<>();
        for (MetadataMatcher.PathSegment s : m.getPathList()) {
            path.add(s.getKey());
        }
        Predicate<Object> value = value(m.getValue());
        boolean invert = m.getInvert();
        return r -> {
            Object v = r.metadata().get(filter);
            for (String key : path) {
                v = v instanceof Map<?, ?> map ? map.get(key) : null;
            }
            return value.test(v) != invert;
        };
    }

    static Predicate<Object> value(ValueMatcher m) {
        return switch (m.getMatchPatternCase()) {
            case NULL_MATCH -> v -> v == null;
            case PRESENT_MATCH -> {
                boolean present = m.getPresentMatch();
                yield v -> (v != null) == present;
            }
            case BOOL_MATCH -> v -> v instanceof Boolean b && b == m.getBoolMatch();
            case STRING_MATCH -> {
                Predicate<String> s = string(m.getStringMatch());
                yield v -> v instanceof String str && s.test(str);
            }
            case DOUBLE_MATCH -> v -> {
                if (!(v instanceof Number n)) {
                    return false;
                }
                double d = n.doubleValue();
                var dm = m.getDoubleMatch();
                return dm.hasRange() ? d >= dm.getRange().getStart() && d < dm.getRange().getEnd()
                        : d == dm.getExact();
            };
            case LIST_MATCH -> list(m.getListMatch());
            case OR_MATCH -> {
                List<Predicate<Object>> any = m.getOrMatch().getValueMatchersList().stream().map(Matchers::value)
                        .toList();
                yield v -> any.stream().anyMatch(p -> p.test(v));
            }
            default -> throw new IllegalArgumentException("value matcher: " + m.getMatchPatternCase()
                    + " (expected: null, present, bool, string, double, list or or)");
        };
    }

    private static Predicate<Object> list(ListMatcher m) {
        if (!m.hasOneOf()) {
            throw new IllegalArgumentException("list matcher: no one_of (expected: one_of)");
        }
        Predicate<Object> one = value(m.getOneOf());
        return v -> v instanceof List<?> l && l.stream().anyMatch(one);
    }
}
