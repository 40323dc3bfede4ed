package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

/**
 * Mesh-wide settings the translation depends on (Istio's MeshConfig subset).
 *
 * @param trustDomain   SPIFFE trust domain of every identity ({@code cluster.local})
 * @param clusterId     cluster name in workload uids ({@code Kubernetes})
 * @param domainSuffix  service DNS suffix ({@code cluster.local})
 * @param rootNamespace where mesh-wide policies live ({@code istio-system})
 * @param network       network of every address ("" = the default network)
 */
public record MeshConfig(String trustDomain, String clusterId, String domainSuffix, String rootNamespace,
                         String network) {

    public MeshConfig {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(clusterId, "clusterId");
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(rootNamespace, "rootNamespace");
        requireNonNull(network, "network");
    }

    public static MeshConfig defaults() {
        return new MeshConfig("cluster.local", "Kubernetes", "cluster.local", "istio-system", "");
    }
}
