/**
 * L4 authorization of inbound connections, with Istio's (ztunnel's) semantics for
 * {@code istio.security.Authorization} resources.
 *
 * <p>{@link dev.ambit.proxy.authz.CompiledPolicy} turns a policy into matchers once, when it
 * arrives over xDS; {@link dev.ambit.proxy.authz.Authorizer} picks the policies that apply
 * to a destination workload and returns a {@link dev.ambit.proxy.authz.Decision} for a
 * {@link dev.ambit.proxy.authz.ConnectionAttributes}. The package does not know the state
 * store: policies come from a {@link dev.ambit.proxy.authz.PolicyLookup}, or the caller
 * passes the applicable ones.
 */
package dev.ambit.proxy.authz;
