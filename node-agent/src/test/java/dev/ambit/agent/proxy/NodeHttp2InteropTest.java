package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.service;
import static dev.ambit.testing.MeshFixture.uid;
import static dev.ambit.testing.MeshFixture.workload;
import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.MetricSamples;
import dev.ambit.proxy.identity.TestCa;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HBONE between the agent and an HTTP/2 stack that is not Netty: Node.js's built-in
 * {@code http2} module (scripts under {@code src/test/resources/interop/}). Certificates come
 * from the real istiod-lite CA ({@link TestCa}) and are handed to Node as PEM files.
 *
 * <ul>
 *   <li>Node as the CONNECT client of agent B's {@link Hbone15008Listener}, presenting the
 *       frontend's mesh certificate; and without a client certificate, refused.
 *   <li>Node as the CONNECT server that agent A's {@link Outbound} tunnels to, requiring
 *       and recording the client certificate and the CONNECT headers.
 * </ul>
 *
 * <p>Requires {@code node} (v18+) on the PATH; fails, never skips, without it.
 */
class NodeHttp2InteropTest {

    static final String FRONTEND_UID = uid("frontend");
    static final String BACKEND_UID = uid("backend-1");
    static final InetAddress FRONTEND_IP = ip("127.0.0.2");
    static final InetAddress BACKEND_IP = ip("127.0.0.3");
    static final String BACKEND_SERVICE = "shop/backend.shop.svc.cluster.local";
    static final InetSocketAddress BACKEND_VIP = new InetSocketAddress(ip("10.96.0.20"), 8080);
    static final SpiffeId FRONTEND = TestCa.FRONTEND;
    static final SpiffeId BACKEND = TestCa.BACKEND;
    static final String BYE = TwoAgentsTest.BYE;
    static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    TestCa ca;
    EventLoopGroup appLoops;
    Channel app;
    EventLoopGroup loops;
    final ProxyState state = ProxyState.create();
    final MetricsRegistry metrics = MetricsRegistry.create();
    CertificateManager certificates;
    Hbone15008Listener hboneB;
    HbonePool poolA;
    Outbound outboundA;
    final Map<Integer, InetSocketAddress> originalDestinations = new ConcurrentHashMap<>();
    Process nodeServer;
    Path nodeServerStderr;

