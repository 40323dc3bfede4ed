package dev.ambit.waypoint.gateway;

import static dev.ambit.waypoint.gateway.GatewayResources.caCertificate;
import static dev.ambit.waypoint.gateway.GatewayResources.certificate;
import static dev.ambit.waypoint.gateway.GatewayResources.cluster;
import static dev.ambit.waypoint.gateway.GatewayResources.endpoints;
import static dev.ambit.waypoint.gateway.GatewayResources.httpsChain;
import static dev.ambit.waypoint.gateway.GatewayResources.listener;
import static dev.ambit.waypoint.gateway.GatewayResources.routes;
import static dev.ambit.waypoint.gateway.GatewayResources.verifying;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.TrustBundle;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.ResourceHandler;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.WaypointConfigStore;
import dev.ambit.waypoint.http.HttpEngine;
import dev.ambit.waypoint.http.RequestAuthorizer;
import dev.ambit.waypoint.http.WaypointServer;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x509.GeneralName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Istio's Gateway TLS modes at the gateway, real handshakes on loopback: OPTIONAL_MUTUAL,
 * ISTIO_MUTUAL (SDS {@code default}/{@code ROOTCA}: the gateway's mesh certificate and root, a
 * SPIFFE client SAN), MUTUAL with SAN and certificate pins, TLS 1.2 cipher suites, and TLS
 * terminated in front of a TCP relay.
 */
class GatewayTlsModesTest {

    static final String APP = "outbound|8080||app.shop.svc.cluster.local";
    static final String CLIENT_ID = "spiffe://cluster.local/ns/shop/sa/client";

    final MetricsRegistry metrics = MetricsRegistry.create();
    final WaypointConfigStore store = WaypointConfigStore.builder().gateway(true).build();
    final TestPki pki = new TestPki("gateway-modes-ca");
    final TestPki mesh = new TestPki("mesh-root");
    EventLoopGroup loops;
    Channel backend;
    ClusterManager upstreams;
    GatewayServer gateway;
    int port;
    TestPki.Issued alice;
    TestPki.Issued bob;
    TestPki.Issued dave;

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        loops = Transport.EPOLL.newEventLoopGroup(2, "gateway-modes");
        backend = GatewayEndToEndTest.httpServer(loops, null, "backend");
        upstreams = ClusterManager.builder(store::current, SocketFactory.host("gateway-up", Transport.EPOLL), loops)
                .metrics(metrics).build();
        ProxyState state = ProxyState.create();
        HttpEngine engine = HttpEngine.of(upstreams, RequestAuthorizer.ALLOW_ALL, state, metrics, store::current,
                WaypointServer.DEFAULT_MAX_REQUEST_BYTES);
        TestPki.Issued own = mesh.leaf("istio-ingressgateway", new GeneralName(GeneralName.uniformResourceIdentifier,
                "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"));
        WorkloadCertificate meshCert = new WorkloadCertificate(SpiffeId.of("cluster.local", "istio-system",
                "istio-ingressgateway-service-account"), own.key(), List.of(own.certificate(), mesh.ca().certificate()),
                Instant.now());
        gateway = GatewayServer.builder(SocketFactory.host("gateway", Transport.EPOLL), loops, store::snapshot,
                        upstreams, engine, GatewayEndToEndTest.self(), state, metrics)
                .provider(SslProvider.isAlpnSupported(SslProvider.OPENSSL) ? SslProvider.OPENSSL : SslProvider.JDK)
                .meshIdentity(() -> meshCert, TrustBundle.of("cluster.local", List.of(mesh.ca().certificate())))
                .bindAddress(InetAddress.getLoopbackAddress())
                .build();
        store.onChange(gateway::reconcile);
        port = GatewayEndToEndTest.freePorts(1)[0];

        alice = pki.leaf("alice", new GeneralName(GeneralName.dNSName, "client.example.com"));
        bob = pki.leaf("bob", new GeneralName(GeneralName.dNSName, "client.example.com"));
        dave = pki.leaf("dave", new GeneralName(GeneralName.dNSName, "other.example.com"));
        String hash = HexFormat.ofDelimiter(":").formatHex(sha256(alice.certificate().getEncoded()));
        String daveHash = HexFormat.of().withUpperCase().formatHex(sha256(dave.certificate().getEncoded()));
        String spki = Base64.getEncoder().encodeToString(sha256(bob.certificate().getPublicKey().getEncoded()));

