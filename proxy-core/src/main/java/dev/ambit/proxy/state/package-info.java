/**
 * A proxy's view of the mesh, one store per kind: {@link dev.ambit.proxy.state.WorkloadStore},
 * {@link dev.ambit.proxy.state.ServiceStore} (with endpoints) and
 * {@link dev.ambit.proxy.state.PolicyStore} (a {@link dev.ambit.proxy.authz.PolicySet} for the
 * authorizer), fed through {@link dev.ambit.proxy.state.ProxyState}'s xDS handlers and read
 * lock-free by the data path.
 */
package dev.ambit.proxy.state;
