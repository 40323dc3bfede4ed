/**
 * Kubernetes mode's deployer: turns waypoint Gateways ({@code gatewayClassName: istio-waypoint})
 * into a ServiceAccount, Deployment and Service each ({@link dev.ambit.istiod.deploy.WaypointDeployer}),
 * and writes the Gateways' status. Every write goes through
 * {@link dev.ambit.istiod.deploy.ClusterWriter}, which {@code ambitctl install} uses too.
 */
package dev.ambit.istiod.deploy;