    @BeforeEach
    void setUp() throws Exception {
        node(); // fail early, with the hint, when node is missing
        ca = new TestCa(dir, Duration.ofHours(1));
        appLoops = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        app = new ServerBootstrap().group(appLoops).channel(EpollServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new TwoAgents.EchoThenBye());
                    }
                })
                .bind(new InetSocketAddress(BACKEND_IP, 0)).sync().channel();
        loops = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        certificates = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        push();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (nodeServer != null) {
            nodeServer.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        if (outboundA != null) {
            outboundA.close();
        }
        if (poolA != null) {
            poolA.close();
        }
        if (hboneB != null) {
            hboneB.close();
        }
        if (app != null) {
            app.close().sync();
        }
        for (EventLoopGroup g : new EventLoopGroup[] {loops, appLoops}) {
            if (g != null) {
                assertThat(g.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS)).isTrue();
            }
        }
        if (certificates != null) {
            certificates.close();
        }
        if (ca != null) {
            ca.close();
        }
    }

    // ---------------------------------------------------------------- Node as the client

    @Test
    void nodeClientTunnelsThroughTheHboneListenerWithItsMeshIdentity() throws Exception {
        startHboneListener();
        Pem frontend = pem("frontend", ca.issue(FRONTEND));
        String payload = "hello backend, this is node";

        JsonObject out = runClient(clientConfig(payload).put("cert", frontend.chain).put("key", frontend.key));

        assertThat(out.get("status").getAsInt()).isEqualTo(200);
        assertThat(out.get("received").getAsString()).isEqualTo(payload + BYE);
        assertThat(out.get("peer").getAsString()).isEqualTo("URI:" + BACKEND.uri());
        assertThat(out.get("alpn").getAsString()).isEqualTo("h2");
        assertThat(out.get("protocol").getAsString()).isEqualTo("TLSv1.3");
        String[] atB = {"reporter", "destination",
            "source_principal", FRONTEND.uri(), "source_workload", "frontend",
            "destination_principal", BACKEND.uri(), "destination_workload", "backend-1",
            "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(metric("istio_tcp_connections_closed_total", atB)).isEqualTo(1));
        assertThat(metric("istio_tcp_received_bytes_total", atB)).isEqualTo(payload.length());
        assertThat(metric("istio_tcp_sent_bytes_total", atB)).isEqualTo(payload.length() + BYE.length());
    }

    @Test
    void nodeClientWithoutACertificateIsRefused() throws Exception {
        startHboneListener();

        JsonObject out = runClient(clientConfig("anonymous").put("expectRefused", true));

        assertThat(out.get("refused").getAsBoolean()).isTrue();
        // TLS 1.3: the client's handshake completes first, then the server's alert arrives.
        assertThat(out.get("error").getAsString()).isEqualTo("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
        assertThat(out.has("status")).as("got a CONNECT response").isFalse();
        eventually(() -> assertThat(metrics.value(InboundRefusals.METRIC, InboundRefusals.NO_CLIENT_CERTIFICATE))
                .isEqualTo(1.0));
        assertThat(metric("istio_tcp_connections_opened_total")).isZero();
    }

    // ---------------------------------------------------------------- Node as the server

    @Test
    void outboundTunnelsToANodeHboneServerWithTheFrontendIdentity() throws Exception {
        Pem backend = pem("backend", ca.issue(BACKEND));
        BlockingQueue<JsonObject> events = startNodeServer(new Config()
                .put("host", BACKEND_IP.getHostAddress()).put("ca", backend.root)
                .put("cert", backend.chain).put("key", backend.key));
        JsonObject listening = next(events);
        int port = listening.get("listening").getAsInt();
        startOutbound(port);
        String payload = "hello node, this is frontend";

        assertThat(exchange(payload)).isEqualTo(payload + BYE);

        JsonObject seen = next(events).getAsJsonObject("connect");
        assertThat(seen.get("method").getAsString()).isEqualTo("CONNECT");
        assertThat(seen.get("peer").getAsString()).isEqualTo("URI:" + FRONTEND.uri());
        assertThat(seen.get("authority").getAsString())
                .isEqualTo(BACKEND_IP.getHostAddress() + ":" + appAddress().getPort());
        assertThat(seen.get("forwarded").getAsString()).isEqualTo("for=" + FRONTEND_IP.getHostAddress());
        assertThat(seen.get("traceparent").getAsString()).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]");
        assertThat(seen.get("baggage").getAsString()).contains("k8s.namespace.name=shop");
        assertThat(seen.get("alpn").getAsString()).isEqualTo("h2");
        assertThat(seen.get("protocol").getAsString()).isEqualTo("TLSv1.3");
        String[] atA = {"reporter", "source",
            "source_principal", FRONTEND.uri(), "destination_principal", BACKEND.uri(),
            "destination_service", "backend.shop.svc.cluster.local", "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(metric("istio_tcp_connections_closed_total", atA)).isEqualTo(1));
        assertThat(metric("istio_tcp_received_bytes_total", atA)).isEqualTo(payload.length());
        assertThat(metric("istio_tcp_sent_bytes_total", atA)).isEqualTo(payload.length() + BYE.length());
        assertThat(nodeServer.isAlive()).as("node server still running").isTrue();
    }

    // ---------------------------------------------------------------- agents

    private void startHboneListener() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, BACKEND_IP)) {
            port = probe.getLocalPort();
        }
        certificates.fetch(BACKEND).get(10, TimeUnit.SECONDS);
        InboundContext inbound = InboundContext.builder(PodNetwork.host(BACKEND_UID), state)
                .podAddresses(List.of(BACKEND_IP)).eventLoopGroup(loops).metrics(metrics).build();
        hboneB = Hbone15008Listener.builder(inbound, TlsContexts.builder(ca.bundle()).build(),
                        () -> certificates.current(BACKEND).orElse(null))
                .bindAddress(new InetSocketAddress(BACKEND_IP, port)).build().start();
    }

    private void startOutbound(int hbonePort) throws Exception {
        poolA = HbonePool.builder(TlsContexts.builder(ca.bundle()).build()).metrics(metrics).build();
        outboundA = Outbound.builder(PodNetwork.host(FRONTEND_UID), FRONTEND_UID)
                .state(state)
                .certificates(certificates)
                .pool(poolA)
                .originalDestinations(ch -> Optional.ofNullable(
                        originalDestinations.remove(((InetSocketAddress) ch.remoteAddress()).getPort())))
                .eventLoopGroup(loops)
                .metrics(metrics)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .hbonePort(hbonePort)
                .build();
        outboundA.start().sync();
    }

    /** The frontend, backend-1 (HBONE) and the backend Service VIP → the echo app's port. */
    private void push() {
        int appPort = appAddress().getPort();
        Map<String, Address> addresses = new TreeMap<>();
        put(addresses, workload("frontend", WorkloadStatus.HEALTHY, new String[] {"127.0.0.2"}, Map.of()));
        put(addresses, workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"127.0.0.3"},
                Map.of(BACKEND_SERVICE, ports(8080, appPort))));
        put(addresses, service("backend", "10.96.0.20", 8080, appPort));
        state.applyAddresses(addresses, List.of());
    }

    private InetSocketAddress appAddress() {
        return (InetSocketAddress) app.localAddress();
    }

    /** The frontend app's connection to the backend VIP via A's outbound: payload, FIN, all that comes back. */
    private String exchange(String payload) throws Exception {
        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(FRONTEND_IP, 0));
            originalDestinations.put(s.getLocalPort(), BACKEND_VIP);
            s.connect(outboundA.localAddress(), 10_000);
            s.getOutputStream().write(payload.getBytes(US_ASCII));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), US_ASCII);
        }
    }

    // ---------------------------------------------------------------- node

    private Config clientConfig(String payload) throws Exception {
        return new Config().put("host", BACKEND_IP.getHostAddress()).put("port", hboneB.localAddress().getPort())
                .put("localAddress", FRONTEND_IP.getHostAddress())
                .put("authority", BACKEND_IP.getHostAddress() + ":" + appAddress().getPort())
                .put("ca", root()).put("expectPeer", BACKEND.uri()).put("payload", payload);
    }

    /** Runs the client script to its end (bounded); its one JSON line, or a failure with its stderr. */
    private JsonObject runClient(Config config) throws Exception {
        Path stderr = dir.resolve("connect-client.stderr");
        Process p = new ProcessBuilder(node(), script("connect-client.js"), config.json())
                .redirectError(stderr.toFile()).start();
        byte[] stdout;
        try (InputStream in = p.getInputStream()) {
            var bytes = new ByteArrayOutputStream();
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    in.transferTo(bytes);
                } catch (IOException e) {
                    // the process was killed
                }
            });
            if (!p.waitFor(SCRIPT_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                fail("connect-client.js did not finish within " + SCRIPT_TIMEOUT + "; stderr:\n"
                        + Files.readString(stderr));
            }
            reader.join(Duration.ofSeconds(10));
            stdout = bytes.toByteArray();
        }
        String out = new String(stdout, UTF_8).strip();
        if (p.exitValue() != 0) {
            fail("connect-client.js exited " + p.exitValue() + "\nstdout: " + out + "\nstderr:\n"
                    + Files.readString(stderr));
        }
        return JsonParser.parseString(out).getAsJsonObject();
    }

    /** Starts the server script; its stdout, line by line as JSON, in the returned queue. */
    private BlockingQueue<JsonObject> startNodeServer(Config config) throws Exception {
        nodeServerStderr = dir.resolve("connect-server.stderr");
        nodeServer = new ProcessBuilder(node(), script("connect-server.js"), config.json())
                .redirectError(nodeServerStderr.toFile()).start();
        BlockingQueue<JsonObject> events = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (var lines = new BufferedReader(new InputStreamReader(nodeServer.getInputStream(), UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    events.add(JsonParser.parseString(line).getAsJsonObject());
                }
            } catch (IOException | RuntimeException e) {
                events.add(new JsonObject()); // an unparsable line or a dead process: next() reports it
            }
        });
        return events;
    }

    private JsonObject next(BlockingQueue<JsonObject> events) throws Exception {
        JsonObject e = events.poll(SCRIPT_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        if (e == null || e.size() == 0) {
            fail("connect-server.js: no (valid) output line" + (nodeServer.isAlive() ? "" : "; exited "
                    + nodeServer.exitValue()) + "; stderr:\n" + Files.readString(nodeServerStderr));
        }
        return e;
    }

    /** The node executable; fails (never skips) when it is missing. */
    private static String node() {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(d, "node");
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return fail("node (Node.js v18+) not found on the PATH: install nodejs (e.g. apt-get install nodejs)"
                + " to run the HTTP/2 interop tests");
    }

    private static String script(String name) throws URISyntaxException {
        var url = NodeHttp2InteropTest.class.getResource("/interop/" + name);
        assertThat(url).as("test resource interop/" + name).isNotNull();
        return Path.of(url.toURI()).toString();
    }

    // ---------------------------------------------------------------- PEM

    record Pem(String chain, String key, String root) {
    }

    /** Writes the presented chain, the PKCS#8 key and the CA root as PEM files for Node. */
    private Pem pem(String name, WorkloadCertificate c) throws Exception {
        StringBuilder chain = new StringBuilder();
        for (X509Certificate x : c.presentedChain()) {
            chain.append(pem("CERTIFICATE", x.getEncoded()));
        }
        Path chainFile = Files.writeString(dir.resolve(name + "-chain.pem"), chain);
        Path keyFile = Files.writeString(dir.resolve(name + "-key.pem"),
                pem("PRIVATE KEY", c.privateKey().getEncoded()));
        assertThat(c.privateKey().getFormat()).isEqualTo("PKCS#8");
        return new Pem(chainFile.toString(), keyFile.toString(), root());
    }

    private String root() throws IOException {
        StringBuilder roots = new StringBuilder();
        for (X509Certificate x : ca.bundle().roots()) {
            try {
                roots.append(pem("CERTIFICATE", x.getEncoded()));
            } catch (CertificateEncodingException e) {
                throw new IllegalStateException(e);
            }
        }
        return Files.writeString(dir.resolve("root.pem"), roots).toString();
    }

    private static String pem(String type, byte[] der) {
        return dev.ambit.common.pem.Pem.encode(type, der); // qualified: this test has its own Pem record
    }

    /** A script's JSON configuration. */
    static final class Config {
        final JsonObject json = new JsonObject();

        Config put(String key, String value) {
            json.addProperty(key, value);
            return this;
        }

        Config put(String key, Number value) {
            json.addProperty(key, value);
            return this;
        }

        Config put(String key, boolean value) {
            json.addProperty(key, value);
            return this;
        }

        String json() {
            return json.toString();
        }
    }

    // ---------------------------------------------------------------- helpers

    private double metric(String name, String... pairs) {
        return MetricSamples.sum(metrics, name, pairs);
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
