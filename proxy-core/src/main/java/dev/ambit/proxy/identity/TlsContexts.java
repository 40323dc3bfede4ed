package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.identity.SpiffeId;
import io.netty.channel.Channel;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Netty {@link SslContext}s for HBONE: mutual TLS 1.3 only, ALPN {@code h2}, AES-GCM suites
 * only, peers verified against the trust bundle and by SPIFFE identity.
 *
 * <ul>
 *   <li>{@link #server}: requires a client certificate chaining to the bundle, from any
 *       identity of the trust domain (authorization decides later, on {@link #peerIdentity}).</li>
 *   <li>{@link #client}: the server must present exactly the expected identity, else the
 *       handshake fails with "server identity mismatch: expected X, got Y". No host name
 *       verification.</li>
 * </ul>
 *
 * <p>Contexts are cached per certificate version ({@link WorkloadCertificate} instance) and,
 * for clients, per expected identity; a renewed certificate gets new contexts, connections
 * already established keep theirs.
 *
 * <p>Two properties cannot be enforced inside a BoringSSL handshake: ALPN cannot fail it
 * when {@code h2} is not agreed, and BoringSSL ignores TLS 1.3 cipher suite configuration
 * (it would accept a client offering only ChaCha20). The HBONE pipeline therefore calls
 * {@link #checkNegotiated(SslHandler)} when the handshake completes and closes the
 * connection if it throws, before any stream is read.
 *
 * <p>Thread-safe.
 */
public final class TlsContexts {

    /** Which TLS implementation to use. */
    public enum Provider {
        /** BoringSSL when netty-tcnative loads, else the JDK. */
        AUTO,
        /** BoringSSL via netty-tcnative; building fails when it is not available. */
        OPENSSL,
        /** The JDK's SSLEngine. */
        JDK
    }

    public static final String TLS_1_3 = "TLSv1.3";
    public static final List<String> CIPHER_SUITES = List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384");

    private static final Logger logger = LoggerFactory.getLogger(TlsContexts.class);
    private static final ApplicationProtocolConfig ALPN_H2 = new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN,
            // The only behaviours both providers support; h2 is checked after the handshake.
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            ApplicationProtocolNames.HTTP_2);

    private final TrustBundle trustBundle;
    private final SslProvider provider;
    private final Clock clock;
    private final int clientContextsPerCertificate;
    private final Map<SpiffeId, Versioned> byIdentity = new ConcurrentHashMap<>();

    /** The contexts of one certificate version. */
    private final class Versioned {
        final WorkloadCertificate certificate;
        volatile SslContext server;
        final Map<SpiffeId, SslContext> clients = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<SpiffeId, SslContext> eldest) {
                return size() > clientContextsPerCertificate;
            }
        };

        Versioned(WorkloadCertificate certificate) {
            this.certificate = certificate;
        }
    }

    private TlsContexts(Builder b, SslProvider provider) {
        this.trustBundle = b.trustBundle;
        this.provider = provider;
        this.clock = b.clock;
        this.clientContextsPerCertificate = b.clientContextsPerCertificate;
    }

    public static Builder builder(TrustBundle trustBundle) {
        return new Builder(trustBundle);
    }

    /** The provider in use: {@link SslProvider#OPENSSL} (BoringSSL) or {@link SslProvider#JDK}. */
    public SslProvider provider() {
        return provider;
    }

    public TrustBundle trustBundle() {
        return trustBundle;
    }

    /** The HBONE server context presenting {@code certificate}; accepts any client of the trust domain. */
    public SslContext server(WorkloadCertificate certificate) throws SSLException {
        requireNonNull(certificate, "certificate");
        Versioned v = versioned(certificate);
        SslContext ctx = v.server;
        if (ctx == null) {
            synchronized (v) {
                ctx = v.server;
                if (ctx == null) {
                    ctx = SslContextBuilder.forServer(certificate.privateKey(), certificate.presentedChain())
                            .sslProvider(provider)
                            .protocols(TLS_1_3)
                            .ciphers(CIPHER_SUITES)
                            .clientAuth(ClientAuth.REQUIRE)
                            .trustManager(new SpiffeTrustManager(trustBundle, null, clock))
                            .applicationProtocolConfig(ALPN_H2)
                            .build();
                    v.server = ctx;
                }
            }
        }
        return ctx;
    }

    /**
     * The HBONE client context presenting {@code certificate} that accepts only a server
     * proving {@code expectedServer}.
     */
    public SslContext client(WorkloadCertificate certificate, SpiffeId expectedServer) throws SSLException {
        requireNonNull(certificate, "certificate");
        requireNonNull(expectedServer, "expectedServer");
        Versioned v = versioned(certificate);
        synchronized (v) {
            SslContext ctx = v.clients.get(expectedServer);
            if (ctx == null) {
                ctx = SslContextBuilder.forClient()
                        .sslProvider(provider)
                        .keyManager(certificate.privateKey(), certificate.presentedChain())
                        .protocols(TLS_1_3)
                        .ciphers(CIPHER_SUITES)
                        .trustManager(new SpiffeTrustManager(trustBundle, expectedServer, clock))
                        // The peer is named by its SPIFFE ID, checked by the trust manager, not by host.
                        .endpointIdentificationAlgorithm(null)
                        .applicationProtocolConfig(ALPN_H2)
                        .build();
                v.clients.put(expectedServer, ctx);
            }
            return ctx;
        }
    }

    /** Drops the contexts of {@code identity} (forgotten identity); connections keep theirs. */
    public void forget(SpiffeId identity) {
        byIdentity.remove(requireNonNull(identity, "identity"));
    }

    private Versioned versioned(WorkloadCertificate certificate) {
        // A different instance is a renewal: replace, so the old version's contexts can go.
        return byIdentity.compute(certificate.identity(),
                (id, v) -> v != null && v.certificate == certificate ? v : new Versioned(certificate));
    }

    /**
     * Checks what the completed handshake negotiated: TLS 1.3, an AES-GCM suite, ALPN {@code h2}.
     *
     * @throws SSLHandshakeException naming the parameter, its value and what was expected
     */
    public static void checkNegotiated(SslHandler ssl) throws SSLHandshakeException {
        requireNonNull(ssl, "ssl");
        SSLSession session = ssl.engine().getSession();
        if (!TLS_1_3.equals(session.getProtocol())) {
            throw new SSLHandshakeException("protocol: " + session.getProtocol() + " (expected: " + TLS_1_3 + ")");
        }
        if (!CIPHER_SUITES.contains(session.getCipherSuite())) {
            throw new SSLHandshakeException("cipher suite: " + session.getCipherSuite() + " (expected: one of "
                    + CIPHER_SUITES + ")");
        }
        String alpn = ssl.applicationProtocol();
        if (!ApplicationProtocolNames.HTTP_2.equals(alpn)) {
            throw new SSLHandshakeException("ALPN: " + (alpn == null ? "none" : alpn) + " (expected: "
                    + ApplicationProtocolNames.HTTP_2 + ")");
        }
    }

    /**
     * The SPIFFE ID of the verified peer of {@code session}.
     *
     * @throws SSLPeerUnverifiedException when the peer sent no certificate or it names no single SPIFFE ID
     */
    public static SpiffeId peerIdentity(SSLSession session) throws SSLPeerUnverifiedException {
        requireNonNull(session, "session");
        Certificate[] chain = session.getPeerCertificates();
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
            throw new SSLPeerUnverifiedException("peer sent no X.509 certificate");
        }
        try {
            return Certificates.spiffeId(leaf);
        } catch (CertificateException e) {
            SSLPeerUnverifiedException ex = new SSLPeerUnverifiedException("peer: " + e.getMessage());
            ex.initCause(e);
            throw ex;
        }
    }

    /**
     * The SPIFFE ID of the peer of a channel whose TLS handshake has completed.
     *
     * @throws IllegalStateException when the channel has no {@link SslHandler}
     * @throws SSLPeerUnverifiedException when the handshake has not completed or the peer is unverified
     */
    public static SpiffeId peerIdentity(Channel channel) throws SSLPeerUnverifiedException {
        requireNonNull(channel, "channel");
        SslHandler ssl = channel.pipeline().get(SslHandler.class);
        if (ssl == null) {
            throw new IllegalStateException("channel " + channel + " has no SslHandler (expected: a TLS channel)");
        }
        return peerIdentity(ssl.engine().getSession());
    }

    /** Configures {@link TlsContexts}. */
    public static final class Builder {
        private final TrustBundle trustBundle;
        private Provider provider = Provider.AUTO;
        private Clock clock = Clock.systemUTC();
        private int clientContextsPerCertificate = 256;

        private Builder(TrustBundle trustBundle) {
            this.trustBundle = requireNonNull(trustBundle, "trustBundle");
        }

        /** {@link Provider#AUTO} by default. */
        public Builder provider(Provider provider) {
            this.provider = requireNonNull(provider, "provider");
            return this;
        }

        /** The time peer chains are validated at (tests). */
        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        /** How many expected server identities' client contexts to keep per certificate; 256 by default. */
        public Builder clientContextsPerCertificate(int n) {
            Checks.positive(n, "clientContextsPerCertificate");
            this.clientContextsPerCertificate = n;
            return this;
        }

        /**
         * @throws IllegalStateException when {@link Provider#OPENSSL} is asked for and BoringSSL
         *         cannot be loaded or lacks TLS 1.3, with the cause
         */
        public TlsContexts build() {
            SslProvider chosen = switch (provider) {
                case JDK -> SslProvider.JDK;
                case OPENSSL -> {
                    if (!openSslUsable()) {
                        throw new IllegalStateException("provider: OPENSSL (BoringSSL unavailable: "
                                + OpenSsl.unavailabilityCause() + "; expected: netty-tcnative-boringssl-static"
                                + " for this platform, or provider AUTO/JDK)");
                    }
                    yield SslProvider.OPENSSL;
                }
                case AUTO -> openSslUsable() ? SslProvider.OPENSSL : SslProvider.JDK;
            };
            if (provider == Provider.AUTO && chosen == SslProvider.JDK) {
                logger.info("TLS: BoringSSL unavailable ({}), using the JDK provider",
                        String.valueOf(OpenSsl.unavailabilityCause()));
            } else {
                logger.info("TLS: using the {} provider", chosen == SslProvider.OPENSSL ? "BoringSSL" : "JDK");
            }
            return new TlsContexts(this, chosen);
        }

        private static boolean openSslUsable() {
            return OpenSsl.isAvailable() && SslProvider.isAlpnSupported(SslProvider.OPENSSL)
                    && SslProvider.isTlsv13Supported(SslProvider.OPENSSL);
        }
    }
}
