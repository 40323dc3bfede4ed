package dev.ambit.agent.proxy;

import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Empty;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.MetricSamples;
import dev.ambit.proxy.identity.TestCa;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two node agents on loopback, as in a two-node cluster ({@link TwoAgents}): agent A serves
 * the {@code frontend} pod (127.0.0.2) with its outbound listener, agent B serves the
 * {@code backend-1} pod (127.0.0.3) with its HBONE and plaintext inbound listeners in front of
 * an echo app bound at 127.0.0.3. Each agent has its own {@link ProxyState} (filled with what
 * istiod-lite would push to both), its own {@link CertificateManager} and {@link TlsContexts}
 * from the shared in-process CA, its own event loops and metrics. The app client connects to A's
 * outbound listener as the captured app would, naming the backend Service VIP as its
 * original destination; nothing but A and B sits between it and the app. Epoll sockets;
 * {@link TwoAgentsIoUringTest} runs the same cases on io_uring.
 */
class TwoAgentsTest {

    static final InetAddress FRONTEND_IP = TwoAgents.ip("127.0.0.2");
    static final InetSocketAddress BACKEND_VIP = TwoAgents.BACKEND_VIP;
    static final SpiffeId FRONTEND = TestCa.FRONTEND;
    static final SpiffeId BACKEND = TestCa.BACKEND;
    static final SpiffeId IMPOSTOR = SpiffeId.of(TestCa.TRUST_DOMAIN, "shop", "impostor");
    static final String DENY_FRONTEND = "shop/deny-frontend";
    static final String STRICT = "istio-system/istio_converted_static_strict";
    /** The app's answer after the client's FIN: makes the two directions' byte counts differ. */
    static final String BYE = TwoAgents.BYE;
    static final int A_LOOPS = 2;

    @RegisterExtension
    final TwoAgents agents = TwoAgents.builder()
            .transport(transport()) // a subclass's override: it reads no field of the subclass
            .loops(A_LOOPS, 2)
            .backendIdentities(BACKEND, IMPOSTOR)
            .build();

    /** The transport of both agents' sockets and of the app. */
    Transport transport() {
        return Transport.EPOLL;
    }

    // ---------------------------------------------------------------- cases

