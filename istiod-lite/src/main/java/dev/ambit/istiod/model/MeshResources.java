package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.common.identity.SpiffeId;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What the model computed from one config snapshot: the xDS resources by type URL and
 * name, who runs where (for the CA), and warnings for users. Immutable.
 *
 * <p>Address resources are named as Istio names them: a workload by its uid
 * ({@code Kubernetes//Pod/<ns>/<name>}), a service by {@code <ns>/<hostname>}.
 * Authorization resources by {@code <ns>/<name>}.
 */
public final class MeshResources {

    private static final MeshResources EMPTY = new MeshResources(Map.of(), Map.of(), Map.of(), List.of());

    private final SortedMap<String, Address> addresses;
    private final SortedMap<String, Authorization> authorizations;
    private final Map<String, Set<SpiffeId>> identitiesByNode;
    private final List<String> warnings;

    public MeshResources(Map<String, Address> addresses, Map<String, Authorization> authorizations,
                         Map<String, Set<SpiffeId>> identitiesByNode, List<String> warnings) {
        this.addresses = Collections.unmodifiableSortedMap(new TreeMap<>(requireNonNull(addresses, "addresses")));
        this.authorizations = Collections.unmodifiableSortedMap(
                new TreeMap<>(requireNonNull(authorizations, "authorizations")));
        this.identitiesByNode = Map.copyOf(requireNonNull(identitiesByNode, "identitiesByNode"));
        this.warnings = List.copyOf(requireNonNull(warnings, "warnings"));
    }

    public static MeshResources empty() {
        return EMPTY;
    }

    /** Workloads and services, by resource name. */
    public SortedMap<String, Address> addresses() {
        return addresses;
    }

    /** Authorization policies, by resource name. */
    public SortedMap<String, Authorization> authorizations() {
        return authorizations;
    }

    /** Resources of one xDS type URL, by name. */
    public SortedMap<String, ? extends Message> resources(String typeUrl) {
        return switch (typeUrl) {
            case TypeUrls.ADDRESS -> addresses;
            case TypeUrls.AUTHORIZATION -> authorizations;
            default -> Collections.emptySortedMap();
        };
    }

    /** True when a pod with this identity is scheduled on {@code node}. */
    public boolean runsOn(SpiffeId identity, String node) {
        return identitiesByNode.getOrDefault(node, Set.of()).contains(identity);
    }

    public Map<String, Set<SpiffeId>> identitiesByNode() {
        return identitiesByNode;
    }

    /** Things the user should know: policies not enforced as written, references that do not resolve. */
    public List<String> warnings() {
        return warnings;
    }
}
