/**
 * L7 translation: Istio VirtualService / DestinationRule and Gateway API HTTPRoute and GRPCRoute (GAMMA)
 * → Envoy Listener, RouteConfiguration, Cluster and ClusterLoadAssignment, per waypoint and
 * for proxyless gRPC clients. {@link dev.ambit.istiod.l7.L7Translator} is the entry point.
 *
 * <p>Decisions where Istio leaves room or Ambit differs, in one place:
 * <ul>
 *   <li>Several VirtualServices (or HTTPRoutes) for one host: the oldest applies
 *       (creationTimestamp, then namespace/name), as on Istio's mesh gateway; the others
 *       are reported (IST0109), not merged. HTTPRoutes and GRPCRoutes attached to the same
 *       Service are one source, their rules merged in Gateway API precedence
 *       ({@link dev.ambit.istiod.l7.RankedRoute}), as Istio merges both kinds.</li>
 *   <li>A VirtualService that yields no route for a port (all its matches name other
 *       ports) leaves that port on the default route; one that yields routes gets no
 *       catch-all (unmatched requests get 404 NR).</li>
 *   <li>Istio's default retry policy is served without {@code retriable_status_codes}
 *       (Istio's {@code EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY} behaviour).</li>
 *   <li>DestinationRules for one host merge oldest first: subsets by new name, the
 *       first traffic policy set. connectionPool, outlierDetection, consistentHash,
 *       locality and warm-up settings are reported, not applied (issue 15).</li>
 *   <li>Rejected routing objects keep their last good version: syntactic problems in
 *       the config sources ({@link dev.ambit.istiod.l7.L7Validation} via the object
 *       validator), semantic ones (unknown subset) in the translator.</li>
 *   <li>A match with {@code sourceLabels} or {@code sourceNamespace} never matches (as in
 *       Istio's waypoints, which cannot know the client's labels), with a warning.</li>
 *   <li>GRPCRoute: a method match is a path match ({@code /service/method} exact,
 *       {@code /service/} prefix, otherwise a regular expression); on waypoints a backend
 *       that cannot be used keeps its weight and fails its share with 503 (gRPC
 *       {@code UNAVAILABLE}), as Gateway API requires for GRPCRoute (proxyless clients, which
 *       refuse direct responses and stall on missing clusters, get the rule without it, or
 *       without the rule when nothing is left); {@code hostnames} are ignored for Service
 *       parents, with a warning ({@link dev.ambit.istiod.l7.GrpcRouteTranslator}).</li>
 * </ul>
 */
package dev.ambit.istiod.l7;
