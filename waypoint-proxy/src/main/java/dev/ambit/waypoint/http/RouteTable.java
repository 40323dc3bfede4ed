package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One compiled {@link RouteConfiguration}: virtual hosts selected by {@code domains} as
 * Envoy does (exact, then the longest {@code *suffix}, then the longest {@code prefix*},
 * then {@code *}; the {@code Host} with its port first, then without it), then the first
 * route whose match matches. Compiled once per proto instance ({@link #of}): a new
 * configuration snapshot carries new instances, the cache keeps one entry per route name.
 */
final class RouteTable {

    private record Cached(RouteConfiguration proto, RouteTable table) {}

    private static final ConcurrentHashMap<String, Cached> CACHE = new ConcurrentHashMap<>();

    /** A virtual host and its compiled routes. */
    record Host(VirtualHost proto, List<Entry> routes, HeaderMutations requestHeaders,
                HeaderMutations responseHeaders) {}

    /** A compiled route; {@code parsed} caches its unpacked per-filter configurations. */
    record Entry(Route proto, RouteMatcher matcher, HeaderMutations requestHeaders, HeaderMutations responseHeaders,
                 ConcurrentHashMap<String, Object> parsed) {
        String name() {
            return proto.getName();
        }
    }

    /** The route a request matched, with the virtual host it is in. */
    record Selection(RouteTable table, Host host, Entry entry) {

        /**
         * The route's {@code typed_per_filter_config[filter]} as {@code type}, else the virtual
         * host's, else null (Envoy: the most specific one wins). Unpacked once per route.
         */
        <T extends Message> T perFilterConfig(String filter, Class<T> type) {
            Object cached = entry.parsed().computeIfAbsent(filter, f -> {
                Any any = entry.proto().getTypedPerFilterConfigMap().get(f);
                if (any == null) {
                    any = host.proto().getTypedPerFilterConfigMap().get(f);
                }
                if (any == null) {
                    return NONE;
                }
                try {
                    return any.unpack(type);
                } catch (InvalidProtocolBufferException e) {
                    throw new IllegalArgumentException("route " + entry.name() + ": typed_per_filter_config[" + f
                            + "]: " + any.getTypeUrl() + " (expected: " + type.getSimpleName() + ")", e);
                }
            });
            return cached == NONE ? null : type.cast(cached);
        }
    }

    private static final Object NONE = new Object();

    private final RouteConfiguration proto;
    private final List<Host> exact = new ArrayList<>();
    private final List<String> exactDomains = new ArrayList<>();
    private final List<Wildcard> suffixes = new ArrayList<>();
    private final List<Wildcard> prefixes = new ArrayList<>();
    private Host catchAll;
    private final HeaderMutations requestHeaders;
    private final HeaderMutations responseHeaders;

    private record Wildcard(String part, Host host) {}

    private RouteTable(RouteConfiguration proto) {
        this.proto = proto;
        requestHeaders = HeaderMutations.of(proto.getRequestHeadersToAddList(), proto.getRequestHeadersToRemoveList());
        responseHeaders = HeaderMutations.of(proto.getResponseHeadersToAddList(), proto.getResponseHeadersToRemoveList());
        for (VirtualHost vh : proto.getVirtualHostsList()) {
            List<Entry> routes = new ArrayList<>();
            for (Route r : vh.getRoutesList()) {
                routes.add(new Entry(r, new RouteMatcher(r.getMatch()),
                        HeaderMutations.of(r.getRequestHeadersToAddList(), r.getRequestHeadersToRemoveList()),
                        HeaderMutations.of(r.getResponseHeadersToAddList(), r.getResponseHeadersToRemoveList()),
                        new ConcurrentHashMap<>()));
            }
            Host host = new Host(vh, List.copyOf(routes),
                    HeaderMutations.of(vh.getRequestHeadersToAddList(), vh.getRequestHeadersToRemoveList()),
                    HeaderMutations.of(vh.getResponseHeadersToAddList(), vh.getResponseHeadersToRemoveList()));
            for (String d : vh.getDomainsList()) {
                String domain = d.toLowerCase(Locale.ROOT);
                if (domain.equals("*")) {
                    if (catchAll == null) {
                        catchAll = host;
                    }
                } else if (domain.startsWith("*")) {
                    suffixes.add(new Wildcard(domain.substring(1), host));
                } else if (domain.endsWith("*")) {
                    prefixes.add(new Wildcard(domain.substring(0, domain.length() - 1), host));
                } else {
                    exactDomains.add(domain);
                    exact.add(host);
                }
            }
        }
        // Longest wildcard first; a stable sort keeps the configuration's order among equals.
        suffixes.sort(Comparator.comparingInt((Wildcard w) -> w.part().length()).reversed());
        prefixes.sort(Comparator.comparingInt((Wildcard w) -> w.part().length()).reversed());
    }

    /** The compiled table of {@code config}, compiled on first use of this proto instance. */
    static RouteTable of(RouteConfiguration config) {
        requireNonNull(config, "config");
        String name = config.getName();
        Cached c = CACHE.get(name);
        if (c != null && c.proto() == config) {
            return c.table();
        }
        RouteTable table = new RouteTable(config);
        CACHE.put(name, new Cached(config, table));
        return table;
    }

    RouteConfiguration proto() {
        return proto;
    }

    HeaderMutations requestHeaders() {
        return requestHeaders;
    }

    HeaderMutations responseHeaders() {
        return responseHeaders;
    }

    /** The virtual host for {@code authority} ({@code Host} / {@code :authority}), or null. */
    Host virtualHost(String authority) {
        String host = authority == null ? "" : authority.toLowerCase(Locale.ROOT);
        Host h = virtualHostExactly(host);
        if (h == null) {
            int colon = host.lastIndexOf(':');
            if (colon > 0 && host.indexOf(']') < colon) {
                h = virtualHostExactly(host.substring(0, colon));
            }
        }
        return h != null ? h : catchAll;
    }

    private Host virtualHostExactly(String host) {
        int i = exactDomains.indexOf(host);
        if (i >= 0) {
            return exact.get(i);
        }
        for (Wildcard w : suffixes) {
            if (host.endsWith(w.part()) && host.length() > w.part().length()) {
                return w.host();
            }
        }
        for (Wildcard w : prefixes) {
            if (host.startsWith(w.part()) && host.length() > w.part().length()) {
                return w.host();
            }
        }
        return null;
    }

    /** The first route of the request's virtual host that matches it, or null (Envoy's NR). */
    Selection select(RouteMatcher.RequestView request) {
        Host host = virtualHost(request.authority());
        if (host == null) {
            return null;
        }
        for (Entry e : host.routes()) {
            if (e.matcher().matches(request)) {
                return new Selection(this, host, e);
            }
        }
        return null;
    }

    /**
     * Picks a cluster of {@code weighted} by weight (Envoy: a random number below the total
     * weight, walked through the clusters in order); null if every weight is 0.
     */
    static WeightedCluster.ClusterWeight pick(WeightedCluster weighted) {
        long total = 0;
        for (WeightedCluster.ClusterWeight c : weighted.getClustersList()) {
            total += c.getWeight().getValue();
        }
        if (total <= 0) {
            return null;
        }
        long r = ThreadLocalRandom.current().nextLong(total);
        for (WeightedCluster.ClusterWeight c : weighted.getClustersList()) {
            r -= c.getWeight().getValue();
            if (r < 0) {
                return c;
            }
        }
        return null;
    }
}
