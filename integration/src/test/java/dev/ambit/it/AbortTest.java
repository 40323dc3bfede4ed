package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Fail closed on a transfer: a stream without length framing (a raw socat client reading a
 * download until the end) that a dying node agent cuts must end with a reset, never with a
 * clean end of stream the client would take for the whole download. A graceful end stays a
 * clean end with every byte.
 *
 * <p>{@code bulk} (meshed, node2) streams {@value #SIZE} bytes of zeros on 8000, paced at about
 * 20 MB/s so a kill lands mid-transfer, and {@value #SMALL} bytes at full speed on 8001.
 * {@code reader} (meshed, node1) and {@code outsider} (not meshed, node1: plaintext to bulk's
 * 15006) read with {@code socat -d -u}, count with {@code wc -c}, and report whether socat saw a
 * reset (it logs one as a warning and still exits 0, so the exit code cannot tell).
 */
@Order(3)
class AbortTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Duration PROPAGATION = Duration.ofSeconds(30);
    static final long SIZE = 200_000_000L;
    static final long SMALL = 20_000_000L;
    private static final Pattern BYTES = Pattern.compile("first-byte\\s+(\\d+)");
    private static final Pattern EXIT = Pattern.compile("socat-exit=(\\d+)");

    /** Whatever a test killed comes back, so the next test (and class) starts from a whole cluster. */
    @AfterEach
    void restartAnythingDown() {
        mesh.startAnythingDown();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void clientSideAgentKilledMidTransferTheClientSeesAResetNotACleanEnd() {
        String ns = "it-abort-client";
        try {
            deploy(ns, null);
            // A graceful end is still a clean end, with every byte: the FIN rule is unchanged.
            Transfer whole = Transfer.parse(mesh.sh(ns, "reader", Duration.ofSeconds(60), read("bulk", 8001)));
            assertThat(whole.bytes).as("graceful transfer through both agents: %s", whole).isEqualTo(SMALL);
            assertThat(whole.reset).as("graceful transfer: %s", whole).isFalse();
            assertThat(whole.socatExit).as("graceful transfer: %s", whole).isZero();

            Ambitctl.Background reader = Ambitctl.start("local", "exec", "-n", ns, "reader", "--timeout", "90s", "--",
                    "sh", "-c", read("bulk", 8000));
            try {
                awaitFirstByte(reader);
                LocalMesh.sleep(1_500); // some 30 MB into the download
                Ambitctl.localOk("kill", "node1"); // SIGKILL of the reader's own agent
                Transfer t = Transfer.parse(reader.await(Duration.ofSeconds(60)));
                System.out.println("client-side kill: " + t);
                assertThat(t.bytes).as("cut mid-transfer: %s", t).isPositive().isLessThan(SIZE);
                assertThat(t.reset).as("the reader must see a reset, not a clean end of stream: %s", t).isTrue();
            } finally {
                reader.kill();
            }
        } finally {
            // Restarted before its pods go: pods deleted while their agent is down stay enrolled.
            Ambitctl.run(Duration.ofMinutes(2), "local", "start");
            mesh.deleteNamespace(ns);
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void serverSideAgentKilledMidTransferMeshedAndPlaintextClientsSeeAReset() {
        String ns = "it-abort-server";
        String out = "it-abort-out";
        try {
            deploy(ns, out);
            Ambitctl.Background reader = Ambitctl.start("local", "exec", "-n", ns, "reader", "--timeout", "90s", "--",
                    "sh", "-c", read("bulk", 8000));
            Ambitctl.Background outsider = Ambitctl.start("local", "exec", "-n", out, "outsider", "--timeout", "90s",
                    "--", "sh", "-c", read("bulk." + ns, 8000));
            try {
                awaitFirstByte(reader);
                awaitFirstByte(outsider);
                LocalMesh.sleep(1_500);
                Ambitctl.localOk("kill", "node2"); // the server's agent: HBONE for reader, 15006 for outsider
                Transfer meshed = Transfer.parse(reader.await(Duration.ofSeconds(60)));
                Transfer plain = Transfer.parse(outsider.await(Duration.ofSeconds(60)));
                System.out.println("server-side kill: meshed " + meshed + ", plaintext " + plain);
                for (Transfer t : new Transfer[] {meshed, plain}) {
                    assertThat(t.bytes).as("cut mid-transfer: %s", t).isPositive().isLessThan(SIZE);
                    assertThat(t.reset).as("a reset, not a clean end of stream: %s", t).isTrue();
                }
            } finally {
                reader.kill();
                outsider.kill();
            }
        } finally {
            Ambitctl.run(Duration.ofMinutes(2), "local", "start");
            mesh.deleteNamespace(ns);
            mesh.deleteNamespace(out);
        }
    }

    /** bulk (node2) and reader (node1) in meshed {@code ns}; outsider (node1) in unmeshed {@code out} if not null. */
    private static void deploy(String ns, String out) {
        String yaml = Yaml.namespace(ns, true) + Yaml.serviceAccount(ns, "bulk") + Yaml.serviceAccount(ns, "reader")
                + bulkPod(ns) + """
                apiVersion: v1
                kind: Service
                metadata: {name: bulk, namespace: %s}
                spec:
                  selector: {app: bulk}
                  ports:
                  - {name: paced, port: 8000, targetPort: 8000}
                  - {name: fast, port: 8001, targetPort: 8001}
                ---
                """.formatted(ns) + Yaml.clientPod(ns, "reader", "reader", "node1", Map.of());
        if (out != null) {
            yaml += Yaml.namespace(out, false) + Yaml.clientPod(out, "outsider", "default", "node1", Map.of());
        }
        mesh.apply(yaml);
        mesh.awaitRunning(ns, 2, Duration.ofSeconds(60));
        if (out != null) {
            mesh.awaitRunning(out, 1, Duration.ofSeconds(30));
        }
        mesh.awaitEnrolled(ns, "bulk");
        mesh.awaitEnrolled(ns, "reader");
        // The data path is up once a short transfer goes through (xDS reached both agents).
        mesh.eventually("reader → bulk", PROPAGATION, () -> Transfer.parse(mesh.sh(ns, "reader",
                Duration.ofSeconds(30), read("bulk", 8001))).bytes == SMALL);
    }

    /** 8000: {@value #SIZE} bytes, 1 MB every 50 ms; 8001: {@value #SMALL} bytes at once. Then the server closes. */
    private static String bulkPod(String ns) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: bulk
                  namespace: %s
                  labels: {app: bulk}
                spec:
                  serviceAccountName: bulk
                  nodeName: node2
                  containers:
                  - name: paced
                    image: ignored
                    command: [socat, "TCP-LISTEN:8000,fork,reuseaddr", 'SYSTEM:i=0; while [ $i -lt %d ]; do head -c 1000000 /dev/zero || exit 1; sleep 0.05; i=$((i+1)); done']
                  - name: fast
                    image: ignored
                    command: [socat, "TCP-LISTEN:8001,fork,reuseaddr", "SYSTEM:head -c %d /dev/zero"]
                ---
                """.formatted(ns, SIZE / 1_000_000, SMALL);
    }

    /**
     * Reads {@code host:port} to its end with socat: prints {@code first-byte} when the first
     * byte arrived, then the count of the rest; socat's messages and exit code go to stderr.
     * socat takes a reset on read for a warning (exit code 0), so {@code -d} shows it: a reset
     * is its "Connection reset by peer", a clean end is its absence.
     */
    private static String read(String host, int port) {
        return "{ socat -d -u TCP:" + host + ":" + port + " STDOUT; echo socat-exit=$? >&2; }"
                + " | { dd bs=1 count=1 status=none >/dev/null && echo first-byte; wc -c; }";
    }

    private static void awaitFirstByte(Ambitctl.Background reader) {
        mesh.eventually("the download started", Duration.ofSeconds(30), () -> reader.outSoFar().contains("first-byte"));
    }

    /** What a reader saw: bytes, whether socat saw a reset, socat's exit code, its error output. */
    record Transfer(long bytes, boolean reset, int socatExit, String err) {
        static Transfer parse(Ambitctl.Result r) {
            Matcher bytes = BYTES.matcher(r.out());
            Matcher exit = EXIT.matcher(r.err());
            if (!bytes.find() || !exit.find()) {
                return new Transfer(-1, false, -1, r.toString());
            }
            return new Transfer(Long.parseLong(bytes.group(1)) + 1, r.err().contains("Connection reset by peer"),
                    Integer.parseInt(exit.group(1)), r.err().strip());
        }
    }
}
