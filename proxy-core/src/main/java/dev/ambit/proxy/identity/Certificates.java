package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** PEM parsing and SPIFFE identity extraction shared by the CA client and the TLS side. */
final class Certificates {

    private static final Pattern PEM_CERTIFICATE = Pattern.compile(
            "-----BEGIN CERTIFICATE-----[\\s\\S]*?-----END CERTIFICATE-----");
    // RFC 5280 GeneralName tag for uniformResourceIdentifier.
    private static final int URI_SAN = 6;

    private Certificates() {}

    /**
     * Every {@code CERTIFICATE} block of {@code pem}, in order.
     *
     * @throws IllegalArgumentException when there is none or one does not parse
     */
    static List<X509Certificate> parsePemChain(String pem) {
        List<X509Certificate> out = new ArrayList<>();
        Matcher m = PEM_CERTIFICATE.matcher(pem);
        while (m.find()) {
            out.addAll(parse(m.group()));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("PEM: no CERTIFICATE block (expected: at least one)");
        }
        return out;
    }

    private static List<X509Certificate> parse(String block) {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            Collection<? extends java.security.cert.Certificate> certs = factory.generateCertificates(
                    new ByteArrayInputStream(block.getBytes(StandardCharsets.US_ASCII)));
            List<X509Certificate> out = new ArrayList<>();
            for (java.security.cert.Certificate c : certs) {
                out.add((X509Certificate) c);
            }
            return out;
        } catch (CertificateException e) {
            throw new IllegalArgumentException("PEM: unparseable certificate (" + e.getMessage() + ")", e);
        }
    }

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
