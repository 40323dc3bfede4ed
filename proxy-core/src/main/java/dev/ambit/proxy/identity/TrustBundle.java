package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.pem.Pem;
import java.security.GeneralSecurityException;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The roots a mesh trusts, with the trust domain they speak for. Immutable.
 *
 * <p>Validation is PKIX without revocation: mesh leaves are short-lived, which is the
 * mesh's revocation story (as in Istio).
 */
public final class TrustBundle {

    private final String trustDomain;
    private final List<X509Certificate> roots;
    private final Set<TrustAnchor> anchors;

    private TrustBundle(String trustDomain, List<X509Certificate> roots) {
        this.trustDomain = trustDomain;
        this.roots = roots;
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate root : roots) {
            anchors.add(new TrustAnchor(root, null));
        }
        this.anchors = Set.copyOf(anchors);
    }

    /**
     * A bundle of {@code roots} for identities in {@code trustDomain}.
     *
     * @throws IllegalArgumentException when {@code roots} is empty or the trust domain is malformed
     */
    public static TrustBundle of(String trustDomain, List<X509Certificate> roots) {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(roots, "roots");
        // SpiffeId owns the trust domain syntax; a probe identity reuses its check and message.
        dev.ambit.common.identity.SpiffeId.of(trustDomain, "probe", "probe");
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("roots: [] (expected: at least one root certificate)");
        }
        for (X509Certificate root : roots) {
            requireNonNull(root, "roots[i]");
        }
        return new TrustBundle(trustDomain, List.copyOf(roots));
    }

    /**
     * A bundle from PEM text (one or more {@code CERTIFICATE} blocks).
     *
     * @throws IllegalArgumentException when the text holds no certificate or does not parse
     */
    public static TrustBundle fromPem(String trustDomain, String pem) {
        requireNonNull(pem, "pem");
        return of(trustDomain, Pem.certificates("PEM", pem));
    }

    /** The trust domain peers verified against this bundle must belong to. */
    public String trustDomain() {
        return trustDomain;
    }

    /** The root certificates, in the order given. */
    public List<X509Certificate> roots() {
        return roots;
    }

    /**
     * Checks that {@code chain} (leaf first; a trailing root may be included or not) leads to
     * one of the roots and is valid at {@code at}.
     *
     * @throws java.security.cert.CertificateException naming the leaf and why it is not trusted
     */
    public void verify(List<X509Certificate> chain, Instant at) throws java.security.cert.CertificateException {
        requireNonNull(chain, "chain");
        requireNonNull(at, "at");
        if (chain.isEmpty()) {
            throw new java.security.cert.CertificateException("empty certificate chain (expected: leaf first)");
        }
        // PKIX wants the path without its anchor; a peer or the CA may send the root along.
        List<X509Certificate> path = new ArrayList<>(chain);
        while (path.size() > 1 && roots.contains(path.getLast())) {
            path.removeLast();
        }
        try {
            CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
            PKIXParameters parameters = new PKIXParameters(anchors);
            parameters.setRevocationEnabled(false);
            parameters.setDate(Date.from(at));
            CertPathValidator.getInstance("PKIX").validate(certPath, parameters);
        } catch (GeneralSecurityException e) {
            throw new java.security.cert.CertificateException("certificate " + describe(chain.getFirst())
                    + " does not verify against the trust bundle of " + trustDomain + ": " + e.getMessage(), e);
        }
    }

    private static String describe(X509Certificate leaf) {
        List<String> uris = Certificates.uriSans(leaf);
        return uris.isEmpty() ? leaf.getSubjectX500Principal().getName() : String.join(",", uris);
    }

    @Override
    public String toString() {
        return "TrustBundle[" + trustDomain + ", " + roots.size() + " root(s)]";
    }
}
