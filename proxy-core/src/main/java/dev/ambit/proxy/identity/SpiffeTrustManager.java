package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Verifies a mesh peer inside the handshake: the chain leads to the trust bundle, the leaf
 * names exactly one SPIFFE ID in the bundle's trust domain, and, when an expected identity
 * is set (client side), it is that one. Host names play no part: mesh peers are addressed
 * by IP and identified by SPIFFE ID.
 */
final class SpiffeTrustManager extends X509ExtendedTrustManager {

    private final TrustBundle bundle;
    private final SpiffeId expected;
    private final Clock clock;

    SpiffeTrustManager(TrustBundle bundle, SpiffeId expected, Clock clock) {
        this.bundle = requireNonNull(bundle, "bundle");
        this.expected = expected;
        this.clock = requireNonNull(clock, "clock");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        verify(chain, "client");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        verify(chain, "server");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        verify(chain, "client");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        verify(chain, "server");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain, "client");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain, "server");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return bundle.roots().toArray(X509Certificate[]::new);
    }

    private void verify(X509Certificate[] chain, String role) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException(role + " presented no certificate (expected: a mesh workload certificate)");
        }
        List<X509Certificate> list = Arrays.asList(chain);
        bundle.verify(list, clock.instant());
        SpiffeId actual = Certificates.spiffeId(chain[0]);
        if (!actual.trustDomain().equals(bundle.trustDomain())) {
            throw new CertificateException(role + " identity " + actual + " is outside trust domain "
                    + bundle.trustDomain());
        }
        if (expected != null && !expected.equals(actual)) {
            throw new CertificateException(role + " identity mismatch: expected " + expected + ", got " + actual);
        }
    }
}
