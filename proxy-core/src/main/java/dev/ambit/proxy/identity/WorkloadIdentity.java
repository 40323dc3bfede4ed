package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;

/**
 * The SPIFFE identity a workload runs as, derived from its xDS {@link Workload} as Istio
 * derives it: {@code spiffe://<trust domain>/ns/<namespace>/sa/<service account>}, with an
 * empty trust domain meaning {@value #DEFAULT_TRUST_DOMAIN} and an empty service account
 * meaning {@value #DEFAULT_SERVICE_ACCOUNT} (the account Kubernetes gives a pod that names none).
 *
 * <p>The one place this rule lives: the certificate a pod is issued, the identity an outbound
 * tunnel expects of its peer, the principal an inbound connection is matched against, and the
 * telemetry labels all come from here, so they cannot disagree.
 */
public final class WorkloadIdentity {

    /** The trust domain of a workload that names none. */
    public static final String DEFAULT_TRUST_DOMAIN = "cluster.local";
    /** The service account of a workload that names none. */
    public static final String DEFAULT_SERVICE_ACCOUNT = "default";

    private WorkloadIdentity() {}

    /**
     * The workload's SPIFFE ID.
     *
     * @throws IllegalArgumentException when its trust domain, namespace or service account is
     *         not a valid part of a SPIFFE ID (naming which)
     */
    public static SpiffeId of(Workload workload) {
        requireNonNull(workload, "workload");
        return SpiffeId.of(trustDomain(workload), workload.getNamespace(), serviceAccount(workload));
    }

    /**
     * Whether {@code workload} runs as {@code id}. Unlike {@link #of} it never throws: a workload
     * whose fields make no valid SPIFFE ID runs as no identity a peer can prove.
     */
    public static boolean is(Workload workload, SpiffeId id) {
        requireNonNull(workload, "workload");
        requireNonNull(id, "id");
        return id.namespace().equals(workload.getNamespace())
                && id.serviceAccount().equals(serviceAccount(workload))
                && id.trustDomain().equals(trustDomain(workload));
    }

    private static String trustDomain(Workload w) {
        return w.getTrustDomain().isEmpty() ? DEFAULT_TRUST_DOMAIN : w.getTrustDomain();
    }

    private static String serviceAccount(Workload w) {
        return w.getServiceAccount().isEmpty() ? DEFAULT_SERVICE_ACCOUNT : w.getServiceAccount();
    }
}
