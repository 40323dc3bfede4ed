package dev.ambit.common.identity;

import static java.util.Objects.requireNonNull;


/**
 * A Kubernetes workload identity in SPIFFE form:
 * {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Only this shape is accepted: it is the one Istio issues and checks, and the one
 * authorization policies name (principals are the URI without {@code spiffe://}).
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

    private static final String SCHEME = "spiffe://";
    // Trust domains are DNS-like (at most 255 characters); namespaces and service accounts are
    // DNS-1123 subdomains (at most 253): lower-case letters and digits at both ends, '.' and '-'
    // (and '_' in a trust domain) between. Checked by hand, not with a regex: proxies build an
    // identity per connection or request (a workload's, for its metrics' labels), and three
    // Matchers each time were 1.3 % of a gateway's CPU.
    private static final int TRUST_DOMAIN_MAX = 255;
    private static final int K8S_NAME_MAX = 253;

    public SpiffeId {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        if (!isName(trustDomain, TRUST_DOMAIN_MAX, true)) {
            throw new IllegalArgumentException("trustDomain: " + trustDomain
                    + " (expected: lower-case letters, digits, '.', '-', '_')");
        }
        if (!isName(namespace, K8S_NAME_MAX, false)) {
            throw new IllegalArgumentException("namespace: " + namespace + " (expected: a Kubernetes name)");
        }
        if (!isName(serviceAccount, K8S_NAME_MAX, false)) {
            throw new IllegalArgumentException("serviceAccount: " + serviceAccount
                    + " (expected: a Kubernetes name)");
        }
    }

    /** {@code [a-z0-9]([a-z0-9.-]{0,max-2}[a-z0-9])?}, with '_' among the middle characters when {@code underscore}. */
    static boolean isName(String s, int max, boolean underscore) {
        int n = s.length();
        if (n == 0 || n > max || !alphanumeric(s.charAt(0)) || !alphanumeric(s.charAt(n - 1))) {
            return false;
        }
        for (int i = 1; i < n - 1; i++) {
            char c = s.charAt(i);
            if (!alphanumeric(c) && c != '.' && c != '-' && !(underscore && c == '_')) {
                return false;
            }
        }
        return true;
    }

    private static boolean alphanumeric(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
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
