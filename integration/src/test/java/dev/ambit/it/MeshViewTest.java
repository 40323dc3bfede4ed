package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19's live mesh view in a real browser: {@code ambitctl dashboard} over the shared
 * cluster with the {@code prometheus} addon, opened in Debian's headless chromium driven by
 * playwright-core ({@code src/test/node/mesh-view.mjs}). A client talks to {@code web} over
 * mTLS: the page shows client → service web → web with the lock and each pod enrolled. Then
 * the traffic changes: a caller that an AuthorizationPolicy denies starts, and the same page,
 * never reloaded, shows the denied edge with the policy's name and rule. The screenshot is kept
 * in {@code target/mesh-view/}. What the checks read is what the page rendered (cytoscape's
 * elements, the tables), not the server's JSON.
 */
@Order(15) // on the default cluster, with the classes ordered 1-20 (LocalMesh)
class MeshViewTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final String NS = "it-view";
    private static final Pattern URL = Pattern.compile("mesh view: (http://127\\.0\\.0\\.1:[0-9]+/)");
    private static final Path SCREENSHOTS = Ambitctl.REPO.resolve("integration/target/mesh-view");
    private static final String CLIENT_EDGE = "wl:" + NS + "/client->svc:web." + NS + ".svc.cluster.local";
    private static final String DENIED_EDGE = "wl:" + NS + "/intruder->wl:" + NS + "/web";
    private static final String POLICY = NS + "/deny-intruder";
    /** One short connection every 200 ms to web's echo port, for as long as the exec lives. */
    private static final String LOOP = "while :; do echo hi | socat -t 1 - TCP:web:9000 >/dev/null 2>&1; sleep 0.2; done";

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theViewShowsTheMeshItsLocksAndEnrolmentThenALiveDenialWithItsPolicy() throws Exception {
        List<Ambitctl.Background> background = new ArrayList<>();
        Browser browser = null;
        CompletableFuture<Ambitctl.Result> enable = null;
        try {
            // chromium starts (seconds) while the cluster works: the first command waits for it.
            browser = Browser.start();
            mesh.apply(Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "client") + Yaml.serviceAccount(NS, "intruder")
                    + Yaml.serverPod(NS, "web", "default", "node2", Map.of()) + Yaml.service(NS, "web", "web")
                    + Yaml.clientPod(NS, "client", "client", "node1", Map.of())
                    + Yaml.clientPod(NS, "intruder", "intruder", "node1", Map.of())
                    + Yaml.authorizationPolicy(NS, "deny-intruder", "web", "DENY",
                            "cluster.local/ns/" + NS + "/sa/intruder"));
            // The addon's pod starts while the test pods do, the traffic begins, and the page opens:
            // it shows Prometheus's absence until the addon is ready, then the graph.
            enable = CompletableFuture.supplyAsync(() -> Ambitctl.raw(
                    Duration.ofSeconds(70), List.of("local", "addon", "enable", "--state-dir=" + Ambitctl.STATE,
                            "prometheus", "--scrape-interval", "1s", "--timeout", "60s")));
            Ambitctl.Background dashboard = Ambitctl.start("dashboard", "--port=0", "--no-open");
            background.add(dashboard);
            // Meshed pods start only once their agent has captured them: Running is enrolled.
            List<JsonNode> pods = mesh.awaitRunning(NS, 3, Duration.ofSeconds(40));
            background.add(Ambitctl.start("local", "exec", "-n", NS, "client", "--timeout", "120s", "--", "sh", "-c", LOOP));
            // The denied caller is ready to go (an exec costs seconds) but waits for a file on the
            // machine (pods see its files): the traffic changes the moment the test creates it.
            Files.createDirectories(SCREENSHOTS);
            Path go = SCREENSHOTS.resolve("intruder.go");
            Files.deleteIfExists(go);
            background.add(Ambitctl.start("local", "exec", "-n", NS, "intruder", "--timeout", "120s", "--", "sh", "-c",
                    "while [ ! -e " + go + " ]; do sleep 0.1; done; " + LOOP));
            String url = mesh.eventually("the dashboard's URL", Duration.ofSeconds(15), () -> {
                Matcher m = URL.matcher(dashboard.outSoFar());
                assertThat(dashboard.process().isAlive()).as("dashboard running: %s", dashboard.outSoFar()).isTrue();
                return m.find() ? m.group(1) : null;
            });
            step("dashboard at " + url);
            JsonNode state = browser.send("open " + url + "?window=30s&refresh=1");
            browser.send("wait 5000 (window.__notReloaded = true)"); // a mark that a reload would wipe
            step("page open");
            Ambitctl.Result enabled = enable.get(80, TimeUnit.SECONDS);
            assertThat(enabled.ok()).as("addon enable: %s", enabled).isTrue();

            // Traffic: client → service web → web, mTLS, each pod enrolled on its node.
            state = browser.send("wait 25000 (() => { const e = ambitView.cy.getElementById('" + CLIENT_EDGE
                    + "'); return e.nonempty() && e.data('label').includes('mTLS')"
                    + " && ambitView.cy.getElementById('svc:web." + NS + ".svc.cluster.local->wl:" + NS
                    + "/web').nonempty(); })()");
            step("client edge shown");
            assertThat(ids(state.path("nodes"))).contains("wl:" + NS + "/client", "wl:" + NS + "/web",
                    "svc:web." + NS + ".svc.cluster.local", "wl:" + NS + "/intruder");
            assertThat(kind(state, "svc:web." + NS + ".svc.cluster.local")).isEqualTo("service");
            assertThat(edge(state, CLIENT_EDGE).path("label").asText()).contains("conn/s").contains("mTLS");
            assertThat(ids(state.path("edges"))).as("no denial before the intruder calls").doesNotContain(DENIED_EDGE);
            assertThat(rows(state.path("podRows"))).contains(
                    List.of(NS, "client", "client", "node1", ip(pods, "client"), "Running", "enrolled"),
                    List.of(NS, "web", "web", "node2", ip(pods, "web"), "Running", "enrolled"));
            int refreshesBefore = state.path("refreshes").asInt();

            // The traffic changes: the denied caller starts. The open page shows it on its next refreshes.
            Files.writeString(go, "go\n");
            state = browser.send("wait 20000 (() => { const e = ambitView.cy.getElementById('" + DENIED_EDGE
                    + "'); return e.nonempty() && e.data('denied') && e.data('label').includes('" + POLICY + "'); })()");
            step("denial shown");
            JsonNode denied = edge(state, DENIED_EDGE);
            assertThat(denied.path("label").asText()).contains("DENIED", POLICY + " rule 0");
            List<List<String>> denials = rows(state.path("denialRows"));
            assertThat(denials).anySatisfy(r -> {
                assertThat(r.get(0)).isEqualTo(NS + "/intruder → " + NS + "/web");
                assertThat(r.get(1)).startsWith(POLICY).contains("rule 0").contains("cluster.local/ns/" + NS + "/sa/intruder");
                assertThat(r.get(2)).isEqualTo("policy_denied");
            });
            assertThat(state.path("refreshes").asInt()).isGreaterThan(refreshesBefore);
            browser.send("wait 1000 window.__notReloaded === true"); // fails if the page was loaded again
            assertThat(state.path("consoleErrors")).as("the page's errors").isEmpty();

            browser.send("screenshot " + SCREENSHOTS.resolve("mesh-view.png"));
            assertThat(SCREENSHOTS.resolve("mesh-view.png")).isNotEmptyFile();
        } finally {
            if (browser != null) {
                browser.close(SCREENSHOTS.resolve("mesh-view-last.png"));
            }
            background.forEach(Ambitctl.Background::kill);
            CompletableFuture<Void> delete = CompletableFuture.runAsync(() -> mesh.deleteNamespace(NS));
            if (enable != null) {
                try {
                    enable.get(80, TimeUnit.SECONDS); // never disable while it is being enabled
                } catch (Exception ignored) {
                    // its failure is the test's
                }
                Ambitctl.Result disable = Ambitctl.raw(Duration.ofSeconds(60), List.of("local", "addon", "disable",
                        "--state-dir=" + Ambitctl.STATE, "prometheus"));
                delete.join();
                assertThat(disable.ok()).as("addon disable: %s", disable).isTrue();
            }
            delete.join();
        }
    }

    /** A progress line in the class's output, beside the traced commands: where the time goes. */
    private static void step(String what) {
        System.out.printf("%s mesh view: %s%n", java.time.LocalTime.now().format(
                java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss.SSS")), what);
    }

    private static String ip(List<JsonNode> pods, String name) {
        return pods.stream().filter(p -> LocalMesh.name(p).equals(name)).map(LocalMesh::ip).findFirst()
                .orElseThrow(() -> new AssertionError("no pod " + name + " in " + pods));
    }

    private static List<String> ids(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.path("id").asText()));
        return out;
    }

    private static String kind(JsonNode state, String id) {
        for (JsonNode n : state.path("nodes")) {
            if (n.path("id").asText().equals(id)) {
                return n.path("kind").asText();
            }
        }
        throw new AssertionError("no node " + id + " in " + state.path("nodes"));
    }

    private static JsonNode edge(JsonNode state, String id) {
        for (JsonNode e : state.path("edges")) {
            if (e.path("id").asText().equals(id)) {
                return e;
            }
        }
        throw new AssertionError("no edge " + id + " in " + state.path("edges"));
    }

    private static List<List<String>> rows(JsonNode table) {
        List<List<String>> out = new ArrayList<>();
        table.forEach(r -> {
            List<String> cells = new ArrayList<>();
            r.forEach(c -> cells.add(c.asText()));
            out.add(cells);
        });
        return out;
    }

    /**
     * The browser: {@code node src/test/node/mesh-view.mjs}, one command a line, one JSON answer a
     * line; a failed command fails the test with the page's state.
     */
    private record Browser(Process process, Writer in, BufferedReader out, Path log) {

        static Browser start() throws IOException {
            Path log = Files.createTempFile("mesh-view-browser", ".log");
            Process p = new ProcessBuilder("node", "mesh-view.mjs")
                    .directory(Ambitctl.REPO.resolve("integration/src/test/node").toFile())
                    .redirectError(log.toFile())
                    .start();
            return new Browser(p, new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8),
                    new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)), log);
        }

        /** Sends {@code command}; returns the page's state, failing with the browser's error. */
        JsonNode send(String command) throws Exception {
            in.write(command + "\n");
            in.flush();
            String line = CompletableFuture.supplyAsync(() -> {
                try {
                    return out.readLine();
                } catch (IOException e) {
                    return null;
                }
            }).get(60, TimeUnit.SECONDS);
            if (line == null) {
                throw new AssertionError("the browser ended on `" + command + "`: " + Files.readString(log));
            }
            JsonNode answer = LocalMesh.JSON.readTree(line);
            if (!answer.path("ok").asBoolean()) {
                throw new AssertionError("browser: `" + command + "` failed: " + answer.path("error").asText()
                        + "\npage: " + answer.path("state") + "\n" + mesh.diagnostics());
            }
            return answer.has("state") ? answer.path("state") : answer;
        }

        /** A last screenshot (what the page showed when the test ended, also on failure), then quits. */
        void close(Path screenshot) {
            try {
                Files.createDirectories(screenshot.getParent());
                send("screenshot " + screenshot);
                send("quit");
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (Exception | AssertionError ignored) {
                // the test's own failure says more
            } finally {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                try {
                    Files.deleteIfExists(log);
                } catch (IOException ignored) {
                    // a temp file
                }
            }
        }
    }
}
