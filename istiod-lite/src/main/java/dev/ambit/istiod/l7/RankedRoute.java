package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.route.v3.Route;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Supplier;

/**
 * One match of one rule of a Gateway API route (HTTPRoute or GRPCRoute), ranked by the
 * precedence Istio gives the routes it merges for one Service (GAMMA): exact path first,
 * then prefix, then regular expression, then no path at all; within a rank the longer path;
 * then a method match; then more header matches; then more query parameter matches; then
 * {@code order} (the older route, its namespace/name, its rule and match order). A
 * GRPCRoute's {@code method} match is ranked as the path it becomes ({@code /svc/method}
 * exact, {@code /svc/} prefix, otherwise a regular expression), so HTTPRoutes and
 * GRPCRoutes on one Service and port form one ordered list.
 *
 * <p>{@code build} makes the Envoy routes only once the order is known, so what the
 * translation reports comes in route order.
 */
record RankedRoute(int pathRank, int pathLength, boolean method, int headers, int query, int order,
                   Supplier<List<Route>> build) {

    /** Exact path. */
    static final int EXACT = 0;
    /** Path prefix (a missing HTTPRoute path is the prefix {@code /}). */
    static final int PREFIX = 1;
    /** Regular expression. */
    static final int REGEX = 2;
    /** No path match at all (a GRPCRoute match without {@code method}): matched last, as Istio. */
    static final int NONE = 3;

    static final Comparator<RankedRoute> PRECEDENCE = Comparator.comparingInt(RankedRoute::pathRank)
            .thenComparing(Comparator.comparingInt(RankedRoute::pathLength).reversed())
            .thenComparingInt(r -> r.method() ? 0 : 1)
            .thenComparing(Comparator.comparingInt(RankedRoute::headers).reversed())
            .thenComparing(Comparator.comparingInt(RankedRoute::query).reversed())
            .thenComparingInt(RankedRoute::order);

    RankedRoute {
        requireNonNull(build, "build");
    }

    /** The Envoy routes of {@code ranked}, highest precedence first. */
    static List<Route> inOrder(List<RankedRoute> ranked) {
        List<RankedRoute> sorted = new ArrayList<>(ranked);
        sorted.sort(PRECEDENCE);
        List<Route> out = new ArrayList<>();
        for (RankedRoute r : sorted) {
            out.addAll(r.build().get());
        }
        return out;
    }
}
