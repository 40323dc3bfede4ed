package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.http.rbac.PathNormalizer;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.handler.codec.http.FullHttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Each filter chain's HTTP filters, built from its HttpConnectionManager as sent (CONTRACT
 * seam 5): the authorization slot first (after any leading {@code jwt_authn}), then one {@link HttpFilter} per entry of
 * {@code http_filters}, in order, made by the factory registered under the entry's name
 * ({@code envoy.filters.http.rbac} may appear several times: Istio's DENY, ALLOW, AUDIT).
 * An HCM without {@code http_filters} (tests, older configs) gets fault, CORS and router.
 * Built once per HCM and kept while it is in use; a config the factories refuse (the
 * validator should have NACKed it) fails closed: its requests are answered 500.
 * Thread-safe.
 */
public final class HttpFilters {

    private static final Logger log = LoggerFactory.getLogger(HttpFilters.class);
    /** Distinct HCMs kept; configs change rarely, so a full cache means old versions: start over. */
    private static final int MAX_CACHED = 1024;

    /** Makes one filter of a chain from its {@code http_filters} entry. */
    @FunctionalInterface
    public interface Factory {
        /** @throws IllegalArgumentException if the config cannot be honoured */
        HttpFilter create(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter config)
                throws InvalidProtocolBufferException;
    }

    /** One chain's filters and path normalization. */
    record Built(HttpFilterChain chain, PathNormalizer normalizer) {}

    /** Envoy's JWT authentication filter's name: it runs before the authorization slot. */
    private static final String JWT_AUTHN = "envoy.filters.http.jwt_authn";

    private final HttpFilter authorization;
    private final Map<String, Factory> factories;
    private final List<String> defaults;
    private final Built fixed;
    private final Map<HttpConnectionManager, Built> cache = new ConcurrentHashMap<>();

    private HttpFilters(HttpFilter authorization, Map<String, Factory> factories, List<String> defaults, Built fixed) {
        this.authorization = authorization;
        this.factories = factories;
        this.defaults = defaults;
        this.fixed = fixed;
    }

    /**
     * Filters built from each chain's HCM.
     *
     * @param authorization the authorization slot, first in every chain
     * @param factories filter name → factory (must include every name of {@code defaults})
     * @param defaults the filters of an HCM that lists none, in order
     */
    public static HttpFilters of(HttpFilter authorization, Map<String, Factory> factories, List<String> defaults) {
        requireNonNull(authorization, "authorization");
        Map<String, Factory> f = new LinkedHashMap<>(requireNonNull(factories, "factories"));
        for (String d : defaults) {
            if (!f.containsKey(d)) {
                throw new IllegalArgumentException("defaults: " + d + " has no factory (expected one of " + f.keySet()
                        + ")");
            }
        }
        return new HttpFilters(authorization, Map.copyOf(f), List.copyOf(defaults), null);
    }

    /** The same chain for every filter chain, no path normalization (tests). */
    static HttpFilters fixed(HttpFilterChain chain) {
        return new HttpFilters(null, Map.of(), List.of(), new Built(requireNonNull(chain, "chain"), PathNormalizer.NONE));
    }

    /** The filters of {@code chain}. */
    Built forChain(FilterChain chain) {
        if (fixed != null) {
            return fixed;
        }
        HttpConnectionManager hcm = chain.hcm();
        Built b = cache.get(hcm);
        if (b == null) {
            if (cache.size() >= MAX_CACHED) {
                cache.clear();
            }
            b = cache.computeIfAbsent(hcm, h -> build(chain.name(), h));
        }
        return b;
    }

    private Built build(String chainName, HttpConnectionManager hcm) {
        List<HttpFilter> filters = new ArrayList<>();
        try {
            if (hcm.getHttpFiltersCount() == 0) {
                filters.add(authorization);
                for (String name : defaults) {
                    filters.add(factories.get(name).create(
                            io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter
                                    .newBuilder().setName(name).build()));
                }
            } else {
                // Authentication comes before authorization, as in Envoy: the slot runs after the
                // leading jwt_authn entries, so it sees the request principal they wrote.
                boolean slotPlaced = false;
                for (var f : hcm.getHttpFiltersList()) {
                    if (f.getName().equals(StatsOverrides.FILTER)) {
                        continue; // telemetry (issue 19): read by HttpTelemetry, not a request filter
                    }
                    if (!slotPlaced && !f.getName().equals(JWT_AUTHN)) {
                        filters.add(authorization);
                        slotPlaced = true;
                    }
                    Factory factory = factories.get(f.getName());
                    if (factory == null) {
                        throw new IllegalArgumentException("http_filters: " + f.getName() + " (expected one of "
                                + factories.keySet() + ")");
                    }
                    filters.add(factory.create(f));
                }
                if (!slotPlaced) {
                    filters.add(authorization);
                }
            }
        } catch (InvalidProtocolBufferException | RuntimeException e) {
            log.error("filter chain {}: cannot build its HTTP filters, its requests are refused (500): {}", chainName,
                    e.getMessage());
            return new Built(new HttpFilterChain(List.of(HttpFilters::refuse)), PathNormalizer.of(hcm));
        }
        return new Built(new HttpFilterChain(filters), PathNormalizer.of(hcm));
    }

    private static java.util.concurrent.CompletionStage<FullHttpResponse> refuse(HttpExchange exchange,
                                                                             HttpFilter.Chain next) {
        return CompletableFuture.completedFuture(LocalReplies.reply(500, "filter chain not configured"));
    }

    /** Unpacks an entry's typed_config as {@code type} (its default instance when unset). */
    public static <T extends Message> T config(
            io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter entry, Class<T> type)
            throws InvalidProtocolBufferException {
        if (!entry.hasTypedConfig()) {
            return com.google.protobuf.Internal.getDefaultInstance(type);
        }
        return entry.getTypedConfig().unpack(type);
    }
}
