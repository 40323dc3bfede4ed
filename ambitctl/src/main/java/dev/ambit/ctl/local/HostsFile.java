package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.util.Comparator;
import java.util.List;

/**
 * The {@code /etc/hosts} and {@code /etc/resolv.conf} a pod sees ({@code ip netns exec}
 * bind-mounts {@code /etc/netns/<netns>/} over {@code /etc}): there is no DNS server in a
 * local cluster, so every Service is a hosts line, under each name Kubernetes DNS would
 * answer from the pod's namespace.
 */
public final class HostsFile {

    public static final String CLUSTER_DOMAIN = "cluster.local";

    /** A Service with a VIP. */
    public record ServiceName(String namespace, String name, String vip) {
        public ServiceName {
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
            requireNonNull(vip, "vip");
        }
    }

    private HostsFile() {
    }

    /**
     * The hosts file of a pod in {@code namespace}: localhost, the pod's own name, then one
     * line per Service, {@code VIP name.ns.svc.cluster.local name.ns.svc name.ns}, plus the
     * short {@code name} for Services of the pod's own namespace. Sorted by namespace and
     * name, so an unchanged cluster gives the same bytes (and no rewrite).
     *
     * @param namespace the pod's namespace; null for a node (no short names)
     * @param self the pod's (or node's) name and address, or null
     */
    public static String hosts(String namespace, String selfName, String selfIp, List<ServiceName> services) {
        requireNonNull(services, "services");
        StringBuilder out = new StringBuilder();
        out.append("# written by ambitctl local: Services of the local cluster (there is no DNS server)\n");
        out.append("127.0.0.1\tlocalhost\n");
        out.append("::1\tlocalhost ip6-localhost ip6-loopback\n");
        if (selfName != null && selfIp != null) {
            out.append(selfIp).append('\t').append(selfName).append('\n');
        }
        services.stream()
                .sorted(Comparator.comparing(ServiceName::namespace).thenComparing(ServiceName::name))
                .forEach(s -> {
                    String fqdn = s.name() + "." + s.namespace() + ".svc." + CLUSTER_DOMAIN;
                    out.append(s.vip()).append('\t').append(fqdn)
                            .append(' ').append(s.name()).append('.').append(s.namespace()).append(".svc")
                            .append(' ').append(s.name()).append('.').append(s.namespace());
                    if (s.namespace().equals(namespace)) {
                        out.append(' ').append(s.name());
                    }
                    out.append('\n');
                });
        return out.toString();
    }

    /**
     * The resolv.conf of a pod in {@code namespace}: Kubernetes' search path (used by any
     * resolver that does search hosts-file names), and a nameserver on the pod's own
     * loopback where nothing listens, so names that are not Services fail at once instead
     * of waiting for a timeout.
     */
    public static String resolvConf(String namespace) {
        String search = namespace == null ? "svc." + CLUSTER_DOMAIN + " " + CLUSTER_DOMAIN
                : namespace + ".svc." + CLUSTER_DOMAIN + " svc." + CLUSTER_DOMAIN + " " + CLUSTER_DOMAIN;
        return "# written by ambitctl local: Services are in /etc/hosts\n"
                + "search " + search + "\n"
                + "nameserver 127.0.0.1\n"
                + "options ndots:5 timeout:1 attempts:1\n";
    }
}
