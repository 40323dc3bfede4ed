package dev.ambit.waypoint.http;

import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.netty.handler.codec.http.DefaultHttpHeaders;

/** Test access to the route compiler from other packages (the xDS validator's fuzz test). */
public final class RouteTables {

    private RouteTables() {}

    /** Compiles {@code config} as the request path does and routes one request with it. */
    public static void compile(RouteConfiguration config) {
        RouteTable.of(config).select(new RouteMatcher.RequestView("GET", "reviews:9080", "/a/b?c=d", "http",
                new DefaultHttpHeaders()));
    }
}
