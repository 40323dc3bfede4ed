/**
 * The waypoint's downstream HTTP engine (Envoy's HttpConnectionManager and router, for the
 * subset of Envoy's API the waypoint is sent).
 *
 * <ul>
 *   <li>{@link dev.ambit.waypoint.http.WaypointServer}: the HBONE listener (15008, mutual TLS,
 *       the peer's SPIFFE identity required); per CONNECT the filter chain of its
 *       {@code :authority}: TCP (a tunnel to the cluster, bytes relayed) or HTTP (the tunnel
 *       terminated: {@code StreamBytes}, then HTTP/1.1 or h2c, codec AUTO by the preface).</li>
 *   <li>Per request ({@code RequestProcessor}): {@code x-request-id}, the route
 *       ({@code RouteTable}, {@code RouteMatcher}: compiled once per RouteConfiguration
 *       instance), then the filters in the HCM's order: the authorization slot
 *       ({@link dev.ambit.waypoint.http.RequestAuthorizer}), fault ({@code Faults}), CORS
 *       ({@code Cors}), router ({@code Router}: redirects, direct responses, rewrites, header
 *       mutations, timeouts, retries with {@code RetryState}, mirrors with {@code Mirror}).</li>
 *   <li>{@link dev.ambit.waypoint.http.HttpTelemetry}: Istio's HTTP metrics
 *       ({@code reporter="waypoint"}) and one JSON access-log line per request.</li>
 * </ul>
 */
package dev.ambit.waypoint.http;
