/**
 * The waypoint: Ambit's L7 proxy (HBONE in on 15008, HTTP routing, HBONE out), built on
 * proxy-core. {@code config}: validated Envoy xDS resources; {@code http}: the downstream
 * engine (codecs, filter chain, router); {@code upstream}: the cluster manager.
 */
package dev.ambit.waypoint;
