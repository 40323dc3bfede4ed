/**
 * The node agent's control-plane client: delta ADS for Istio's workload
 * ({@code istio.workload.Address}) and authorization ({@code istio.security.Authorization})
 * resources, applied to a {@link dev.ambit.proxy.state.ProxyState}.
 */
package dev.ambit.proxy.xds;
