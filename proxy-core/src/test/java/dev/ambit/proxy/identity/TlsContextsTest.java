package dev.ambit.proxy.identity;

import static dev.ambit.proxy.identity.TestCa.BACKEND;
import static dev.ambit.proxy.identity.TestCa.FRONTEND;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambit.common.identity.SpiffeId;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Real handshakes over loopback sockets, with certificates from the real istiod-lite CA. */
class TlsContextsTest {

    @TempDir
    static Path dir;
    static TestCa ca;
    static WorkloadCertificate frontend;
    static WorkloadCertificate backend;
    static EventLoopGroup group;

    @BeforeAll
    static void issue() throws Exception {
        ca = new TestCa(dir, Duration.ofHours(1));
        CaClient client = ca.client().trustBundle(ca.bundle()).build();
        frontend = client.issue(FRONTEND).get(10, TimeUnit.SECONDS);
        backend = client.issue(BACKEND).get(10, TimeUnit.SECONDS);
        group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    }

    @AfterAll
    static void stop() throws Exception {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        ca.close();
    }

    /** The outcome of one side's handshake: the peer's identity and the negotiated parameters. */
    record Side(SpiffeId peer, String protocol, String cipher, String alpn) {}

    /** A server that handshakes with {@code serverContext} and reports its side's outcome. */
    static final class Server implements AutoCloseable {
        final CompletableFuture<Side> handshake = new CompletableFuture<>();
        final Channel channel;

        Server(SslContext serverContext) throws InterruptedException {
            channel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            SslHandler ssl = serverContext.newHandler(ch.alloc());
                            ch.pipeline().addLast(ssl);
                            report(ch, ssl, handshake);
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        }

        @Override
        public void close() {
            channel.close().syncUninterruptibly();
        }
    }

    private static void report(Channel ch, SslHandler ssl, CompletableFuture<Side> outcome) {
        ssl.handshakeFuture().addListener(f -> {
            if (!f.isSuccess()) {
                outcome.completeExceptionally(f.cause());
                return;
            }
            try {
                // What the HBONE pipeline does first on every connection.
                TlsContexts.checkNegotiated(ssl);
                var session = ssl.engine().getSession();
                outcome.complete(new Side(TlsContexts.peerIdentity(ch), session.getProtocol(),
                        session.getCipherSuite(), ssl.applicationProtocol()));
            } catch (Exception e) {
                outcome.completeExceptionally(e);
                ch.close();
            }
        });
        // A TLS 1.3 client may finish its side before the server refuses it; the close tells it.
        ch.closeFuture().addListener(f -> outcome.completeExceptionally(
                new IllegalStateException("connection closed before the handshake completed")));
    }

