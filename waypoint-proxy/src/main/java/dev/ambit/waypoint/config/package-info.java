/**
 * The waypoint's xDS configuration: Envoy's Listener, RouteConfiguration, Cluster and
 * ClusterLoadAssignment as received on the ADS stream, validated against what the waypoint
 * implements ({@link dev.ambit.waypoint.config.FieldTable}, {@link dev.ambit.waypoint.config.ResourceValidator}:
 * anything else is NACKed naming the field), held as one immutable
 * {@link dev.ambit.waypoint.config.WaypointConfig} ({@link dev.ambit.waypoint.config.WaypointConfigStore}),
 * and shown in Envoy's {@code /config_dump} shape ({@link dev.ambit.waypoint.config.EnvoyConfigDump}).
 */
package dev.ambit.waypoint.config;
