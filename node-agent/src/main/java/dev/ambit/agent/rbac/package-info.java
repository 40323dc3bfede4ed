/**
 * L4 authorization of inbound connections, with Istio's (ztunnel's) semantics for
 * {@code istio.security.Authorization} resources.
 *
 * <p>{@link dev.ambit.agent.rbac.CompiledPolicy} turns a policy into matchers once, when it
 * arrives over xDS; {@link dev.ambit.agent.rbac.Authorizer} picks the policies that apply
 * to a destination workload and returns a {@link dev.ambit.agent.rbac.Decision} for a
 * {@link dev.ambit.agent.rbac.ConnectionAttributes}. The package does not know the state
 * store: policies come from a {@link dev.ambit.agent.rbac.PolicyLookup}, or the caller
 * passes the applicable ones.
 */
package dev.ambit.agent.rbac;
