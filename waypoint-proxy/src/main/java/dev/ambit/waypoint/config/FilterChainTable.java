package dev.ambit.waypoint.config;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A Listener's filter chains compiled for lookup by a tunnel's destination
 * ({@code :authority} ip:port), with Envoy's selection order: first the chains whose
 * {@code destination_port} is the port (else those without one), then among them the
 * longest {@code prefix_ranges} entry containing the IP (a chain without ranges matches
 * any IP, after every range); no match → {@code default_filter_chain}, else none. Immutable.
 */
final class FilterChainTable {

    static final FilterChainTable EMPTY = new FilterChainTable(Map.of(), List.of(), null, List.of());

    /** One filter chain's match: its ranges (none = any IP) and what to do. */
    private record Entry(List<Range> ranges, FilterChain chain) {}

    private record Range(byte[] prefix, int bits) {}

    private final Map<Integer, List<Entry>> byPort;
    private final List<Entry> anyPort;
    private final FilterChain defaultChain;
    /** Every chain in the listener's order, the default last: what the admin dump lists. */
    private final List<FilterChain> ordered;

    private FilterChainTable(Map<Integer, List<Entry>> byPort, List<Entry> anyPort, FilterChain defaultChain,
                             List<FilterChain> ordered) {
        this.byPort = byPort;
        this.anyPort = anyPort;
        this.defaultChain = defaultChain;
        this.ordered = ordered;
    }

    /**
     * Compiles a validated Listener.
     *
     * @throws IllegalArgumentException naming the field when two chains have the same match
     *     (Envoy refuses such a listener: which chain serves would be arbitrary)
     */
    static FilterChainTable compile(Listener listener) {
        Map<Integer, List<Entry>> byPort = new HashMap<>();
        List<Entry> anyPort = new ArrayList<>();
        Set<String> matches = new HashSet<>();
        List<FilterChain> ordered = new ArrayList<>();
        for (int i = 0; i < listener.getFilterChainsCount(); i++) {
            io.envoyproxy.envoy.config.listener.v3.FilterChain fc = listener.getFilterChains(i);
            FilterChainMatch m = fc.getFilterChainMatch();
            List<Range> ranges = new ArrayList<>();
            for (CidrRange r : m.getPrefixRangesList()) {
                InetAddress a = Cidrs.literal(r.getAddressPrefix());
                int bits = r.hasPrefixLen() ? r.getPrefixLen().getValue() : 0;
                ranges.add(new Range(a.getAddress(), bits));
                String key = (m.hasDestinationPort() ? m.getDestinationPort().getValue() : "*") + " "
                        + a.getHostAddress() + "/" + bits;
                if (!matches.add(key)) {
                    throw new IllegalArgumentException("filter_chains[" + i + "].filter_chain_match: "
                            + a.getHostAddress() + "/" + bits + " port " + (m.hasDestinationPort()
                            ? m.getDestinationPort().getValue() : "any") + " also matched by an earlier chain "
                            + "(expected: each match once per listener)");
                }
            }
            if (ranges.isEmpty() && !matches.add((m.hasDestinationPort() ? m.getDestinationPort().getValue() : "*")
                    + " any")) {
                throw new IllegalArgumentException("filter_chains[" + i + "].filter_chain_match: the same match as "
                        + "an earlier chain (expected: each match once per listener)");
            }
            Entry e = new Entry(List.copyOf(ranges), chain(fc));
            ordered.add(e.chain());
            if (m.hasDestinationPort()) {
                byPort.computeIfAbsent(m.getDestinationPort().getValue(), p -> new ArrayList<>()).add(e);
            } else {
                anyPort.add(e);
            }
        }
        FilterChain defaultChain = listener.hasDefaultFilterChain() ? chain(listener.getDefaultFilterChain()) : null;
        if (defaultChain != null) {
            ordered.add(defaultChain);
        }
        Map<Integer, List<Entry>> frozen = new HashMap<>();
        byPort.forEach((p, l) -> frozen.put(p, List.copyOf(l)));
        return new FilterChainTable(Map.copyOf(frozen), List.copyOf(anyPort), defaultChain, List.copyOf(ordered));
    }

    Optional<FilterChain> lookup(InetAddress ip, int port) {
        List<Entry> candidates = byPort.get(port);
        if (candidates == null) {
            candidates = anyPort;
        }
        byte[] address = ip.getAddress();
        Entry best = null;
        int bestBits = -2;
        for (Entry e : candidates) {
            if (e.ranges().isEmpty()) {
                if (bestBits < -1) {
                    best = e;
                    bestBits = -1;
                }
                continue;
            }
            for (Range r : e.ranges()) {
                if (r.bits() > bestBits && Cidrs.contains(r.prefix(), r.bits(), address)) {
                    best = e;
                    bestBits = r.bits();
                }
            }
        }
        return Optional.ofNullable(best != null ? best.chain() : defaultChain);
    }

    /** Every chain in the listener's order, the default last (for the admin dump and tests). */
    List<FilterChain> chains() {
        return ordered;
    }

    /**
     * The chain's terminal network filter, compiled (the resource was validated: one, a known type,
     * after a TCP chain's optional {@code istio.stats}).
     */
    static FilterChain chain(io.envoyproxy.envoy.config.listener.v3.FilterChain fc) {
        Filter f = fc.getFilters(fc.getFiltersCount() - 1);
        try {
            if (f.getTypedConfig().is(HttpConnectionManager.class)) {
                HttpConnectionManager h = f.getTypedConfig().unpack(HttpConnectionManager.class);
                FilterChain.Codec codec = switch (h.getCodecType()) {
                    case HTTP1 -> FilterChain.Codec.HTTP1;
                    case HTTP2 -> FilterChain.Codec.HTTP2;
                    default -> FilterChain.Codec.AUTO;
                };
                return new FilterChain(fc.getName(), FilterChain.Kind.HTTP, h.getRds().getRouteConfigName(), codec, "",
                        h.getStatPrefix(), h);
            }
            TcpProxy t = f.getTypedConfig().unpack(TcpProxy.class);
            dev.ambit.api.telemetry.StatsConfig stats = fc.getFiltersCount() > 1
                    ? fc.getFilters(0).getTypedConfig().unpack(dev.ambit.api.telemetry.StatsConfig.class)
                    : dev.ambit.api.telemetry.StatsConfig.getDefaultInstance();
            return new FilterChain(fc.getName(), FilterChain.Kind.TCP, "", FilterChain.Codec.AUTO, t.getCluster(),
                    t.getStatPrefix(), HttpConnectionManager.getDefaultInstance(), stats);
        } catch (InvalidProtocolBufferException e) {
            // Validation parsed the same bytes: unreachable unless it was skipped.
            throw new IllegalArgumentException("filter chain " + fc.getName() + ": " + e.getMessage(), e);
        }
    }
}
