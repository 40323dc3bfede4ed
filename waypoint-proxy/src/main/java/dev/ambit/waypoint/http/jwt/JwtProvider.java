package dev.ambit.waypoint.http.jwt;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtHeader;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One {@code JwtProvider} of the filter, compiled: issuer, audiences, keys, where its tokens
 * are, and what a verified token leaves behind (forwarding, headers, metadata).
 */
final class JwtProvider {

    /** Envoy's default clock skew ({@code clock_skew_seconds} unset). */
    static final long DEFAULT_CLOCK_SKEW_SECONDS = 60;

    /** Where a token may be: a header (with its value prefix), a query parameter or a cookie. */
    record Location(Kind kind, String name, String prefix) {
        enum Kind { HEADER, PARAM, COOKIE }
    }

    /** Envoy's default locations: {@code Authorization: Bearer <token>} and {@code ?access_token=}. */
    static final List<Location> DEFAULT_LOCATIONS = List.of(
            new Location(Location.Kind.HEADER, "authorization", "Bearer "),
            new Location(Location.Kind.PARAM, "access_token", ""));

    final String name;
    final String issuer;
    final Set<String> audiences;
    final Jwks jwks;
    final boolean forward;
    final List<Location> locations;
    final String forwardPayloadHeader;
    final String payloadInMetadata;
    final Set<String> spaceDelimitedClaims;
    final List<JwtClaimToHeader> claimToHeaders;
    final long clockSkewSeconds;

    JwtProvider(String name, io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider p) {
        this.name = requireNonNull(name, "name");
        issuer = p.getIssuer();
        audiences = Set.copyOf(p.getAudiencesList());
        jwks = Jwks.parse(p.getLocalJwks().getInlineString());
        forward = p.getForward();
        List<Location> l = new ArrayList<>();
        for (JwtHeader h : p.getFromHeadersList()) {
            l.add(new Location(Location.Kind.HEADER, h.getName().toLowerCase(Locale.ROOT), h.getValuePrefix()));
        }
        for (String q : p.getFromParamsList()) {
            l.add(new Location(Location.Kind.PARAM, q, ""));
        }
        for (String c : p.getFromCookiesList()) {
            l.add(new Location(Location.Kind.COOKIE, c, ""));
        }
        locations = l.isEmpty() ? DEFAULT_LOCATIONS : List.copyOf(l);
        forwardPayloadHeader = p.getForwardPayloadHeader();
        payloadInMetadata = p.getPayloadInMetadata();
        spaceDelimitedClaims = Set.copyOf(p.getNormalizePayloadInMetadata().getSpaceDelimitedClaimsList());
        claimToHeaders = List.copyOf(p.getClaimToHeadersList());
        clockSkewSeconds = p.getClockSkewSeconds() == 0 ? DEFAULT_CLOCK_SKEW_SECONDS : p.getClockSkewSeconds();
    }

    /** A token found in a request and where it was. */
    record Found(String token, Location location) {}

    /** The tokens in this provider's locations, in location order, each once. */
    List<Found> extract(HttpHeaders headers, String uri) {
        return extract(locations, headers, uri);
    }

    static List<Found> extract(List<Location> locations, HttpHeaders headers, String uri) {
        List<Found> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        Map<String, List<String>> params = null;
        for (Location loc : locations) {
            switch (loc.kind()) {
                case HEADER -> {
                    for (String v : headers.getAll(loc.name())) {
                        String t = fromHeader(v, loc);
                        if (t != null && seen.add(t)) {
                            out.add(new Found(t, loc));
                        }
                    }
                }
                case PARAM -> {
                    if (params == null) {
                        params = new QueryStringDecoder(uri, StandardCharsets.UTF_8).parameters();
                    }
                    for (String v : params.getOrDefault(loc.name(), List.of())) {
                        if (!v.isEmpty() && seen.add(v)) {
                            out.add(new Found(v, loc));
                        }
                    }
                }
                case COOKIE -> {
                    for (String header : headers.getAll("cookie")) {
                        for (Cookie c : ServerCookieDecoder.LAX.decodeAll(header)) {
                            if (c.name().equals(loc.name()) && !c.value().isEmpty() && seen.add(c.value())) {
                                out.add(new Found(c.value(), loc));
                            }
                        }
                    }
                }
                default -> throw new IllegalStateException("location kind " + loc.kind());
            }
        }
        return out;
    }

    /**
     * The token in a header value: after the value prefix (found anywhere in the value, the
     * default {@code Bearer } in any case, as Envoy does), the run of base64url characters and dots.
     */
    private static String fromHeader(String value, Location loc) {
        int start = 0;
        if (!loc.prefix().isEmpty()) {
            int at = loc == DEFAULT_LOCATIONS.get(0)
                    ? value.toLowerCase(Locale.ROOT).indexOf(loc.prefix().toLowerCase(Locale.ROOT))
                    : value.indexOf(loc.prefix());
            if (at < 0) {
                return null;
            }
            start = at + loc.prefix().length();
        }
        int end = start;
        while (end < value.length() && jwtChar(value.charAt(end))) {
            end++;
        }
        return end == start ? null : value.substring(start, end);
    }

    private static boolean jwtChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/';
    }

    /** Verifies a parsed token as this provider, in Envoy's order: issuer, time, audience, signature. */
    JwtStatus verify(Jwt jwt, long nowSeconds) {
        if (!issuer.isEmpty() && !issuer.equals(jwt.iss)) {
            return JwtStatus.UNKNOWN_ISSUER;
        }
        JwtStatus time = jwt.checkTime(nowSeconds, clockSkewSeconds);
        if (time != JwtStatus.OK) {
            return time;
        }
        if (!audiences.isEmpty() && jwt.audiences.stream().noneMatch(audiences::contains)) {
            return JwtStatus.AUDIENCE_NOT_ALLOWED;
        }
        return jwt.verify(jwks);
    }
}
