/**
 * The node agent's view of the mesh (workloads, services, authorization policies), fed
 * by the xDS client and read lock-free by the data path.
 */
package dev.ambit.proxy.state;