    @Test
    void streamThroughHboneEndToEndWithIdentitiesVerifiedBothWays() throws Exception {
        String payload = "hello backend, this is frontend";

        assertThat(exchange(payload)).isEqualTo(payload + BYE);

        assertThat(agents.appConnections()).hasValue(1);
        int received = payload.length();
        int sent = payload.length() + BYE.length();
        // B (reporter destination): the client proved frontend, the source workload is named.
        String[] atB = {"reporter", "destination",
            "source_principal", FRONTEND.uri(), "source_workload", "frontend",
            "destination_principal", BACKEND.uri(), "destination_workload", "backend-1",
            "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total", atB)).isEqualTo(1));
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_opened_total", atB)).isEqualTo(1);
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_received_bytes_total", atB)).isEqualTo(received);
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_sent_bytes_total", atB)).isEqualTo(sent);
        // A (reporter source): the server proved backend; same principal format as B's.
        String[] atA = {"reporter", "source",
            "source_principal", FRONTEND.uri(), "source_workload", "frontend",
            "destination_principal", BACKEND.uri(), "destination_workload", "backend-1",
            "destination_service", "backend.shop.svc.cluster.local",
            "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_connections_closed_total", atA)).isEqualTo(1));
        assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_connections_opened_total", atA)).isEqualTo(1);
        assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_received_bytes_total", atA)).isEqualTo(received);
        assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_sent_bytes_total", atA)).isEqualTo(sent);
        assertThat(agents.metricsA().scrape()).doesNotContain("response_flags=\"UF\"");
        assertThat(agents.metricsB().scrape()).doesNotContain(InboundRefusals.METRIC + "{");
        assertThat(agents.hboneAccepts()).hasValue(1);
    }

    @Test
    void denyPolicyForFrontendResetsTheClientAndRemovingItRestoresTraffic() throws Exception {
        push(true, false);

        assertThat(exchange("let me in")).as("what the client got").isEmpty();

        assertThat(agents.appConnections()).hasValue(0);
        eventually(() -> assertThat(agents.metricsB().value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0));
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED, "flag", "UF")).isEqualTo(1.0));
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_connections_closed_total",
                "reporter", "source", "response_flags", "UF", "destination_principal", BACKEND.uri())).isEqualTo(1));
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total", "reporter", "destination",
                "source_principal", FRONTEND.uri(), "connection_security_policy", "mutual_tls")).isEqualTo(1);

        // The same pushes remove the policy: no restart, the next connection goes through.
        push(false, false);
        assertThat(exchange("now?")).isEqualTo("now?" + BYE);
        assertThat(agents.appConnections()).hasValue(1);
        assertThat(agents.metricsB().value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0);
        assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED, "flag", "UF")).isEqualTo(1.0);
    }

    @Test
    void strictRefusesPlaintextToTheBackendWhileHboneFromFrontendWorks() throws Exception {
        push(false, true);

        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(FRONTEND_IP, 0));
            // A reset: the connect, the write or the read fails (whichever sees it first), without a byte.
            int first;
            try {
                s.connect(agents.plaintextB().localAddress(), 10_000);
                s.getOutputStream().write("plaintext".getBytes(US_ASCII));
                first = s.getInputStream().read();
            } catch (SocketException e) {
                first = -2;
            }
            assertThat(first).as("refused plaintext got bytes").isEqualTo(-2);
        }
        assertThat(agents.appConnections()).hasValue(0);
        eventually(() -> assertThat(agents.metricsB().value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0));
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total",
                "connection_security_policy", "none")).isEqualTo(1);

        assertThat(exchange("mtls still works")).isEqualTo("mtls still works" + BYE);
        assertThat(agents.appConnections()).hasValue(1);
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total",
                "source_principal", FRONTEND.uri(), "connection_security_policy", "mutual_tls")).isEqualTo(1));
        assertThat(agents.metricsB().value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0);
    }

    @Test
    void aBackendPresentingAnotherIdentityIsRefusedByTheFrontendsAgent() throws Exception {
        agents.presentAs(IMPOSTOR);

        assertThat(exchange("secret")).as("what the client got").isEmpty();

        assertThat(agents.hboneAccepts()).hasValue(1); // A reached B's 15008 and gave up in the handshake
        eventually(() -> assertThat(agents.metricsA().value(HbonePool.FAILURES, "handshake")).isEqualTo(1.0));
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED, "flag", "UF")).isEqualTo(1.0));
        assertThat(agents.appConnections()).hasValue(0);
        assertThat(agents.poolA().connectionCount()).isZero();
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_opened_total")).isZero();
    }

    @Test
    void twentyConcurrentConnectionsSharePooledHboneConnections() throws Exception {
        int n = 20;
        ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();
        try {
            List<Future<byte[]>> results = new ArrayList<>();
            List<byte[]> payloads = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] payload = new byte[256 * 1024];
                new Random(i).nextBytes(payload);
                payloads.add(payload);
                results.add(clients.submit(() -> exchange(payload)));
            }
            for (int i = 0; i < n; i++) {
                byte[] expected = concat(payloads.get(i), BYE.getBytes(US_ASCII));
                assertThat(results.get(i).get(30, TimeUnit.SECONDS)).as("echo of connection " + i)
                        .isEqualTo(expected);
            }
        } finally {
            clients.shutdownNow();
            assertThat(clients.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(agents.appConnections()).hasValue(n);
        // One pool per event loop of A: at most one connection per loop to B.
        assertThat(agents.hboneAccepts().get()).isBetween(1, A_LOOPS).isLessThan(n);
        assertThat(agents.poolA().connectionCount()).isEqualTo(agents.hboneAccepts().get());
        long bytesIn = 256L * 1024 * n;
        long bytesOut = bytesIn + (long) BYE.length() * n;
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total",
                "source_principal", FRONTEND.uri())).isEqualTo(n));
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_received_bytes_total")).isEqualTo(bytesIn);
        assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_sent_bytes_total")).isEqualTo(bytesOut);
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_connections_closed_total",
                "destination_principal", BACKEND.uri())).isEqualTo(n));
        assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_received_bytes_total")).isEqualTo(bytesIn);
        assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_sent_bytes_total")).isEqualTo(bytesOut);
    }

    /**
     * SIGTERM on the backend's node while a tunnel from the frontend is open: B's HBONE
     * listener drains. The open tunnel keeps carrying bytes both ways and ends as usual, new
     * connections through A fail (B's listener is gone, and the connection A pooled got
     * B's GOAWAY), and the drain ends with the tunnel, nothing forced; A's pool is left
     * without a connection.
     */
    @Test
    void drainingTheBackendsHboneListenerLetsTheOpenTunnelFinish() throws Exception {
        try (Socket held = new Socket()) {
            held.setSoTimeout(10_000);
            held.bind(new InetSocketAddress(FRONTEND_IP, 0));
            agents.originalDestination(held.getLocalPort(), BACKEND_VIP);
            held.connect(agents.outboundA().localAddress(), 10_000);
            roundTrip(held, "before");
            assertThat(agents.hboneB().activeConnections()).isEqualTo(1);

            CompletableFuture<Integer> drained = agents.hboneB().drain(Duration.ofSeconds(30));

            roundTrip(held, "during the drain");
            assertThat(exchange("a new connection")).as("what a new connection got").isEmpty();
            assertThat(drained).isNotDone();
            held.shutdownOutput();
            assertThat(new String(readAll(held.getInputStream()), US_ASCII)).isEqualTo(BYE);
            assertThat(drained.get(10, TimeUnit.SECONDS)).as("force-closed").isZero();
        }
        assertThat(agents.hboneB().activeConnections()).isZero();
        eventually(() -> assertThat(agents.poolA().connectionCount()).isZero());
        assertThat(agents.hboneAccepts()).hasValue(1);
    }

    // ---------------------------------------------------------------- mesh state

    /**
     * What istiod-lite pushes to both agents: the two workloads (HBONE), the backend Service
     * (VIP 10.96.0.20:8080 → the app's port) and the policies the backend references.
     */
    private void push(boolean denyFrontend, boolean strict) {
        Map<String, Authorization> policies = new TreeMap<>();
        List<String> removed = new ArrayList<>();
        if (denyFrontend) {
            policies.put(DENY_FRONTEND, denyFrontend());
        } else {
            removed.add(DENY_FRONTEND);
        }
        if (strict) {
            policies.put(STRICT, strict());
        } else {
            removed.add(STRICT);
        }
        agents.push(policies, removed);
    }

    private static Authorization denyFrontend() {
        return Authorization.newBuilder().setNamespace("shop").setName("deny-frontend")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addPrincipals(StringMatch.newBuilder().setExact(FRONTEND.principal())))))
                .build();
    }

    /** PeerAuthentication STRICT as istiod-lite sends it: DENY anything without an identity. */
    private static Authorization strict() {
        return Authorization.newBuilder().setNamespace("istio-system").setName("istio_converted_static_strict")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance())))))
                .build();
    }

    // ---------------------------------------------------------------- helpers

    /**
     * The frontend app's connection to the backend VIP, captured to A's outbound listener:
     * sends {@code payload} (from another thread, as a real peer would while reading),
     * half-closes and returns all that came back; empty if the connection was reset or closed
     * without data.
     */
    private byte[] exchange(byte[] payload) throws Exception {
        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(FRONTEND_IP, 0));
            agents.originalDestination(s.getLocalPort(), BACKEND_VIP);
            try {
                s.connect(agents.outboundA().localAddress(), 10_000);
            } catch (SocketException e) {
                return new byte[0]; // accepted and reset before connect() returned: a fast refusal
            }
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    s.getOutputStream().write(payload);
                    s.shutdownOutput();
                } catch (IOException e) {
                    // reset by the proxy: the reader sees it too
                }
            });
            byte[] back;
            try {
                back = readAll(s.getInputStream());
            } catch (SocketException e) {
                back = new byte[0]; // reset
            }
            assertThat(writer.join(Duration.ofSeconds(10))).as("writer finished").isTrue();
            return back;
        }
    }

    private static void roundTrip(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(US_ASCII));
        assertThat(new String(s.getInputStream().readNBytes(text.length()), US_ASCII)).isEqualTo(text);
    }

    private String exchange(String payload) throws Exception {
        return new String(exchange(payload.getBytes(US_ASCII)), US_ASCII);
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[16 * 1024];
        for (int n; (n = in.read(buf)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
