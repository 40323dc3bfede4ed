package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import java.math.BigInteger;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * A workload's key and certificate chain as issued by the CA: leaf first, root last.
 * Immutable; a renewal produces a new instance, so identity ({@code ==}) is the version
 * TLS contexts are cached by.
 *
 * @param identity   the SPIFFE ID the leaf names (checked by {@link CaClient})
 * @param privateKey the leaf's key; it never leaves the node agent
 * @param chain      leaf first, root last; never empty
 * @param issuedAt   when the node agent received it: the CA back-dates {@code notBefore}
 *                   for clock skew, so renewal timing counts from here
 */
public record WorkloadCertificate(SpiffeId identity, PrivateKey privateKey, List<X509Certificate> chain,
                                  Instant issuedAt) {

    public WorkloadCertificate {
        requireNonNull(identity, "identity");
        requireNonNull(privateKey, "privateKey");
        requireNonNull(chain, "chain");
        requireNonNull(issuedAt, "issuedAt");
        chain = List.copyOf(chain);
        if (chain.isEmpty()) {
            throw new IllegalArgumentException("chain: [] (expected: leaf first, root last)");
        }
    }

    public X509Certificate leaf() {
        return chain.getFirst();
    }

    public Instant notBefore() {
        return leaf().getNotBefore().toInstant();
    }

    public Instant notAfter() {
        return leaf().getNotAfter().toInstant();
    }

    public BigInteger serialNumber() {
        return leaf().getSerialNumber();
    }

    /** What a TLS peer is sent: the chain without a trailing self-signed root (peers hold the root). */
    public List<X509Certificate> presentedChain() {
        X509Certificate last = chain.getLast();
        if (chain.size() > 1 && last.getSubjectX500Principal().equals(last.getIssuerX500Principal())) {
            return chain.subList(0, chain.size() - 1);
        }
        return chain;
    }

    /** Whether the leaf is still valid at {@code now}. */
    public boolean isValidAt(Instant now) {
        return now.isBefore(notAfter()) && !now.isBefore(notBefore());
    }

    /** The part of the lifetime that counts for renewal: from receipt (or notBefore if later) to notAfter. */
    Duration effectiveLifetime() {
        Instant start = issuedAt.isAfter(notBefore()) ? issuedAt : notBefore();
        Duration d = Duration.between(start, notAfter());
        return d.isNegative() ? Duration.ZERO : d;
    }

    @Override
    public String toString() {
        // No key material, ever: this string ends up in logs.
        return "WorkloadCertificate[" + identity + ", serial=" + serialNumber().toString(16)
                + ", notBefore=" + notBefore() + ", notAfter=" + notAfter() + "]";
    }
}
