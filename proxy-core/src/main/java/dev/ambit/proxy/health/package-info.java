/**
 * Passive endpoint health: {@link dev.ambit.proxy.health.EndpointHealth} ejects endpoints
 * whose connects fail (Envoy's outlier detection for local-origin failures), for the outbound
 * proxy's endpoint pick, the admin config dump and the agent's metrics.
 */
package dev.ambit.proxy.health;
