package dev.ambit.agent.proxy;

import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.testing.MetricSamples;
import dev.ambit.proxy.identity.TestCa;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
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

    static final InetAddress FRONTEND_IP = TwoAgents.ip("127.0.0.2");
    static final InetAddress BACKEND_IP = TwoAgents.ip("127.0.0.3");
    static final InetSocketAddress BACKEND_VIP = TwoAgents.BACKEND_VIP;
    static final SpiffeId FRONTEND = TestCa.FRONTEND;
    static final SpiffeId BACKEND = TestCa.BACKEND;
    static final String BYE = TwoAgents.BYE;
    static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(20);

    /** Each case starts the one agent it talks to; no leak check, as before the extension. */
    @RegisterExtension
    final TwoAgents agents = TwoAgents.builder().startAgents(false).leakCheck(false).build();

    @TempDir
    Path dir;
    Process nodeServer;
    Path nodeServerStderr;

    @BeforeEach
    void nodeInstalled() {
        node(); // fail early, with the hint, when node is missing
    }

    @AfterEach
    void stopNodeServer() throws Exception {
        if (nodeServer != null) {
            nodeServer.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    // ---------------------------------------------------------------- Node as the client

    @Test
    void nodeClientTunnelsThroughTheHboneListenerWithItsMeshIdentity() throws Exception {
        agents.startAgentB();
        Pem frontend = pem("frontend", agents.ca().issue(FRONTEND));
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
        agents.startAgentB();

        JsonObject out = runClient(clientConfig("anonymous").put("expectRefused", true));

        assertThat(out.get("refused").getAsBoolean()).isTrue();
        // TLS 1.3: the client's handshake completes first, then the server's alert arrives.
        assertThat(out.get("error").getAsString()).isEqualTo("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
        assertThat(out.has("status")).as("got a CONNECT response").isFalse();
        eventually(() -> assertThat(agents.metricsB().value(InboundRefusals.METRIC, InboundRefusals.NO_CLIENT_CERTIFICATE))
                .isEqualTo(1.0));
        assertThat(metric("istio_tcp_connections_opened_total")).isZero();
    }

    // ---------------------------------------------------------------- Node as the server

    @Test
    void outboundTunnelsToANodeHboneServerWithTheFrontendIdentity() throws Exception {
        Pem backend = pem("backend", agents.ca().issue(BACKEND));
        BlockingQueue<JsonObject> events = startNodeServer(new Config()
                .put("host", BACKEND_IP.getHostAddress()).put("ca", backend.root)
                .put("cert", backend.chain).put("key", backend.key));
        JsonObject listening = next(events);
        int port = listening.get("listening").getAsInt();
        agents.startAgentA(port);
        String payload = "hello node, this is frontend";

        assertThat(exchange(payload)).isEqualTo(payload + BYE);

        JsonObject seen = next(events).getAsJsonObject("connect");
        assertThat(seen.get("method").getAsString()).isEqualTo("CONNECT");
        assertThat(seen.get("peer").getAsString()).isEqualTo("URI:" + FRONTEND.uri());
        assertThat(seen.get("authority").getAsString())
                .isEqualTo(BACKEND_IP.getHostAddress() + ":" + agents.appAddress().getPort());
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

    /** The frontend app's connection to the backend VIP via A's outbound: payload, FIN, all that comes back. */
    private String exchange(String payload) throws Exception {
        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(FRONTEND_IP, 0));
            agents.originalDestination(s.getLocalPort(), BACKEND_VIP);
            s.connect(agents.outboundA().localAddress(), 10_000);
            s.getOutputStream().write(payload.getBytes(US_ASCII));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), US_ASCII);
        }
    }

    // ---------------------------------------------------------------- node

    private Config clientConfig(String payload) throws Exception {
        return new Config().put("host", BACKEND_IP.getHostAddress()).put("port", agents.hboneB().localAddress().getPort())
                .put("localAddress", FRONTEND_IP.getHostAddress())
                .put("authority", BACKEND_IP.getHostAddress() + ":" + agents.appAddress().getPort())
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
        for (X509Certificate x : agents.ca().bundle().roots()) {
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

    /** One agent runs per case: the metric summed over both agents' registries is that agent's. */
    private double metric(String name, String... pairs) {
        return MetricSamples.sum(agents.metricsA(), name, pairs) + MetricSamples.sum(agents.metricsB(), name, pairs);
    }
}
