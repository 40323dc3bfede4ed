package dev.ambit.waypoint.gateway;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.http.StringMatch;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import java.net.InetAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Verifies a gateway client's certificate inside the TLS handshake, as Envoy's
 * {@code CertificateValidationContext} does: the chain leads to one of the CA certificates (PKIX,
 * at the handshake's time, no revocation: Istio sets no CRL) and, when SAN matchers are given, a
 * subject alternative name of the leaf of the matcher's type matches one of them (Envoy's
 * {@code match_typed_subject_alt_names}: any one suffices), and, when pins are given, the leaf's
 * SPKI or certificate SHA-256 is one of them ({@code verify_certificate_spki} /
 * {@code verify_certificate_hash}). A failure fails the handshake with the
 * reason in the exception (Envoy's {@code ssl.fail_verify_san} / {@code fail_verify_error}).
 * Server certificates are never checked here (the gateway is the server).
 */
final class ClientCertificates extends X509ExtendedTrustManager {

    /** One compiled SAN matcher: the GeneralName type number and the string test. */
    private record San(int type, StringMatch match) {}

    private final List<X509Certificate> cas;
    private final Set<TrustAnchor> anchors = new HashSet<>();
    private final List<San> sans = new ArrayList<>();
    private final Set<String> spkiPins = new HashSet<>();
    private final Set<String> hashes = new HashSet<>();

    ClientCertificates(List<X509Certificate> cas, List<SubjectAltNameMatcher> matchers) {
        this(cas, matchers, List.of(), List.of());
    }

    /**
     * @param spkiPins base64 SHA-256 digests of accepted leaves' SubjectPublicKeyInfo (Envoy's {@code verify_certificate_spki})
     * @param certificateHashes hex SHA-256 digests of accepted leaves' DER, colons allowed ({@code verify_certificate_hash});
     *     when either list is set the leaf must match one entry of either (Envoy)
     */
    ClientCertificates(List<X509Certificate> cas, List<SubjectAltNameMatcher> matchers, List<String> spkiPins,
                       List<String> certificateHashes) {
        this.cas = List.copyOf(requireNonNull(cas, "cas"));
        if (cas.isEmpty()) {
            throw new IllegalArgumentException("cas: [] (expected: at least one CA certificate)");
        }
        cas.forEach(c -> anchors.add(new TrustAnchor(c, null)));
        for (SubjectAltNameMatcher m : matchers) {
            sans.add(new San(generalNameType(m.getSanType()), StringMatch.of(m.getMatcher())));
        }
        this.spkiPins.addAll(spkiPins);
        certificateHashes.forEach(h -> hashes.add(h.replace(":", "").toLowerCase(java.util.Locale.ROOT)));
    }

    private boolean pinned(X509Certificate leaf) throws CertificateException {
        if (spkiPins.isEmpty() && hashes.isEmpty()) {
            return true;
        }
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            String spki = java.util.Base64.getEncoder().encodeToString(sha.digest(leaf.getPublicKey().getEncoded()));
            String hash = java.util.HexFormat.of().formatHex(sha.digest(leaf.getEncoded()));
            return spkiPins.contains(spki) || hashes.contains(hash);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new CertificateException(e);
        }
    }

    /** RFC 5280 GeneralName tag of a SAN type (what {@link X509Certificate#getSubjectAlternativeNames} reports). */
    private static int generalNameType(SubjectAltNameMatcher.SanType t) {
        return switch (t) {
            case EMAIL -> 1;
            case DNS -> 2;
            case URI -> 6;
            case IP_ADDRESS -> 7;
            default -> throw new IllegalArgumentException("san_type: " + t + " (expected: EMAIL, DNS, URI or IP_ADDRESS)");
        };
    }

    void verify(X509Certificate[] chain) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("client presented no certificate");
        }
        List<X509Certificate> path = new ArrayList<>(Arrays.asList(chain));
        while (path.size() > 1 && cas.contains(path.getLast())) {
            path.removeLast(); // PKIX wants the path without its anchor
        }
        try {
            PKIXParameters p = new PKIXParameters(anchors);
            p.setRevocationEnabled(false);
            CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509")
                    .generateCertPath(path), p);
        } catch (GeneralSecurityException e) {
            throw new CertificateException("client certificate " + chain[0].getSubjectX500Principal().getName()
                    + " does not chain to the gateway's CA: " + e.getMessage(), e);
        }
        if (!sans.isEmpty() && !sanMatches(chain[0])) {
            throw new CertificateException("client certificate " + chain[0].getSubjectX500Principal().getName()
                    + ": no subject alternative name matches the accepted ones");
        }
        if (!pinned(chain[0])) {
            throw new CertificateException("client certificate " + chain[0].getSubjectX500Principal().getName()
                    + ": neither its SPKI nor its hash is among the pinned ones");
        }
    }

    private boolean sanMatches(X509Certificate leaf) throws CertificateParsingException {
        Collection<List<?>> names = leaf.getSubjectAlternativeNames();
        if (names == null) {
            return false;
        }
        for (List<?> n : names) {
            int type = (Integer) n.get(0);
            if (!(n.get(1) instanceof String value)) {
                continue;
            }
            String normalized = type == 7 ? normalizeIp(value) : value;
            for (San san : sans) {
                if (san.type() == type && san.match().test(normalized)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The JDK prints IPv6 SANs in full form; Envoy compares RFC 5952's compact form. */
    private static String normalizeIp(String ip) {
        byte[] bytes = io.netty.util.NetUtil.createByteArrayFromIpAddressString(ip);
        if (bytes == null) {
            return ip;
        }
        try {
            return io.netty.util.NetUtil.toAddressString(InetAddress.getByAddress(bytes));
        } catch (java.net.UnknownHostException e) {
            return ip;
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        verify(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        verify(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        throw new CertificateException("the gateway verifies clients only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        throw new CertificateException("the gateway verifies clients only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("the gateway verifies clients only");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return cas.toArray(X509Certificate[]::new);
    }
}
