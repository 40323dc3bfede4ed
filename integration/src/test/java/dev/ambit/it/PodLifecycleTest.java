package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Pods behave like pods: each has its own hostname (UTS namespace, {@code hostname} = pod
 * name, {@code HOSTNAME} in its environment), in its containers and in {@code local exec}; a
 * replica whose readiness probe (exec) fails gets no requests through its Service until it
 * passes again (Ready condition → endpoints → the workload health the agents route by); a
 * failing liveness probe restarts its container (restartCount).
 */
@Order(2)
class PodLifecycleTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final String NS = "it-pods";

    /**
     * Two replicas answering {@code hello from <hostname>} (the UTS namespace's, not the
     * environment's), ready while {@code FLAGS/<hostname>.unready} does not exist: the probe
     * runs the command in the container with its environment, period 1 s, one failure is enough.
     */
    private static String web(Path flags) {
        return """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web, namespace: %1$s}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      containers:
                      - name: http
                        image: ignored
                        ports: [{name: http, containerPort: 8080}]
                        command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", 'SYSTEM:eval "$RESPONDER"']
                        env:
                        - name: RESPONDER
                          value: >-
                            while read -r h && [ "$(printf %%s "$h" | tr -d "\\r")" != "" ]; do true; done;
                            b="hello from $(hostname)";
                            printf "HTTP/1.1 200 OK\\r\\nContent-Length: %%d\\r\\nConnection: close\\r\\n\\r\\n%%s\\n" $((${#b}+1)) "$b"
                        readinessProbe:
                          exec: {command: [sh, -c, 'test ! -e %2$s/"$HOSTNAME".unready']}
                          periodSeconds: 1
                          failureThreshold: 1
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web, namespace: %1$s}
                spec:
                  selector: {app: web}
                  ports: [{name: http, port: 8080, targetPort: http}]
                ---
                """.formatted(NS, flags);
    }

    /**
     * A pod whose liveness probe fails while {@code FLAGS/live.dead} exists, which holds how
     * many more times it fails: the probe counts it down and removes it, so exactly
     * {@code failureThreshold} (2) failures in a row happen and the container restarts once.
     */
    private static String live(Path flags) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: live, namespace: %1$s, labels: {app: live}}
                spec:
                  terminationGracePeriodSeconds: 2
                  containers:
                  - name: app
                    image: ignored
                    command: [sleep, "100000"]
                    livenessProbe:
                      exec:
                        command:
                        - sh
                        - -c
                        - >-
                          f=%2$s/live.dead; [ -e "$f" ] || exit 0;
                          n=$(cat "$f"); if [ "$n" -le 1 ]; then rm -f "$f"; else echo $((n-1)) > "$f"; fi; exit 1
                      periodSeconds: 1
                      failureThreshold: 2
                ---
                """.formatted(NS, flags);
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void hostnamesPerReplicaReadinessGatesTrafficLivenessRestarts() throws IOException {
        Path flags = Files.createTempDirectory("ambit-it-pods");
        try {
            mesh.apply(Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "client") + web(flags) + live(flags)
                    + Yaml.clientPod(NS, "client", "client", "node1", Map.of()));
            List<JsonNode> pods = mesh.awaitRunning(NS, 4, Duration.ofSeconds(60));
            List<String> replicas = pods.stream().map(LocalMesh::name).filter(n -> n.startsWith("web-")).sorted().toList();
            assertThat(replicas).hasSize(2);
            mesh.awaitEnrolled(NS, "client");

            // 1. Each pod's own hostname: the hostname command (UTS namespace), HOSTNAME and uname, in local exec.
            String first = replicas.getFirst();
            Ambitctl.Result names = mesh.sh(NS, first, Duration.ofSeconds(10), "hostname; echo \"$HOSTNAME\"; uname -n");
            assertThat(names.ok()).as("%s", names).isTrue();
            assertThat(names.out().strip().split("\n")).as("hostname, $HOSTNAME, uname -n in %s", first)
                    .containsExactly(first, first, first);
            assertThat(first).isNotEqualTo(hostnameOfMachine());

            // Both replicas answer through the Service, each with its own hostname.
            mesh.eventually("both replicas answering through Service web", Duration.ofSeconds(60),
                    () -> answers(12).equals(new TreeSet<>(replicas)));

            // 2. One replica's readiness probe fails: it turns unready and gets no request until it passes.
            String unready = replicas.get(0);
            String other = replicas.get(1);
            Ambitctl.Result touch = mesh.sh(NS, unready, Duration.ofSeconds(10), "touch " + flags + "/$(hostname).unready");
            assertThat(touch.ok()).as("%s", touch).isTrue();
            mesh.eventually(unready + " not Ready", Duration.ofSeconds(20), () -> !ready(mesh.pod(NS, unready)));
            assertThat(mesh.pod(NS, unready).path("status").path("phase").asText()).isEqualTo("Running");
            mesh.eventually("only " + other + " answering", Duration.ofSeconds(30),
                    () -> answers(10).equals(Set.of(other)));
            assertThat(answers(16)).as("16 calls while %s is unready", unready).containsExactly(other);
            assertThat(ready(mesh.pod(NS, other))).isTrue();

            Files.delete(flags.resolve(unready + ".unready"));
            mesh.eventually(unready + " Ready again", Duration.ofSeconds(20), () -> ready(mesh.pod(NS, unready)));
            mesh.eventually("both replicas answering again", Duration.ofSeconds(30),
                    () -> answers(12).equals(new TreeSet<>(replicas)));

            // 3. A failing liveness probe kills the container; restartPolicy Always starts it again.
            assertThat(restarts(mesh.pod(NS, "live"))).isZero();
            Files.writeString(flags.resolve("live.dead.tmp"), "2\n");
            Files.move(flags.resolve("live.dead.tmp"), flags.resolve("live.dead"));
            JsonNode restarted = mesh.eventually("live restarted by its liveness probe and running", Duration.ofSeconds(30),
                    () -> {
                        JsonNode p = mesh.pod(NS, "live");
                        return restarts(p) >= 1 && ready(p) ? p : null;
                    });
            assertThat(Files.exists(flags.resolve("live.dead"))).as("both failures were probed").isFalse();
            assertThat(restarts(restarted)).isEqualTo(1);
            assertThat(restarted.at("/status/containerStatuses/0/lastState/terminated/message").asText())
                    .as("lastState of the killed process").contains("failed its liveness probe 2 times");
            assertThat(mesh.exec(NS, "live", Duration.ofSeconds(10), "hostname").out().strip())
                    .as("a restarted container joins the same UTS namespace").isEqualTo("live");
            String table = Ambitctl.localOk("get", "pods", "-n", NS).out();
            assertThat(table.lines().filter(l -> l.startsWith("live "))).singleElement().asString()
                    .as("local get pods:\n%s", table).matches("live\\s+1/1\\s+Running\\s+1\\s+.*");
        } finally {
            mesh.deleteNamespace(NS);
            deleteTree(flags);
        }
    }

    /**
     * The replicas (hostnames) answering {@code n} calls from the meshed client to Service
     * web, four at a time (each its own connection, so each is balanced on its own).
     */
    private Set<String> answers(int n) {
        Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(60),
                "for i in $(seq " + n + "); do curl -sS -m 10 http://web:8080/ & [ $((i % 4)) -eq 0 ] && wait; done; wait");
        assertThat(r.ok()).as("%s", r).isTrue();
        Set<String> out = new TreeSet<>();
        String[] lines = r.out().strip().split("\n");
        assertThat(lines).as("every call answered: %s", r).hasSize(n);
        for (String line : lines) {
            assertThat(line).startsWith("hello from ");
            out.add(line.substring("hello from ".length()));
        }
        return out;
    }

    private static boolean ready(JsonNode pod) {
        for (JsonNode c : pod.path("status").path("conditions")) {
            if (c.path("type").asText().equals("Ready")) {
                return c.path("status").asText().equals("True");
            }
        }
        return false;
    }

    private static int restarts(JsonNode pod) {
        return pod.path("status").path("containerStatuses").path(0).path("restartCount").asInt();
    }

    private static String hostnameOfMachine() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        List<Path> all = new ArrayList<>();
        try (var s = Files.walk(dir)) {
            s.forEach(all::add);
        }
        for (Path p : all.reversed()) {
            Files.deleteIfExists(p);
        }
    }
}
