package dev.ambit.common.identity;

import static java.util.Objects.requireNonNull;

import java.util.regex.Pattern;

/**
 * A Kubernetes workload identity in SPIFFE form:
 * {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Only this shape is accepted: it is the one Istio issues and checks, and the one
 * authorization policies name (principals are the URI without {@code spiffe://}).
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

    private static final String SCHEME = "spiffe://";
    // Trust domains are DNS-like; namespaces and service accounts are DNS-1123 labels/subdomains.
    private static final Pattern TRUST_DOMAIN = Pattern.compile("[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?");
    private static final Pattern K8S_NAME = Pattern.compile("[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?");

    public SpiffeId {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        if (!TRUST_DOMAIN.matcher(trustDomain).matches()) {
            throw new IllegalArgumentException("trustDomain: " + trustDomain
                    + " (expected: lower-case letters, digits, '.', '-', '_')");
        }
        if (!K8S_NAME.matcher(namespace).matches()) {
            throw new IllegalArgumentException("namespace: " + namespace + " (expected: a Kubernetes name)");
        }
        if (!K8S_NAME.matcher(serviceAccount).matches()) {
            throw new IllegalArgumentException("serviceAccount: " + serviceAccount
                    + " (expected: a Kubernetes name)");
        }
    }

    public static SpiffeId of(String trustDomain, String namespace, String serviceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount);
    }

    /**
     * Parses {@code spiffe://td/ns/NS/sa/SA}.
     *
     * @throws IllegalArgumentException naming the URI and what is wrong with it
     */
    public static SpiffeId parse(String uri) {
        requireNonNull(uri, "uri");
        if (!uri.startsWith(SCHEME)) {
            throw new IllegalArgumentException("SPIFFE ID: " + uri + " (expected: spiffe://<trust-domain>/ns/<ns>/sa/<sa>)");
        }
        String[] parts = uri.substring(SCHEME.length()).split("/", -1);
        if (parts.length != 5 || !parts[1].equals("ns") || !parts[3].equals("sa")) {
            throw new IllegalArgumentException("SPIFFE ID: " + uri + " (expected: spiffe://<trust-domain>/ns/<ns>/sa/<sa>)");
        }
        return new SpiffeId(parts[0], parts[2], parts[4]);
    }

    /** The URI form, as it appears in a certificate's URI SAN. */
    public String uri() {
        return SCHEME + principal();
    }

    /** The form authorization policies use: the URI without the scheme. */
    public String principal() {
        return trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    @Override
    public String toString() {
        return uri();
    }
}
