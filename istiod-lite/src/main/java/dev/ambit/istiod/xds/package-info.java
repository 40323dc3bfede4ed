/**
 * The xDS server of istiod-lite: one ADS service, two protocols.
 *
 * <ul>
 *   <li><b>Delta</b> ({@code DeltaAggregatedResources}) for node agents, waypoints and
 *       gateways: workload discovery ({@code istio.workload.Address}) and authorization
 *       ({@code istio.security.Authorization}) from one snapshot shared by every client,
 *       and Envoy's Cluster, ClusterLoadAssignment, Secret, Listener and RouteConfiguration
 *       per proxy, picked by the client's node metadata ({@link
 *       dev.ambit.istiod.xds.NodeMetadata#proxyKey()}: {@code NAMESPACE} and the
 *       {@code gateway.networking.k8s.io/gateway-name} label, else all of {@code LABELS});</li>
 *   <li><b>State of the world</b> ({@code StreamAggregatedResources}) for proxyless gRPC
 *       clients ({@code GENERATOR: grpc}), gRFC A27's protocol
 *       ({@link dev.ambit.istiod.xds.SotwStream}).</li>
 * </ul>
 *
 * <ul>
 *   <li>{@link dev.ambit.istiod.xds.XdsSnapshot}: immutable, content-versioned resources
 *       per type URL, built from the model; {@code L7Snapshots} holds one per proxy key
 *       (waypoint or gateway) and one for gRPC;</li>
 *   <li>{@link dev.ambit.istiod.xds.XdsService}: the gRPC service; takes model updates,
 *       debounces them and pushes per-client differences;</li>
 *   <li>{@link dev.ambit.istiod.xds.XdsServer}: the Netty server around it, which can
 *       carry other services on the same port;</li>
 *   <li>{@link dev.ambit.istiod.xds.XdsDebugView}: what each client subscribed to, was
 *       sent and accepted, for an admin endpoint; {@link dev.ambit.istiod.xds.L7DebugJson}
 *       renders the L7 resources themselves.</li>
 * </ul>
 */
package dev.ambit.istiod.xds;