    private static CompletableFuture<Side> connect(Server server, SslContext clientContext) {
        CompletableFuture<Side> outcome = new CompletableFuture<>();
        new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        SslHandler ssl = clientContext.newHandler(ch.alloc());
                        ch.pipeline().addLast(ssl);
                        report(ch, ssl, outcome);
                    }
                })
                .connect(server.channel.localAddress())
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        outcome.completeExceptionally(f.cause());
                    }
                });
        return outcome;
    }

    private static TlsContexts contexts(TlsContexts.Provider provider) {
        if (provider == TlsContexts.Provider.OPENSSL) {
            assumeTrue(OpenSsl.isAvailable(), "BoringSSL unavailable: " + OpenSsl.unavailabilityCause());
        }
        return TlsContexts.builder(ca.bundle()).provider(provider).build();
    }

    private static String causes(Throwable t) {
        StringBuilder s = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            s.append(c).append(" <- ");
        }
        return s.toString();
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void mutualTls13WithH2AndSpiffeIdentitiesOnBothSides(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        try (Server server = new Server(tls.server(backend))) {
            Side client = connect(server, tls.client(frontend, BACKEND)).get(10, TimeUnit.SECONDS);
            Side serverSide = server.handshake.get(10, TimeUnit.SECONDS);

            assertThat(client.peer()).isEqualTo(BACKEND);
            assertThat(serverSide.peer()).isEqualTo(FRONTEND);
            for (Side side : new Side[] {client, serverSide}) {
                assertThat(side.protocol()).isEqualTo("TLSv1.3");
                assertThat(side.alpn()).isEqualTo("h2");
                assertThat(side.cipher()).isIn(TlsContexts.CIPHER_SUITES);
            }
        }
    }

    @Test
    void bothProvidersInteroperate() throws Exception {
        assumeTrue(OpenSsl.isAvailable(), "BoringSSL unavailable");
        TlsContexts boring = contexts(TlsContexts.Provider.OPENSSL);
        TlsContexts jdk = contexts(TlsContexts.Provider.JDK);
        try (Server server = new Server(boring.server(backend))) {
            assertThat(connect(server, jdk.client(frontend, BACKEND)).get(10, TimeUnit.SECONDS).peer())
                    .isEqualTo(BACKEND);
            assertThat(server.handshake.get(10, TimeUnit.SECONDS).peer()).isEqualTo(FRONTEND);
        }
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void clientExpectingAnotherIdentityFailsTheHandshakeNamingBoth(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        try (Server server = new Server(tls.server(frontend))) {
            CompletableFuture<Side> client = connect(server, tls.client(backend, BACKEND));

            assertThatThrownBy(() -> client.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(causes(e)).contains(
                            "server identity mismatch: expected " + BACKEND.uri() + ", got " + FRONTEND.uri()));
            assertThatThrownBy(() -> server.handshake.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class);
        }
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void clientWithoutCertificateIsRefused(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        SslContext anonymous = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
                .protocols("TLSv1.3")
                .trustManager(new SpiffeTrustManager(ca.bundle(), BACKEND, Clock.systemUTC()))
                .endpointIdentificationAlgorithm(null)
                .build();
        try (Server server = new Server(tls.server(backend))) {
            connect(server, anonymous);

            // The client may believe it finished (in TLS 1.3 it sends Finished first); the
            // server's refusal is what matters: no session, the connection is closed.
            assertThatThrownBy(() -> server.handshake.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(causes(e)).containsAnyOf("Empty client certificate chain",
                            "PEER_DID_NOT_RETURN_A_CERTIFICATE"));
        }
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void clientOfferingOnlyChaCha20IsRefused(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        SslContext chacha = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
                .protocols("TLSv1.3")
                .ciphers(java.util.List.of("TLS_CHACHA20_POLY1305_SHA256"))
                .keyManager(frontend.privateKey(), frontend.presentedChain())
                .trustManager(InsecureTrustManagerFactory.INSTANCE)
                .build();
        try (Server server = new Server(tls.server(backend))) {
            connect(server, chacha);

            // The JDK refuses in the handshake; BoringSSL ignores TLS 1.3 suite configuration
            // and is refused by checkNegotiated, which the pipeline runs before anything else.
            assertThatThrownBy(() -> server.handshake.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(causes(e)).containsAnyOf("no cipher suites in common",
                            "cipher suite: TLS_CHACHA20_POLY1305_SHA256 (expected: one of [TLS_AES_128_GCM_SHA256,"
                                    + " TLS_AES_256_GCM_SHA384])"));
        }
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void clientWithoutAlpnH2IsRefusedAfterTheHandshake(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        SslContext noAlpn = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
                .protocols("TLSv1.3")
                .keyManager(frontend.privateKey(), frontend.presentedChain())
                .trustManager(InsecureTrustManagerFactory.INSTANCE)
                .build();
        try (Server server = new Server(tls.server(backend))) {
            connect(server, noAlpn);

            assertThatThrownBy(() -> server.handshake.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(causes(e)).contains("ALPN: none (expected: h2)"));
        }
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void tls12OnlyClientIsRefused(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        SslContext tls12 = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
                .protocols("TLSv1.2")
                .keyManager(frontend.privateKey(), frontend.presentedChain())
                .trustManager(InsecureTrustManagerFactory.INSTANCE)
                .build();
        try (Server server = new Server(tls.server(backend))) {
            CompletableFuture<Side> client = connect(server, tls12);

            assertThatThrownBy(() -> client.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class);
            assertThatThrownBy(() -> server.handshake.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class);
        }
    }

    @ParameterizedTest
    @EnumSource(value = TlsContexts.Provider.class, names = {"JDK", "OPENSSL"})
    void clientCertificateFromAnotherCaIsRefused(TlsContexts.Provider provider) throws Exception {
        TlsContexts tls = contexts(provider);
        // Another mesh with its own root issues the same identity.
        WorkloadCertificate foreign;
        try (TestCa other = new TestCa(dir.resolve("other"), Duration.ofHours(1))) {
            foreign = other.client().build().issue(FRONTEND).get(10, TimeUnit.SECONDS);
        }
        assertThat(foreign.chain().getLast()).isNotEqualTo(frontend.chain().getLast());
        try (Server server = new Server(tls.server(backend))) {
            connect(server, tls.client(foreign, BACKEND));

            assertThatThrownBy(() -> server.handshake.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(causes(e)).contains("does not verify against the trust bundle"));
        }
    }

    @Test
    void contextsAreCachedPerCertificateVersionAndExpectedIdentity() throws Exception {
        TlsContexts tls = contexts(TlsContexts.Provider.JDK);

        assertThat(tls.server(frontend)).isSameAs(tls.server(frontend));
        assertThat(tls.client(frontend, BACKEND)).isSameAs(tls.client(frontend, BACKEND));
        assertThat(tls.client(frontend, BACKEND)).isNotSameAs(tls.client(frontend, FRONTEND));

        WorkloadCertificate renewed = ca.client().build().issue(FRONTEND).get(10, TimeUnit.SECONDS);
        assertThat(tls.server(renewed)).isNotSameAs(tls.server(frontend));
    }

    @Test
    void reportsTheProviderInUse() {
        TlsContexts auto = TlsContexts.builder(ca.bundle()).build();
        assertThat(auto.provider()).isEqualTo(OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK);
        assertThat(TlsContexts.builder(ca.bundle()).provider(TlsContexts.Provider.JDK).build().provider())
                .isEqualTo(SslProvider.JDK);
    }

    @Test
    void peerIdentityNeedsAnSslHandler() {
        Channel plain = new io.netty.channel.embedded.EmbeddedChannel();
        assertThatThrownBy(() -> TlsContexts.peerIdentity(plain))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("has no SslHandler");
    }
}
