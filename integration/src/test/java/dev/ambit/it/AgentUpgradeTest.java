package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 17, proof 3: a node agent replaced while traffic flows drops nothing. One node, a
 * client and a server pod on it (so the hand-over covers the client's outbound 15001 and the
 * server's HBONE 15008 at once). While the client opens a new connection per request in a loop
 * and keeps one connection open with a request every 100 ms, {@code ambitctl local handover
 * node1} starts a second agent that takes both pods over; the old agent drains and exits. No
 * new connection fails, the open one gets every reply, new connections made after the hand-over
 * went through the new agent (its own counters). Then the same again from the agent that took
 * over (the downgrade's path: an older build speaks the same protocol, {@code --agent-jar}
 * names it; here both are this build).
 */
@Order(30) // a 1-node cluster of its own, after the others (LocalMesh)
class AgentUpgradeTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(1).noIngress();

    private static final String NS = "it-upgrade";
    private static final Pattern TAKEN = Pattern.compile("pod (\\S+): taken over from agent pid \\d+ in ([0-9.]+) ms");
    private static final Pattern NEW = Pattern.compile("new-connections=(\\d+) failed=(\\d+)");
    private static final Pattern SENT = Pattern.compile("keepalive-sent=(\\d+)");
    private static final Pattern REPLIES = Pattern.compile("keepalive-exit=(\\d+) keepalive-replies=(\\d+)");

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void upgradeAndDowngradeOfTheNodeAgentDropNothing() {
        try {
            mesh.apply(Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "server")
                    + Yaml.serverPod(NS, "server", "server", "node1", Map.of()) + Yaml.service(NS, "server", "server")
                    + Yaml.clientPod(NS, "client", "default", "node1", Map.of()));
            mesh.awaitRunning(NS, 2, Duration.ofSeconds(30));
            mesh.awaitEnrolled(NS, "server");
            mesh.awaitEnrolled(NS, "client");
            mesh.eventually("client → server", Duration.ofSeconds(20), () -> mesh.curl(NS, "client", "server"));
            for (String phase : List.of("upgrade", "downgrade")) {
                handOverUnderTraffic(phase);
            }
            assertThat(mesh.curl(NS, "client", "server")).as("after both hand-overs").isTrue();
        } finally {
            mesh.deleteNamespace(NS);
        }
    }

    private static void handOverUnderTraffic(String phase) {
        Path stop = Path.of("/tmp/ambit-it-upgrade-stop-" + ProcessHandle.current().pid() + "-" + phase);
        Path replies = Path.of("/tmp/ambit-it-upgrade-replies-" + ProcessHandle.current().pid() + "-" + phase);
        Path progress = Path.of("/tmp/ambit-it-upgrade-progress-" + ProcessHandle.current().pid() + "-" + phase);
        Ambitctl.Background traffic = Ambitctl.start("local", "exec", "-n", NS, "client", "--timeout", "90s", "--",
                "sh", "-c", traffic(stop, replies, progress));
        Ambitctl.Background handover = null;
        try {
            mesh.eventually(phase + ": the open connection gets replies", Duration.ofSeconds(20),
                    () -> read(replies).contains("req-1"));
            handover = Ambitctl.start("local", "handover", "node1", "--timeout", "45s");
            Ambitctl.Background h = handover;
            mesh.eventually(phase + ": hand-over complete", Duration.ofSeconds(40),
                    () -> h.outSoFar().contains("complete: ") || !h.process().isAlive());
            // A few new connections after it: the old agent's listeners are closed, so they are the new one's.
            int madeBy = connections(progress) + 3;
            mesh.eventually(phase + ": new connections after the hand-over", Duration.ofSeconds(20),
                    () -> connections(progress) >= madeBy);
            Files.createFile(stop); // the loops end; the open connection sends its last ten requests
            Ambitctl.Result t = traffic.await(Duration.ofSeconds(30));
            Ambitctl.Result r = handover.await(Duration.ofSeconds(30));
            System.out.println(phase + ": " + r.out().strip() + "\n" + phase + " traffic: " + t.out().strip()
                    + " " + t.err().strip());
            assertThat(r.ok()).as("%s: ambitctl local handover: %s", phase, r).isTrue();
            assertThat(r.out()).as(phase).contains("drained and exited");

            List<String> taken = new ArrayList<>();
            Matcher m = TAKEN.matcher(r.out());
            while (m.find()) {
                taken.add(m.group(1));
                assertThat(Double.parseDouble(m.group(2))).as("%s: takeover time of %s, ms", phase, m.group(1))
                        .isLessThan(5_000);
            }
            assertThat(taken).as("%s: pods taken over", phase).containsExactlyInAnyOrder(NS + "/client", NS + "/server");

            Matcher n = NEW.matcher(t.out());
            assertThat(n.find()).as("%s: new-connection loop report: %s", phase, t).isTrue();
            assertThat(Integer.parseInt(n.group(1))).as("%s: new connections made", phase).isPositive();
            assertThat(Integer.parseInt(n.group(2))).as("%s: failed new connections: %s", phase, t).isZero();
            Matcher sent = SENT.matcher(t.err());
            Matcher got = REPLIES.matcher(t.out());
            assertThat(sent.find() && got.find()).as("%s: keep-alive report: %s", phase, t).isTrue();
            assertThat(Integer.parseInt(got.group(2))).as("%s: replies on the open connection: %s", phase, t)
                    .isEqualTo(Integer.parseInt(sent.group(1)));
            assertThat(Integer.parseInt(got.group(1))).as("%s: socat's exit: %s", phase, t).isZero();

            // The node's stats port is the new agent's now (the old one gave it up and exited): it
            // took both pods, and the new connections went through its listeners.
            Metrics stats = mesh.metrics("node1");
            assertThat(stats.sum("ambit_agent_handover_pods_total", s -> s.label("result").equals("taken")))
                    .as("%s: pods the agent answering on 15020 took over", phase).isEqualTo(2);
            assertThat(stats.sum("ambit_outbound_connections_total", s -> true))
                    .as("%s: connections through the new agent's outbound listener", phase).isPositive();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            traffic.kill();
            if (handover != null) {
                handover.kill();
            }
            delete(stop);
            delete(replies);
            delete(progress);
        }
    }

    /**
     * Two loops until {@code stop} exists: a new connection per HTTP request (curl), and one
     * connection to the echo port carrying a line every 100 ms (ten more after {@code stop}),
     * whose replies go to {@code replies}; the first loop writes its count to {@code progress}.
     */
    private static String traffic(Path stop, Path replies, Path progress) {
        return """
                ( n=0; f=0; while [ ! -e %1$s ]; do
                    c=$(curl -s -m 5 -o /dev/null -w '%%{http_code}' http://server:8080/); n=$((n+1))
                    if [ "$c" != 200 ]; then f=$((f+1)); echo "new connection failed: $c" >&2; fi
                    echo $n > %3$s
                  done; echo "new-connections=$n failed=$f" ) &
                ( i=0; while [ ! -e %1$s ]; do echo req-$i; i=$((i+1)); sleep 0.1; done
                  j=0; while [ $j -lt 10 ]; do echo req-$i; i=$((i+1)); j=$((j+1)); sleep 0.1; done
                  echo "keepalive-sent=$i" >&2; sleep 1 ) | socat -t 3 - TCP:server:9000 > %2$s
                echo "keepalive-exit=$? keepalive-replies=$(grep -c '^req-' %2$s)"
                wait
                """.formatted(stop, replies, progress);
    }

    private static int connections(Path progress) {
        String n = read(progress).strip();
        return n.matches("\\d+") ? Integer.parseInt(n) : 0;
    }

    private static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // /tmp
        }
    }
}