        apply(TypeUrls.CLUSTER, Map.of(APP, cluster(APP)));
        apply(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of(APP, endpoints(APP, (InetSocketAddress) backend.localAddress())));
        apply(TypeUrls.ROUTE_CONFIGURATION, Map.of("https", routes("https", port, APP, "opt.example.com",
                "mesh.example.com", "pin.example.com", "cipher.example.com")));
        apply(TypeUrls.SECRET, Map.of(
                "kubernetes://o", secret("kubernetes://o", pki.server("opt.example.com")),
                "kubernetes://p", secret("kubernetes://p", pki.server("pin.example.com")),
                "kubernetes://c", secret("kubernetes://c", pki.server("cipher.example.com")),
                "kubernetes://t", secret("kubernetes://t", pki.server("tcp.example.com")),
                "kubernetes://ca", caCertificate("kubernetes://ca", pki.ca().certificatePem())));
        CertificateValidationContext none = CertificateValidationContext.getDefaultInstance();
        CertificateValidationContext spiffe = CertificateValidationContext.newBuilder().addMatchTypedSubjectAltNames(
                san(SubjectAltNameMatcher.SanType.URI, CLIENT_ID)).build();
        CertificateValidationContext pins = CertificateValidationContext.newBuilder()
                .addMatchTypedSubjectAltNames(san(SubjectAltNameMatcher.SanType.DNS, "client.example.com"))
                .addVerifyCertificateHash(hash).addVerifyCertificateHash(daveHash).addVerifyCertificateSpki(spki).build();
        TlsParameters tls12 = TlsParameters.newBuilder()
                .setTlsMinimumProtocolVersion(TlsParameters.TlsProtocol.TLSv1_2)
                .setTlsMaximumProtocolVersion(TlsParameters.TlsProtocol.TLSv1_2)
                .addCipherSuites("ECDHE-ECDSA-AES256-GCM-SHA384").build();
        FilterChain tcp = FilterChain.newBuilder().setName("tls.tcp")
                .setFilterChainMatch(FilterChainMatch.newBuilder().addServerNames("tcp.example.com"))
                .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
                        .setTypedConfig(Any.pack(verifying("kubernetes://t", null, false, none, null))))
                .addFilters(Filter.newBuilder().setName("envoy.filters.network.tcp_proxy").setTypedConfig(Any.pack(
                        TcpProxy.newBuilder().setStatPrefix(APP).setCluster(APP).build()))).build();
        apply(TypeUrls.LISTENER, Map.of("0.0.0.0_" + port, listener(port,
                httpsChain("https", List.of("opt.example.com"),
                        verifying("kubernetes://o", "kubernetes://ca", false, none, null)),
                httpsChain("https", List.of("mesh.example.com"), verifying("default", "ROOTCA", true, spiffe, null)),
                httpsChain("https", List.of("pin.example.com"),
                        verifying("kubernetes://p", "kubernetes://ca", true, pins, null)),
                httpsChain("https", List.of("cipher.example.com"), verifying("kubernetes://c", null, false, none, tls12)),
                tcp)));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (gateway != null) {
            gateway.close();
        }
        if (upstreams != null) {
            upstreams.close();
        }
        if (backend != null) {
            backend.close().sync();
        }
        if (loops != null) {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        LeakCheck.assertNoLeaks();
    }

    @Test
    void optionalMutualAcceptsNoCertificateButVerifiesOneSent() throws Exception {
        assertThat(call(client(null), "opt.example.com").status()).isEqualTo(200);
        assertThat(call(client(alice), "opt.example.com").status()).isEqualTo(200);
        TestPki other = new TestPki("another-ca");
        assertThatThrownBy(() -> call(client(other.client("mallory")), "opt.example.com"))
                .as("a certificate sent is verified against the CA").isNotNull();
    }

    @Test
    void istioMutualPresentsTheMeshCertificateAndChecksTheClientsSpiffeId() throws Exception {
        TestPki.Issued client = mesh.leaf("client", new GeneralName(GeneralName.uniformResourceIdentifier, CLIENT_ID));
        var ok = GatewayClient.http1(loops, address(), meshClient(client), "mesh.example.com", "mesh.example.com", "/m",
                Map.of());
        assertThat(ok.status()).isEqualTo(200);
        TestPki.Issued other = mesh.leaf("other", new GeneralName(GeneralName.uniformResourceIdentifier,
                "spiffe://cluster.local/ns/shop/sa/other"));
        assertThatThrownBy(() -> GatewayClient.http1(loops, address(), meshClient(other), "mesh.example.com",
                "mesh.example.com", "/", Map.of())).as("SPIFFE ID not accepted").isNotNull();
        assertThatThrownBy(() -> GatewayClient.http1(loops, address(), meshClient(null), "mesh.example.com",
                "mesh.example.com", "/", Map.of())).as("a certificate is required").isNotNull();
        TestPki.Issued foreign = pki.leaf("client", new GeneralName(GeneralName.uniformResourceIdentifier, CLIENT_ID));
        assertThatThrownBy(() -> GatewayClient.http1(loops, address(), meshClient(foreign), "mesh.example.com",
                "mesh.example.com", "/", Map.of())).as("not signed by the mesh root").isNotNull();
    }

    @Test
    void mutualWithSanAndPinsAcceptsOnlyPinnedCertificatesWithTheSan() throws Exception {
        assertThat(call(client(alice), "pin.example.com").status()).as("pinned by hash").isEqualTo(200);
        assertThat(call(client(bob), "pin.example.com").status()).as("pinned by SPKI").isEqualTo(200);
        TestPki.Issued carol = pki.leaf("carol", new GeneralName(GeneralName.dNSName, "client.example.com"));
        assertThatThrownBy(() -> call(client(carol), "pin.example.com")).as("right SAN, not pinned").isNotNull();
        assertThatThrownBy(() -> call(client(dave), "pin.example.com")).as("pinned, wrong SAN: both checks apply")
                .isNotNull();
    }

    @Test
    void cipherSuitesRestrictTls12() throws Exception {
        assertThatThrownBy(() -> call(client(null, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), "cipher.example.com"))
                .as("a suite the chain does not offer").isNotNull();
        var ok = call(client(null, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
                "cipher.example.com");
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.tlsProtocol()).isEqualTo("TLSv1.2");
    }

    @Test
    void tlsTerminatedInFrontOfATcpRelay() throws Exception {
        // The backend speaks plain HTTP: the gateway decrypted, then relayed bytes without adding headers.
        var r = call(client(null), "tcp.example.com");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).contains("backend GET /", "xfp=null", "xff=null");
    }

    // ---------------------------------------------------------------- helpers

    private GatewayClient.Reply call(SslContext client, String host) throws Exception {
        return GatewayClient.http1(loops, address(), client, host, host, "/", Map.of());
    }

    private SslContext client(TestPki.Issued certificate, String... ciphers) throws Exception {
        SslContextBuilder b = SslContextBuilder.forClient().trustManager(pki.ca().certificate())
                .endpointIdentificationAlgorithm("HTTPS").applicationProtocolConfig(alpn());
        if (ciphers.length > 0) {
            b.protocols("TLSv1.2").ciphers(List.of(ciphers));
        }
        if (certificate != null) {
            b.keyManager(always(certificate));
        }
        return b.build();
    }

    /**
     * Presents {@code c} whatever CA names the server lists: a client's own key manager would
     * send nothing to a server naming another CA, and OPTIONAL_MUTUAL would then rightly accept.
     */
    private static javax.net.ssl.KeyManagerFactory always(TestPki.Issued c) {
        javax.net.ssl.X509ExtendedKeyManager km = new javax.net.ssl.X509ExtendedKeyManager() {
            @Override
            public String[] getClientAliases(String type, java.security.Principal[] issuers) {
                return new String[] {"client"};
            }

            @Override
            public String chooseClientAlias(String[] types, java.security.Principal[] issuers, java.net.Socket s) {
                return "client";
            }

            @Override
            public String chooseEngineClientAlias(String[] types, java.security.Principal[] issuers,
                                                  javax.net.ssl.SSLEngine e) {
                return "client";
            }

            @Override
            public String[] getServerAliases(String type, java.security.Principal[] issuers) {
                return null;
            }

            @Override
            public String chooseServerAlias(String type, java.security.Principal[] issuers, java.net.Socket s) {
                return null;
            }

            @Override
            public java.security.cert.X509Certificate[] getCertificateChain(String alias) {
                return new java.security.cert.X509Certificate[] {c.certificate()};
            }

            @Override
            public java.security.PrivateKey getPrivateKey(String alias) {
                return c.key();
            }
        };
        return new javax.net.ssl.KeyManagerFactory(new javax.net.ssl.KeyManagerFactorySpi() {
            @Override
            protected void engineInit(java.security.KeyStore ks, char[] password) {
            }

            @Override
            protected void engineInit(javax.net.ssl.ManagerFactoryParameters spec) {
            }

            @Override
            protected javax.net.ssl.KeyManager[] engineGetKeyManagers() {
                return new javax.net.ssl.KeyManager[] {km};
            }
        }, null, "always") {
        };
    }

    /** A mesh peer: trusts the mesh root, checks the gateway's SPIFFE certificate (no DNS name in it). */
    private SslContext meshClient(TestPki.Issued certificate) throws Exception {
        SslContextBuilder b = SslContextBuilder.forClient().trustManager(mesh.ca().certificate())
                .endpointIdentificationAlgorithm(null).applicationProtocolConfig(alpn());
        if (certificate != null) {
            b.keyManager(always(certificate));
        }
        return b.build();
    }

    private static ApplicationProtocolConfig alpn() {
        return new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_1_1);
    }

    private static SubjectAltNameMatcher san(SubjectAltNameMatcher.SanType type, String exact) {
        return SubjectAltNameMatcher.newBuilder().setSanType(type).setMatcher(StringMatcher.newBuilder().setExact(exact))
                .build();
    }

    private static byte[] sha256(byte[] b) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(b);
    }

    private static io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret secret(String name,
                                                                                         TestPki.Issued issued) {
        return certificate(name, issued.certificatePem(), issued.keyPem());
    }

    private InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void apply(String type, Map<String, ? extends Message> updates) {
        ResourceHandler h = store.handlers().stream().filter(x -> x.typeUrl().equals(type)).findFirst().orElseThrow();
        assertThat(h.apply(updates, List.of())).as("config accepted").isEmpty();
    }
}
