package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One of a gateway's Listeners compiled for its data path (gateway mode): the port it binds
 * and its filter chains by server name, chosen as Envoy does for a connection's SNI: the chain
 * naming it exactly, else the one with the longest {@code *.suffix} wildcard matching it, else
 * the chain without {@code server_names}; no SNI (or no match) → that chain, else none.
 * Immutable.
 *
 * @param name the Listener's name ({@code 0.0.0.0_443})
 * @param port the port it binds
 * @param chains every chain in the listener's order (the default chain last)
 */
public record GatewayListener(String name, int port, List<Chain> chains) {

    /**
     * One filter chain: its server names (empty: any), what it runs, and its TLS termination.
     *
     * @param serverNames {@code filter_chain_match.server_names}, lower case
     * @param chain the compiled network filter (HCM or TCP proxy)
     * @param tls the {@code envoy.transport_sockets.tls} context, or null: the bytes are served as
     *        they come (plain HTTP, or TLS passed through to the cluster)
     */
    public record Chain(List<String> serverNames, FilterChain chain, DownstreamTlsContext tls) {
        public Chain {
            serverNames = List.copyOf(requireNonNull(serverNames, "serverNames"));
            requireNonNull(chain, "chain");
        }
    }

    public GatewayListener {
        requireNonNull(name, "name");
        chains = List.copyOf(requireNonNull(chains, "chains"));
    }

    /** Whether a chain matches on SNI: connections must be peeked at (Envoy's tls_inspector) before choosing. */
    public boolean matchesOnServerName() {
        for (Chain c : chains) {
            if (!c.serverNames().isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** The chain for {@code serverName} (a ClientHello's SNI, null when none was sent). */
    public Optional<Chain> select(String serverName) {
        Chain catchAll = null;
        Chain wildcard = null;
        int wildcardLength = -1;
        String sni = serverName == null ? null : serverName.toLowerCase(Locale.ROOT);
        for (Chain c : chains) {
            if (c.serverNames().isEmpty()) {
                if (catchAll == null) {
                    catchAll = c;
                }
                continue;
            }
            if (sni == null) {
                continue;
            }
            for (String n : c.serverNames()) {
                if (n.equals(sni)) {
                    return Optional.of(c);
                }
                if (n.startsWith("*.") && sni.endsWith(n.substring(1)) && sni.length() > n.length() - 1
                        && n.length() > wildcardLength) {
                    wildcard = c;
                    wildcardLength = n.length();
                }
            }
        }
        return Optional.ofNullable(wildcard != null ? wildcard : catchAll);
    }

    /**
     * Compiles a validated Listener of a gateway.
     *
     * @throws IllegalArgumentException naming the field when chains overlap (two chains for one
     *     server name, two without server names: Envoy refuses such a listener) or use a match
     *     a gateway does not implement (destination ports, prefix ranges)
     */
    static GatewayListener compile(Listener l) {
        int port = l.getAddress().getSocketAddress().getPortValue();
        List<Chain> chains = new ArrayList<>();
        Map<String, Integer> names = new HashMap<>();
        int catchAll = -1;
        int n = l.getFilterChainsCount() + (l.hasDefaultFilterChain() ? 1 : 0);
        for (int i = 0; i < n; i++) {
            boolean isDefault = i == l.getFilterChainsCount();
            var fc = isDefault ? l.getDefaultFilterChain() : l.getFilterChains(i);
            String path = isDefault ? "default_filter_chain" : "filter_chains[" + i + "]";
            var m = fc.getFilterChainMatch();
            if (m.getPrefixRangesCount() > 0 || m.hasDestinationPort()) {
                throw new IllegalArgumentException(path + ".filter_chain_match: prefix_ranges/destination_port not "
                        + "supported on a gateway listener (expected: server_names only)");
            }
            List<String> serverNames = new ArrayList<>();
            for (String s : m.getServerNamesList()) {
                String name = s.toLowerCase(Locale.ROOT);
                Integer earlier = names.putIfAbsent(name, i);
                if (earlier != null) {
                    throw new IllegalArgumentException(path + ".filter_chain_match.server_names: \"" + s
                            + "\" also matched by filter_chains[" + earlier + "] (expected: each server name once)");
                }
                serverNames.add(name);
            }
            if (serverNames.isEmpty() && !isDefault) {
                if (catchAll >= 0) {
                    throw new IllegalArgumentException(path + ".filter_chain_match: the same match as filter_chains["
                            + catchAll + "] (expected: one chain without server_names)");
                }
                catchAll = i;
            }
            DownstreamTlsContext tls = null;
            if (fc.hasTransportSocket()) {
                try {
                    tls = fc.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class);
                } catch (InvalidProtocolBufferException e) {
                    throw new IllegalArgumentException(path + ".transport_socket: " + e.getMessage(), e);
                }
            }
            chains.add(new Chain(serverNames, FilterChainTable.chain(fc), tls));
        }
        return new GatewayListener(l.getName(), port, chains);
    }
}
