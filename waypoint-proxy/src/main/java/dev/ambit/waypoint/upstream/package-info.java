/**
 * The waypoint's cluster manager: {@link dev.ambit.waypoint.upstream.ClusterManager} implements
 * {@link dev.ambit.waypoint.upstream.Upstreams} over the current
 * {@link dev.ambit.waypoint.config.WaypointConfig}. {@link dev.ambit.waypoint.upstream.EndpointPicker}
 * is the one place an endpoint is picked; {@code Http1Pool} and {@code Http2Pool} keep the
 * connections per endpoint; {@code Connector} opens them (plain TCP, or an HBONE stream from
 * proxy-core's {@code HbonePool} made a byte stream by {@code StreamBytes}); {@code Failures}
 * names what went wrong with Envoy's response flags.
 */
package dev.ambit.waypoint.upstream;
