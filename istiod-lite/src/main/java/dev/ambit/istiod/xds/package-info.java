/**
 * The delta xDS server of istiod-lite: workload discovery ({@code istio.workload.Address})
 * and authorization ({@code istio.security.Authorization}) over
 * {@code DeltaAggregatedResources}.
 *
 * <ul>
 *   <li>{@link dev.ambit.istiod.xds.XdsSnapshot}: immutable, content-versioned resources
 *       per type URL, built from the model;</li>
 *   <li>{@link dev.ambit.istiod.xds.XdsService}: the gRPC service; takes model updates,
 *       debounces them and pushes per-client differences;</li>
 *   <li>{@link dev.ambit.istiod.xds.XdsServer}: the Netty server around it, which can
 *       carry other services on the same port;</li>
 *   <li>{@link dev.ambit.istiod.xds.XdsDebugView}: what each client subscribed to, was
 *       sent and accepted, for an admin endpoint.</li>
 * </ul>
 */
package dev.ambit.istiod.xds;
