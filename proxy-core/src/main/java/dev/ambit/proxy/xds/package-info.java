/**
 * The proxies' control-plane client: one delta ADS stream on which
 * {@link dev.ambit.proxy.xds.XdsClient} subscribes to the type of every
 * {@link dev.ambit.proxy.xds.ResourceHandler} registered (the node agent's are
 * {@link dev.ambit.proxy.state.ProxyState#handlers()}, for Istio's workload and
 * authorization resources), ACKing or NACKing each type on its own.
 */
package dev.ambit.proxy.xds;
