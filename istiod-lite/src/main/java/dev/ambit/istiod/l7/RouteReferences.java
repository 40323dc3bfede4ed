package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.model.ServiceCatalog;

/**
 * How the L7 translation resolves what routing objects refer to, for readers outside it
 * ({@code ambitctl analyze}): hosts as written in an object of a namespace (Istio's short-name
 * rule) and the subsets the DestinationRules define per host, merged as the translation merges
 * them. One instance per snapshot.
 */
public final class RouteReferences {

    private final Hosts hosts;
    private final DestinationRules rules;

    private RouteReferences(Hosts hosts, DestinationRules rules) {
        this.hosts = hosts;
        this.rules = rules;
    }

    public static RouteReferences of(ConfigSnapshot config, ServiceCatalog catalog) {
        requireNonNull(config, "config");
        requireNonNull(catalog, "catalog");
        Hosts hosts = new Hosts(catalog.mesh());
        return new RouteReferences(hosts, new DestinationRules(config, hosts, new Problems(config)));
    }

    /** {@code host} as written in an object of {@code namespace}: a short name is {@code name.namespace.svc.<suffix>}. */
    public String resolve(String host, String namespace) {
        return hosts.resolve(requireNonNull(host, "host"), requireNonNull(namespace, "namespace"));
    }

    /** Whether a DestinationRule for {@code host} (resolved) defines {@code subset}. */
    public boolean hasSubset(String host, String subset) {
        return rules.hasSubset(requireNonNull(host, "host"), requireNonNull(subset, "subset"));
    }

    /** Whether a (possibly wildcard) host pattern covers {@code host}. */
    public static boolean covers(String pattern, String host) {
        return Hosts.covers(pattern, host);
    }
}
