package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** SPIFFE identity extraction shared by the CA client and the TLS side (PEM is mesh-common's {@code Pem}). */
final class Certificates {

    // RFC 5280 GeneralName tag for uniformResourceIdentifier.
    private static final int URI_SAN = 6;

    private Certificates() {}

    /** The URI SANs of {@code certificate}, in order; empty when it has none or they do not parse. */
    static List<String> uriSans(X509Certificate certificate) {
        List<String> uris = new ArrayList<>();
        try {
            Collection<List<?>> sans = certificate.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (san.size() >= 2 && san.get(0) instanceof Integer type && type == URI_SAN
                            && san.get(1) instanceof String uri) {
                        uris.add(uri);
                    }
                }
            }
        } catch (CertificateParsingException e) {
            return List.of();
        }
        return uris;
    }

    /**
     * The one SPIFFE identity {@code leaf} names.
     *
     * @throws CertificateException when it has no URI SAN, several, or one that is not a SPIFFE ID
     */
    static SpiffeId spiffeId(X509Certificate leaf) throws CertificateException {
        requireNonNull(leaf, "leaf");
        List<String> uris = uriSans(leaf);
        if (uris.size() != 1) {
            throw new CertificateException("certificate has " + uris.size() + " URI SANs " + uris
                    + " (expected: exactly one SPIFFE ID)");
        }
        try {
            return SpiffeId.parse(uris.getFirst());
        } catch (IllegalArgumentException e) {
            throw new CertificateException("certificate URI SAN: " + e.getMessage(), e);
        }
    }
}
