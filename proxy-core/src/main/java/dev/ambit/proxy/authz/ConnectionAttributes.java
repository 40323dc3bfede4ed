package dev.ambit.proxy.authz;

import static java.util.Objects.requireNonNull;

import java.net.InetAddress;

/**
 * What L4 authorization knows about a connection: the peer's identity (absent for
 * plaintext), its addresses and the destination workload's target port.
 *
 * <p>{@code principal} is Istio's form, {@code <trust-domain>/ns/<namespace>/sa/<account>}
 * (the SPIFFE ID without {@code spiffe://}); {@code sourceNamespace} and
 * {@code sourceServiceAccount} are the namespace and service account it names. Empty
 * strings are stored as {@code null}, because {@code presence} in a policy means "any
 * non-empty value".
 *
 * @param principal the peer's principal, or {@code null} without mTLS
 * @param sourceNamespace the peer identity's namespace, or {@code null}
 * @param sourceServiceAccount the peer identity's service account, or {@code null}
 * @param sourceAddress the peer's address
 * @param destinationAddress the destination workload's address
 * @param destinationPort the destination workload's port, 0-65535
 */
public record ConnectionAttributes(String principal, String sourceNamespace, String sourceServiceAccount,
                                   InetAddress sourceAddress, InetAddress destinationAddress,
                                   int destinationPort) {

    private static final String SPIFFE = "spiffe://";

    public ConnectionAttributes {
        principal = emptyToNull(principal);
        sourceNamespace = emptyToNull(sourceNamespace);
        sourceServiceAccount = emptyToNull(sourceServiceAccount);
        requireNonNull(sourceAddress, "sourceAddress");
        requireNonNull(destinationAddress, "destinationAddress");
        if (destinationPort < 0 || destinationPort > 65535) {
            throw new IllegalArgumentException("destinationPort: " + destinationPort + " (expected: 0-65535)");
        }
    }

    /**
     * A connection authenticated by mTLS. The namespace and service account are taken from
     * {@code identity}, which is a principal ({@code td/ns/NS/sa/SA}) or a SPIFFE ID
     * ({@code spiffe://td/ns/NS/sa/SA}).
     *
     * @throws IllegalArgumentException if {@code identity} is not of that form; such a peer
     *         has no identity Istio policies could name, so it must not be treated as
     *         plaintext either
     */
    public static ConnectionAttributes mtls(String identity, InetAddress sourceAddress,
                                            InetAddress destinationAddress, int destinationPort) {
        requireNonNull(identity, "identity");
        String principal = identity.startsWith(SPIFFE) ? identity.substring(SPIFFE.length()) : identity;
        // td/ns/NS/sa/SA: exactly five non-empty segments.
        String[] parts = principal.split("/", -1);
        if (parts.length != 5 || !parts[1].equals("ns") || !parts[3].equals("sa")
                || parts[0].isEmpty() || parts[2].isEmpty() || parts[4].isEmpty()) {
            throw new IllegalArgumentException("identity: " + identity
                    + " (expected: [spiffe://]<trust-domain>/ns/<namespace>/sa/<service-account>)");
        }
        return new ConnectionAttributes(principal, parts[2], parts[4], sourceAddress, destinationAddress,
                                        destinationPort);
    }

    /** A connection without a peer identity (plaintext, or passthrough). */
    public static ConnectionAttributes plaintext(InetAddress sourceAddress, InetAddress destinationAddress,
                                                 int destinationPort) {
        return new ConnectionAttributes(null, null, null, sourceAddress, destinationAddress, destinationPort);
    }

    /** Whether the peer presented an identity. */
    public boolean hasIdentity() {
        return principal != null;
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }
}
