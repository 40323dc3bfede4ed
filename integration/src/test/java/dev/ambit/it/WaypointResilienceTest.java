package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import com.fasterxml.jackson.databind.JsonNode;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The waypoint keeping a service up and the wrong callers out, configured as Istio's docs
 * configure it: {@code ambitctl waypoint apply --enroll-namespace}, DestinationRules
 * ({@code loadBalancer}, {@code connectionPool}, {@code outlierDetection}), AuthorizationPolicies
 * and a RequestAuthentication bound to the waypoint with {@code targetRefs}; ordinary clients
 * (curl, a small Node.js raw client) in meshed pods. One cluster and one namespace for the class:
 * three backend pods ({@code resources/waypoint-resilience/backend.js}, which records what reaches
 * it and when) behind one Service per scenario, so every DestinationRule is in place from the start.
 * The L7 policies bind to the whole waypoint, so their tests run last.
 */
@Order(21)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WaypointResilienceTest {

    @RegisterExtension
    // Istio's security best practice for a backend that decodes %2F and merges slashes: the
    // mesh's pathNormalization DECODE_AND_MERGE_SLASHES, given as `local up --mesh-config`.
    static final LocalMesh mesh = LocalMesh.nodes(2).meshConfig(
            Ambitctl.REPO.resolve("integration/src/test/resources/waypoint-resilience/mesh.yaml")).noIngress();

    static final String NS = "it-resilience";
    private static final Path RESOURCES = Ambitctl.REPO.resolve("integration/src/test/resources/waypoint-resilience");
    private static final List<String> BACKENDS = List.of("b-1", "b-2", "b-3");
    private static final String ISSUER = "https://issuer.it-resilience.example";
    private static final String OVERFLOW = "upstream connect error or disconnect/reset before headers. reset reason: overflow";

    /** The key the RequestAuthentication trusts, and one it does not (same kid: a forgery). */
    private static final KeyPair TRUSTED = Jwts.rsa();
    private static final KeyPair FORGER = Jwts.rsa();

    /** The load-balancing DestinationRules in a waypoint cluster (ROUND_ROBIN is the enum's default, not printed). */
    private static final Map<String, Predicate<JsonNode>> LB = Map.of(
            "rr", c -> !c.has("lb_policy") || c.path("lb_policy").asText().equals("ROUND_ROBIN"),
            "hash", c -> List.of("RING_HASH", "MAGLEV").contains(c.path("lb_policy").asText()),
            "random", c -> c.path("lb_policy").asText().equals("RANDOM"));
    private static final Predicate<JsonNode> OUTLIER = c -> c.has("outlier_detection");
    private static final Map<String, String> podIps = new LinkedHashMap<>();
    private static final Set<String> applied = new HashSet<>();
    private static String waypointPod;

    @BeforeAll
    static void deploy() {
        mesh.apply(resource("app.yaml").replace("${BACKEND}", RESOURCES.resolve("backend.js").toString()));
        mesh.awaitRunning(NS, 5, Duration.ofSeconds(90));
        for (String pod : List.of("client", "good-client", "b-1", "b-2", "b-3")) {
            mesh.awaitEnrolled(NS, pod);
        }
        Ambitctl.Result apply = Ambitctl.run(Duration.ofMinutes(2), "waypoint", "apply", "-n", NS,
                "--enroll-namespace", "--wait");
        if (!apply.ok()) {
            throw new AssertionError("waypoint apply: " + apply + "\n" + mesh.diagnostics());
        }
        waypointPod = mesh.pods(NS).stream().map(LocalMesh::name).filter(n -> n.startsWith("waypoint-")).findFirst()
                .orElseThrow(() -> new AssertionError("no waypoint pod in " + NS + "\n" + mesh.diagnostics()));
        for (String pod : BACKENDS) {
            podIps.put(pod, LocalMesh.ip(mesh.pod(NS, pod)));
        }
        // Answered, and through the waypoint: its metrics count the call.
        mesh.eventually("web answering through the waypoint", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(20), "curl -sS -m 3 http://web:8080/ready");
            return r.ok() && r.out().startsWith("b-") && waypointMetrics().sum("istio_requests_total",
                    s -> s.label("destination_service").equals("web." + NS + ".svc.cluster.local")) > 0;
        });
    }

    @AfterAll
    static void cleanUp() {
        mesh.deleteNamespace(NS);
    }

    // ------------------------------------------------------------------ load balancing

    @Test
    @Order(1)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void roundRobinIsEvenWithinFivePercent() {
        applyAndAwait("load-balancing.yaml", LB);
        List<String> pods = podsOf(client(sequential(1000, "http://rr:8080/rr")).out());
        assertThat(pods).hasSize(1000);
        Map<String, Long> counts = count(pods);
        assertThat(counts).as("%s", counts).containsOnlyKeys(BACKENDS);
        // 1000/3 ± 5 %.
        assertThat(counts.values()).as("round robin over 3 pods: %s", counts).allMatch(n -> n >= 317 && n <= 350);
        // In turn, not by chance: random picking would repeat the previous pod about 333 times.
        assertThat(repeats(pods)).as("the same pod twice in a row").isLessThan(50);
    }

    @Test
    @Order(2)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void leastRequestAvoidsTheSlowPod() {
        applyAndAwait("load-balancing.yaml", LB);
        // b-3 answers /lr after 200 ms, the others at once; 10 requests in flight at a time.
        List<String> pods = podsOf(client("curl -sS -m 100 -Z --parallel-max 10 "
                + urls(1000, "http://lr:8080/lr")).out());
        assertThat(pods).hasSize(1000);
        Map<String, Long> counts = count(pods);
        long slow = counts.getOrDefault("b-3", 0L);
        assertThat(slow).as("the slow pod gets clearly fewer than a third: %s", counts).isLessThan(200);
        assertThat(Math.min(counts.getOrDefault("b-1", 0L), counts.getOrDefault("b-2", 0L)))
                .as("each fast pod gets more than twice the slow one's: %s", counts).isGreaterThan(2 * slow);
    }

    @Test
    @Order(3)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void consistentHashIsStickyPerHeaderValueAndSpreadAcrossValues() {
        applyAndAwait("load-balancing.yaml", LB);
        List<String> alice = podsOf(client("curl -sS -m 60 -H 'x-user: alice' " + urls(100, "http://hash:8080/hash")).out());
        assertThat(alice).hasSize(100);
        assertThat(new HashSet<>(alice)).as("one header value, one pod").hasSize(1);

        // 300 values, each asked twice (curl --next: one header per request, keep-alive kept).
        String script = "curl -sS -m 100 -H x-user:u0 http://hash:8080/hash/0 $(for r in 1 2;"
                + " do for i in $(seq 0 299); do printf -- '--next -sS -H x-user:u%d http://hash:8080/hash/%d ' $i $i;"
                + " done; done)";
        Map<String, Set<String>> podsByValue = new TreeMap<>();
        for (String line : lines(client(script).out())) {
            String[] f = line.split(" ");
            podsByValue.computeIfAbsent(f[2], k -> new HashSet<>()).add(f[0]);
        }
        assertThat(podsByValue).hasSize(300);
        assertThat(podsByValue.entrySet()).as("each value always reaches the same pod")
                .allMatch(e -> e.getValue().size() == 1);
        Map<String, Long> spread = podsByValue.values().stream().map(s -> s.iterator().next())
                .collect(Collectors.groupingBy(p -> p, TreeMap::new, Collectors.counting()));
        assertThat(spread).as("300 values spread over the pods").containsOnlyKeys(BACKENDS);
        assertThat(spread.values()).as("%s", spread).allMatch(n -> n >= 40);
    }

    @Test
    @Order(4)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void randomSpreadsWithoutATurnOrder() {
        applyAndAwait("load-balancing.yaml", LB);
        List<String> pods = podsOf(client(sequential(1000, "http://random:8080/random")).out());
        assertThat(pods).hasSize(1000);
        Map<String, Long> counts = count(pods);
        // Binomial(1000, 1/3): σ ≈ 15; ± 5σ.
        assertThat(counts.values()).as("%s", counts).hasSize(3).allMatch(n -> n >= 258 && n <= 408);
        assertThat(repeats(pods)).as("random repeats the previous pod about a third of the time").isGreaterThan(200);
    }

    // ------------------------------------------------------------------ circuit breaking

    @Test
    @Order(5)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void circuitBreakerAnswersTheExcessAtOnceWith503Overflow() {
        applyAndAwait("circuit-breaking.yaml", Map.of("cb", c -> c.has("circuit_breakers")));
        long start = System.currentTimeMillis();
        // Istio's circuit-breaking task: maxConnections 1, http1MaxPendingRequests 1 on cb (one
        // pod, b-1). 20 requests at once to an endpoint that answers after 2 s.
        Ambitctl.Result r = client("curl -sS -m 20 -Z --parallel-max 20 --parallel-immediate"
                + " -w '\\n@@ %{http_code} %{time_total} %header{x-envoy-overloaded}\\n' "
                + urls(20, "http://cb:8080/sleep?ms=2000"));
        List<String[]> results = lines(r.out()).stream().filter(l -> l.startsWith("@@ "))
                .map(l -> l.substring(3).split(" ", -1)).toList();
        assertThat(results).as("%s", r.out()).hasSize(20);
        List<String[]> ok = results.stream().filter(f -> f[0].equals("200")).toList();
        List<String[]> overflow = results.stream().filter(f -> f[0].equals("503")).toList();
        assertThat(ok.size() + overflow.size()).as("only 200 and 503: %s", r.out()).isEqualTo(20);
        // One request on the one connection, one pending; Envoy lets the pending one through
        // once the first has its connection, so one or two succeed, at most three.
        assertThat(ok).as("%s", r.out()).hasSizeBetween(1, 3);
        assertThat(overflow).as("%s", r.out()).hasSizeGreaterThanOrEqualTo(17);
        assertThat(overflow).as("answered at once, not after the 2 s the backend takes: %s", r.out())
                .allMatch(f -> Double.parseDouble(f[1]) < 1.0);
        assertThat(ok).as("%s", r.out()).allMatch(f -> Double.parseDouble(f[1]) >= 1.9);
        assertThat(r.out().split(OVERFLOW, -1).length - 1).as("Envoy's overflow body: %s", r.out())
                .isEqualTo(overflow.size());
        // Never queued upstream: b-1 saw only the requests that succeeded.
        assertThat(seen("/sleep", start).get("b-1")).as("requests that reached b-1").hasSize(ok.size());

        Metrics m = waypointMetrics();
        assertThat(m.sum("istio_requests_total", s -> s.label("destination_service").equals(fqdn("cb"))
                && s.label("response_code").equals("503") && s.label("response_flags").equals("UO")))
                .as("%s", m.text()).isGreaterThanOrEqualTo(overflow.size());
        // Envoy's router marks a request it dropped for a circuit breaker (Istio leaves the
        // router's x-envoy headers on).
        assertThat(overflow).as("x-envoy-overloaded: true on each overflow (Envoy's router): %s", r.out())
                .allMatch(f -> f.length > 2 && f[2].equals("true"));
    }

    // ------------------------------------------------------------------ outlier detection

    @Test
    @Order(6)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void outlierDetectionEjectsTheFailingPodForBaseEjectionTimeThenTriesItAgain() {
        applyAndAwait("outlier-detection.yaml", Map.of("od", OUTLIER, "odall", OUTLIER, "odcap", OUTLIER));
        long start = System.currentTimeMillis();
        // b-3 answers every /od/ request 503; consecutive5xxErrors 1, interval 1s,
        // baseEjectionTime 5s. 13 s of sequential calls, ten per curl on a keep-alive connection.
        Ambitctl.Result r = client("end=$(($(date +%s)+13)); n=0; while [ $(date +%s) -lt $end ]; do"
                + " curl -sS -m 5 -w '%{http_code}\\n' $(for i in $(seq 10); do printf -- '-o /dev/null"
                + " http://od:8080/od/ '; done); done");
        Map<String, Long> codes = count(lines(r.out()));
        Map<String, List<Long>> seen = seen("/od/", start);
        List<Long> bad = seen.get("b-3");
        List<Long> good = new ArrayList<>(seen.get("b-1"));
        good.addAll(seen.get("b-2"));
        long total = codes.values().stream().mapToLong(Long::longValue).sum();
        assertThat(bad).as("b-3's hits (ms after the start: %s); calls %s", relative(bad, start), codes).hasSize(2);
        long first = bad.get(0);
        long again = bad.get(1);
        long firstCall = java.util.stream.Stream.of(bad, good).flatMap(List::stream).min(Long::compare).orElseThrow();
        assertThat(first - firstCall).as("b-3 is tried among the first calls").isLessThan(2000);
        // Ejected on its first 503 for baseEjectionTime (5 s), let back at the next 1 s interval
        // tick after that; the second ejection lasts 2 × 5 s, past the end of the 13 s.
        assertThat(again - first).as("b-3 received nothing for baseEjectionTime, then was tried again")
                .isBetween(4900L, 7500L);
        assertThat(good.stream().filter(t -> t > first && t < again).count())
                .as("the other pods kept serving meanwhile (calls: %s)", codes).isGreaterThan(10);
        // Istio's default retry policy retries a 503 on another host, so the callers see 200s.
        assertThat(codes.getOrDefault("200", 0L)).as("%s", codes).isGreaterThanOrEqualTo(total - 2);
        Metrics m = waypointMetrics();
        assertThat(m.sum("ambit_waypoint_outlier_ejections_total", s -> s.label("cluster").equals("outbound|8080||" + fqdn("od"))))
                .as("ejections counted: %s", m.text()).isGreaterThanOrEqualTo(2);
    }

    @Test
    @Order(7)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void withAllPodsFailingMaxEjectionPercentHolds() {
        applyAndAwait("outlier-detection.yaml", Map.of("od", OUTLIER, "odall", OUTLIER, "odcap", OUTLIER));
        long start = System.currentTimeMillis();
        // Every pod answers /status/503. odall: maxEjectionPercent 100 → all three ejected, the
        // waypoint answers "no healthy upstream" itself. odcap: maxEjectionPercent 50 → some stay.
        Ambitctl.Result r = client("for s in odall odcap; do for i in $(seq 30); do"
                + " printf '%s ' $s; curl -sS -m 3 -w ' %{http_code}' \"http://$s:8080/status/503?s=$s\" | tr '\\n' ' ';"
                + " echo; done; done");
        // One line per call: "<service> <body> <status>", the body's own newline made a space.
        List<String> calls = lines(r.out()).stream().map(l -> l.replaceAll("\\s+", " ")).toList();
        List<String> all = calls.stream().filter(l -> l.startsWith("odall ")).toList();
        List<String> capped = calls.stream().filter(l -> l.startsWith("odcap ")).toList();
        assertThat(all).hasSize(30);
        assertThat(capped).hasSize(30);
        assertThat(all.subList(10, 30)).as("all ejected: %s", all)
                .allMatch(l -> l.equals("odall no healthy upstream 503"));
        List<String> cappedTail = capped.subList(10, 30);
        assertThat(cappedTail).as("some pods never ejected keep answering: %s", capped)
                .allMatch(l -> l.matches("odcap b-\\d status 503"));
        Set<String> serving = cappedTail.stream().map(l -> l.split(" ")[1]).collect(Collectors.toSet());
        assertThat(serving).as("at least one pod ejected, at least one not: %s", capped).hasSizeBetween(1, 2);
        // Once ejected, odall's pods receive nothing: each saw its first failure (and the odd
        // retry that raced the ejection), not 30 requests.
        Map<String, List<Long>> seen = seen("/status/503?s=odall", start);
        for (String pod : BACKENDS) {
            assertThat(seen.get(pod)).as("odall's requests that reached %s", pod).hasSizeBetween(1, 3);
        }
        Metrics m = waypointMetrics();
        assertThat(m.sum("istio_requests_total", s -> s.label("destination_service").equals(fqdn("odall"))
                && s.label("response_flags").equals("UH"))).as("%s", m.text()).isGreaterThanOrEqualTo(20);
    }

    // ------------------------------------------------------------------ hostile input

    @Test
    @Order(8)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void hostileRequestsAreRefusedAndCountedWhileOthersAreServed() throws IOException {
        long start = System.currentTimeMillis();
        Path stop = Files.createTempFile("it-resilience-stop", "");
        Files.delete(stop);
        // The well-behaved client, on the other node, for as long as the hostile one runs (240 s cap).
        Ambitctl.Background good = Ambitctl.start("local", "exec", "-n", NS, "good-client", "--timeout", "270s", "--",
                "sh", "-c", "end=$(($(date +%s)+240)); while [ ! -e " + stop + " ] && [ $(date +%s) -lt $end ]; do"
                        + " curl -sS -m 5 -o /dev/null -w '%{http_code}\\n' http://hostile:8080/good; sleep 0.05; done");
        try {
            mesh.eventually("the good client running", Duration.ofSeconds(30),
                    () -> lines(good.outSoFar()).size() >= 3);
            Map<String, String> expected = new LinkedHashMap<>();
            expected.put("big-headers", "431");
            expected.put("many-headers", "431");
            expected.put("cl-te", "400");
            expected.put("dup-cl", "400");
            double before = rejected(waypointMetrics());
            for (Map.Entry<String, String> c : expected.entrySet()) {
                String line = raw(c.getKey()).get(0);
                assertThat(line.split("\t")[1]).as("%s refused: %s", c.getKey(), line).isEqualTo(c.getValue());
                double after = rejected(waypointMetrics());
                assertThat(after - before).as("%s counted in ambit_waypoint_downstream_rejected_total", c.getKey())
                        .isGreaterThanOrEqualTo(1);
                before = after;
            }
            // Just under the limits: forwarded.
            List<String> controls = raw("headers-59k", "headers-100");
            assertThat(controls).as("just under Envoy's limits (60 KiB, 100 headers)")
                    .allMatch(l -> l.split("\t")[1].equals("200"));
            assertThat(good.process().isAlive()).as("the good client ran throughout").isTrue();
        } finally {
            Files.writeString(stop, "stop");
        }
        Ambitctl.Result goodResult = good.await(Duration.ofSeconds(30));
        Files.deleteIfExists(stop);
        Map<String, Long> goodCodes = count(lines(goodResult.out()));
        assertThat(goodCodes).as("the well-behaved client, unaffected: %s", goodResult).containsOnlyKeys("200");
        assertThat(goodCodes.get("200")).isGreaterThanOrEqualTo(10);
        assertThat(seen("/hostile", start)).as("hostile requests that reached the pods")
                .allSatisfy((pod, times) -> assertThat(times).as(pod).isEmpty());
    }

    // ------------------------------------------------------------------ L7 authorization

    @Test
    @Order(9)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void authorizationPolicyOnTheWaypointAllowsGetDeniesPostAndChecksAHeader() {
        applyPolicies();
        List<String> out = calls(
                "http://web:8080/page",
                "-X POST http://web:8080/page",
                "-X POST -H 'x-token: letmein' http://web:8080/token/a",
                "-X POST -H 'x-token: guess' http://web:8080/token/b",
                "-X POST http://web:8080/token/c");
        assertThat(out).hasSize(5);
        assertThat(out.get(0)).as("GET allowed").matches("b-\\d GET /page 200");
        assertThat(out.get(1)).as("POST denied").isEqualTo("RBAC: access denied 403");
        assertThat(out.get(2)).as("POST with the header").matches("b-\\d POST /token/a 200");
        assertThat(out.get(3)).as("wrong header value").isEqualTo("RBAC: access denied 403");
        assertThat(out.get(4)).as("no header").isEqualTo("RBAC: access denied 403");
        Metrics m = waypointMetrics();
        assertThat(m.sum("ambit_waypoint_rbac_denied_total", s -> true)).as("%s", m.text()).isGreaterThanOrEqualTo(3);
    }

    @Test
    @Order(10)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void denyOnAdminIsNotBypassedByPathTricks() {
        applyPolicies();
        // The cluster runs with pathNormalization DECODE_AND_MERGE_SLASHES (see mesh).
        // What the backend (a lenient framework: it decodes, merges slashes, resolves dots and
        // drops ";" parameters and fragments) would serve as /admin, sent exactly as written.
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("/admin", "403");
        expected.put("/admin/users", "403");
        expected.put("//admin", "403");
        expected.put("/admin/../admin", "403");
        expected.put("/public/../admin", "403");
        expected.put("/%2Fadmin", "403");
        expected.put("/%2fadmin", "403");
        expected.put("/x/%2e%2e/admin", "403");
        expected.put("/%2E%2E/admin", "403");
        expected.put("/admin;x", "403");
        // Istio's Envoy strips a fragment (its bootstrap turns http_reject_path_with_fragment off).
        expected.put("/admin#", "403");
        expected.put("/admin#x", "403");
        List<String> sent = new ArrayList<>(expected.keySet());
        sent.add("/ADMIN");
        List<String> out = raw(sent.stream().map(p -> "path:" + p).toArray(String[]::new));
        assertThat(out).hasSize(sent.size());
        // Every form judged, every failing one named.
        SoftAssertions soft = new SoftAssertions();
        for (int i = 0; i < expected.size(); i++) {
            String[] f = out.get(i).split("\t", -1);
            soft.assertThat(out.get(i)).as("%s: the admin resource never served", sent.get(i)).doesNotContain("ADMIN-SECRET");
            soft.assertThat(f[1]).as("%s: %s", sent.get(i), out.get(i)).isEqualTo(expected.get(sent.get(i)));
            if (f[1].equals("403")) {
                soft.assertThat(f[2]).as("%s", sent.get(i)).isEqualTo("RBAC: access denied");
            }
        }
        // Istio does not normalize case (its docs: a case-insensitive backend needs its own
        // normalization); this backend is case-sensitive, so /ADMIN is another resource and
        // reaches it unchanged.
        soft.assertThat(out.get(sent.size() - 1)).matches("path:/ADMIN\t200\tb-\\d GET /ADMIN");
        soft.assertAll();
    }

    @Test
    @Order(11)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void jwtOnlyPathTakesAValidTokenAndRefusesExpiredForgedAndMissingOnes() {
        applyPolicies();
        long now = System.currentTimeMillis() / 1000;
        String valid = Jwts.token(TRUSTED, "it-1", ISSUER, "alice", now + 3600);
        String expired = Jwts.token(TRUSTED, "it-1", ISSUER, "alice", now - 3600);
        String forged = Jwts.token(FORGER, "it-1", ISSUER, "alice", now + 3600);
        String bob = Jwts.token(TRUSTED, "it-1", ISSUER, "bob", now + 3600);
        String url = "http://web:8080/jwt/data";
        List<String> out = calls(
                url + " -H 'Authorization: Bearer " + valid + "'",
                url + " -H 'Authorization: Bearer " + expired + "'",
                url + " -H 'Authorization: Bearer " + forged + "'",
                url,
                url + " -H 'Authorization: Bearer " + bob + "'");
        assertThat(out).hasSize(5);
        assertThat(out.get(0)).as("valid").matches("b-\\d GET /jwt/data 200");
        assertThat(out.get(1)).as("expired").isEqualTo("Jwt is expired 401");
        assertThat(out.get(2)).as("forged").isEqualTo("Jwt verification fails 401");
        assertThat(out.get(3)).as("no token: RequestAuthentication lets it pass, the policy denies it")
                .isEqualTo("RBAC: access denied 403");
        assertThat(out.get(4)).as("a valid token of another principal").isEqualTo("RBAC: access denied 403");
    }

    // ------------------------------------------------------------------ helpers

    /** The L7 policies, applied once and awaited: a POST denied, a GET allowed. */
    private static void applyPolicies() {
        if (applied.add("authorization.yaml")) {
            mesh.apply(resource("authorization.yaml").replace("${JWKS}", Jwts.jwks(TRUSTED, "it-1")));
        }
        awaitCodes("the policies in force", Duration.ofSeconds(60), "-X POST http://web:8080/p", "http://web:8080/p", "403 200");
    }

    /**
     * Waits until the curl calls (each given as its arguments) answer {@code codes}
     * (space-separated, in order): for config that shows only in behaviour.
     */
    private static void awaitCodes(String what, Duration timeout, String... callsThenCodes) {
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < callsThenCodes.length - 1; i++) {
            script.append("curl -sS -m 3 -o /dev/null -w '%{http_code} ' ").append(callsThenCodes[i]).append("; ");
        }
        String codes = callsThenCodes[callsThenCodes.length - 1];
        mesh.eventually(what + " (" + codes + ")", timeout, () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(20), script.toString());
            return r.ok() && r.out().strip().equals(codes);
        });
    }

    /** One curl per argument list from the client pod; one line each: "<body> <status>", the body's newlines made spaces. */
    private static List<String> calls(String... curlArgs) {
        StringBuilder script = new StringBuilder();
        for (String a : curlArgs) {
            script.append("curl -sS -m 5 -w ' %{http_code}' ").append(a).append(" | tr '\\n' ' '; echo; ");
        }
        return lines(client(script.toString()).out()).stream().map(l -> l.replaceAll("\\s+", " ").strip()).toList();
    }

    private static Ambitctl.Result client(String script) {
        // set -f: the URL lists are expanded unquoted, and a '?' must not glob.
        Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(110), "set -f; " + script);
        if (!r.ok()) {
            // Diagnostics only on failure: each is five more ambitctl runs.
            throw new AssertionError(r + "\n" + mesh.diagnostics());
        }
        return r;
    }

    /** The raw client's lines for {@code cases}, one connection each, from the client pod to hostile:8080 or web:8080. */
    private static List<String> raw(String... cases) {
        String host = cases[0].startsWith("path:") ? "web" : "hostile";
        StringBuilder cmd = new StringBuilder("node " + RESOURCES.resolve("raw.js") + " " + host + " 8080");
        for (String c : cases) {
            cmd.append(" '").append(c).append("'");
        }
        List<String> out = lines(client(cmd.toString()).out());
        assertThat(out).as("one line per case").hasSize(cases.length);
        return out;
    }

    /**
     * When (epoch ms, sorted) requests whose path starts with {@code prefix} reached each backend
     * pod since {@code since}: the pods asked from the client pod by pod IP (the direct L4 path,
     * not the waypoint), one exec for the three.
     */
    private static Map<String, List<Long>> seen(String prefix, long since) {
        String query = URLEncoder.encode(prefix, StandardCharsets.UTF_8);
        StringBuilder script = new StringBuilder();
        for (Map.Entry<String, String> p : podIps.entrySet()) {
            script.append("printf '%s ' ").append(p.getKey()).append("; curl -sS -m 3 'http://").append(p.getValue())
                    .append(":8080/_seen?prefix=").append(query).append("'; ");
        }
        Map<String, List<Long>> out = new TreeMap<>();
        for (String line : lines(client(script.toString()).out())) {
            String[] f = line.split(" ", 2);
            List<Long> times = new ArrayList<>();
            try {
                LocalMesh.JSON.readTree(f[1]).path("times").forEach(t -> times.add(t.asLong()));
            } catch (IOException e) {
                throw new AssertionError("not JSON from " + f[0] + ": " + line, e);
            }
            out.put(f[0], times.stream().filter(t -> t >= since).sorted().toList());
        }
        assertThat(out).as("every backend answered /_seen").containsOnlyKeys(BACKENDS);
        return out;
    }

    /**
     * Applies {@code file} (once) and waits until the waypoint holds, for each service, a
     * cluster {@code inForce} accepts; a cluster the waypoint refused fails at once with its reason.
     */
    private static void applyAndAwait(String file, Map<String, Predicate<JsonNode>> inForce) {
        if (applied.contains(file + " in force")) {
            return;
        }
        if (applied.add(file)) {
            mesh.apply(resource(file));
        }
        String state = mesh.eventually(file + " in force in the waypoint", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = mesh.exec(NS, waypointPod, Duration.ofSeconds(10), "curl", "-sS", "-m", "5",
                    "http://127.0.0.1:15000/config_dump");
            Map<String, JsonNode> clusters = new HashMap<>();
            for (JsonNode dump : LocalMesh.json(r).path("configs")) {
                for (JsonNode c : dump.path("dynamic_active_clusters")) {
                    clusters.put(c.path("cluster").path("name").asText(), c);
                }
            }
            for (Map.Entry<String, Predicate<JsonNode>> e : inForce.entrySet()) {
                JsonNode c = clusters.get("outbound|8080||" + fqdn(e.getKey()));
                if (c != null && c.has("error_state")) {
                    return "the waypoint refused (NACK) the cluster of " + e.getKey() + ": " + c.path("error_state");
                }
                if (c == null || !e.getValue().test(c.path("cluster"))) {
                    throw new AssertionError("cluster of " + e.getKey() + " not updated yet: " + c);
                }
            }
            return "in force";
        });
        assertThat(state).as("%s in the waypoint", file).isEqualTo("in force");
        applied.add(file + " in force");
    }

    private static Metrics waypointMetrics() {
        Ambitctl.Result r = mesh.exec(NS, waypointPod, Duration.ofSeconds(10), "curl", "-sS", "-m", "5",
                "http://127.0.0.1:15020/metrics");
        assertThat(r.ok()).as("the waypoint's metrics: %s", r).isTrue();
        return Metrics.parse(r.out());
    }

    private static double rejected(Metrics m) {
        return m.sum("ambit_waypoint_downstream_rejected_total", s -> true);
    }

    private static String fqdn(String service) {
        return service + "." + NS + ".svc.cluster.local";
    }

    /** curl's URL list: {@code n} times {@code url}, fetched in turn on keep-alive connections. */
    private static String urls(int n, String url) {
        return "$(for i in $(seq " + n + "); do printf -- '%s '; done)".formatted(url);
    }

    private static String sequential(int n, String url) {
        return "curl -sS -m 100 " + urls(n, url);
    }

    private static List<String> lines(String out) {
        return Arrays.stream(out.split("\n")).map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    /** The pod names the answers start with. */
    private static List<String> podsOf(String out) {
        return lines(out).stream().map(l -> l.split(" ")[0]).toList();
    }

    private static Map<String, Long> count(List<String> values) {
        return values.stream().collect(Collectors.groupingBy(v -> v, TreeMap::new, Collectors.counting()));
    }

    private static int repeats(List<String> pods) {
        int n = 0;
        for (int i = 1; i < pods.size(); i++) {
            n += pods.get(i).equals(pods.get(i - 1)) ? 1 : 0;
        }
        return n;
    }

    private static List<Long> relative(List<Long> times, long start) {
        return times.stream().map(t -> t - start).toList();
    }

    private static String resource(String name) {
        try {
            return Files.readString(RESOURCES.resolve(name), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
