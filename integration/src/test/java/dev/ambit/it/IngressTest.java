package dev.ambit.it;

import static dev.ambit.it.IngressYaml.APP_HOST;
import static dev.ambit.it.IngressYaml.GATEWAY_NS;
import static dev.ambit.it.IngressYaml.MTLS_HOST;
import static dev.ambit.it.IngressYaml.NS;
import static dev.ambit.it.IngressYaml.PASSTHROUGH_HOST;
import static dev.ambit.it.IngressYaml.REDIRECT_HOST;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The request lifecycle from a user outside the mesh (issue 16, must-show 1, 3 and 4): the
 * ingress gateway {@code ambitctl local up} installs ({@code istio-ingressgateway} in
 * {@code istio-system}, a Service of type LoadBalancer), Istio Gateways and VirtualServices as
 * Istio's secure-ingress tasks write them, credentials in Secrets, and every check made from
 * the machine itself with curl and openssl against the Service's EXTERNAL-IP
 * ({@code curl --resolve app.example.com:443:IP --cacert ...}), as a user would.
 * One cluster (shared with the other classes of its configuration) and one namespace for the
 * class; the tests run in order, the last ones change the Secrets and add bad Gateways.
 */
// Before WaypointTest (20), which takes the same cluster configuration: one `local up` for the three.
@Order(18)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class IngressTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    static final String GATEWAY_ID = Yaml.SPIFFE + GATEWAY_NS + "/sa/istio-ingressgateway-service-account";
    static final String FRONTEND_ID = Yaml.SPIFFE + NS + "/sa/frontend";
    private static final Path CERTS = Ambitctl.REPO.resolve("integration/target/it-ingress-certs");

    private static Certs certs;
    private static Certs.Pair ca;
    private static Certs.Pair app;
    private static Certs.Pair clientCa;
    private static Certs.Pair passthroughCa;
    private static String ip;

    @BeforeAll
    static void deploy() {
        certs = Certs.in(CERTS);
        ca = certs.ca("ingress-ca");
        app = certs.server("app", ca, APP_HOST);
        Certs.Pair mtls = certs.server("mtls", ca, MTLS_HOST);
        clientCa = certs.ca("client-ca");
        passthroughCa = certs.ca("passthrough-ca");
        Certs.Pair passthrough = certs.server("passthrough", passthroughCa, PASSTHROUGH_HOST);

        mesh.apply(IngressYaml.app(passthrough));
        mesh.apply(IngressYaml.tlsSecret("app-credential", app) + IngressYaml.mutualSecret("mtls-credential", mtls, clientCa)
                + IngressYaml.GATEWAYS);
        mesh.awaitRunning(NS, 5, Duration.ofSeconds(90));
        for (String pod : List.of("frontend", "backend", "orders-v1", "orders-v2", "passthrough")) {
            mesh.awaitEnrolled(NS, pod);
        }
        ip = externalIp(GATEWAY_NS, "istio-ingressgateway");
        mesh.eventually("https://" + APP_HOST + "/ answered through the ingress gateway", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = https(APP_HOST, "/");
            return r.ok() && r.out().startsWith("frontend frontend -> backend backend");
        });
    }

    @AfterAll
    static void cleanUp() {
        try {
            // The Secrets live in istio-system, which outlives the class: delete them by name.
            mesh.delete(IngressYaml.BROKEN_GATEWAY + IngressYaml.CONFLICTING_GATEWAY + IngressYaml.GATEWAYS
                    + secretStub("app-credential") + secretStub("mtls-credential") + secretStub("malformed-credential")
                    + secretStub("conflict-credential"));
        } finally {
            mesh.deleteNamespace(NS);
        }
    }

    // ------------------------------------------------------------------ must-show 1

    @Test
    @Order(1)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void httpAndHttpsReachTheFrontendWhichCallsTheBackendOverMutualTls() {
        // HTTPS with the Secret's certificate, verified against the test's CA; the answer came
        // through gateway → frontend → backend and back.
        Ambitctl.Result secure = https(APP_HOST, "/");
        assertThat(secure.ok()).as("%s", secure).isTrue();
        assertThat(secure.out()).startsWith("frontend frontend -> backend backend");
        assertThat(servedSerial(APP_HOST)).isEqualTo(Certs.serial(app.cert()));
        // ALPN h2 and http/1.1, TLS 1.2 and 1.3, as Envoy's listeners offer them.
        List<String> tls = List.of("--resolve", APP_HOST + ":443:" + ip, "--cacert", ca.cert().toString());
        assertThat(host(concat(List.of("curl", "-sS", "-m", "10", "--http2", "-o", "/dev/null", "-w", "%{http_version}"),
                concat(tls, "https://" + APP_HOST + "/orders")).toArray(String[]::new)).out()).isEqualTo("2");
        assertThat(code(concat(tls, "--http1.1", "--tlsv1.2", "--tls-max", "1.2", "https://" + APP_HOST + "/orders")))
                .as("TLS 1.2").isEqualTo("200");
        assertThat(code(concat(tls, "--tlsv1.3", "https://" + APP_HOST + "/orders"))).as("TLS 1.3").isEqualTo("200");
        // The same host over plain HTTP on port 80.
        Ambitctl.Result plain = host("curl", "-sS", "-m", "10", "--resolve", APP_HOST + ":80:" + ip,
                "http://" + APP_HOST + "/");
        assertThat(plain.out()).as("%s", plain).startsWith("frontend frontend -> backend backend");

        // What the gateway adds (Envoy's edge behaviour): the client's address, the scheme, a request id.
        JsonNode headers;
        try {
            headers = LocalMesh.JSON.readTree(https(APP_HOST, "/headers").out()).path("headers");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertThat(headers.path("x-forwarded-proto").asText()).as("%s", headers).isEqualTo("https");
        assertThat(headers.path("x-forwarded-for").asText()).as("%s", headers).isNotEmpty();
        assertThat(headers.path("x-request-id").asText()).as("%s", headers).isNotEmpty();
        assertThat(headers.path("host").asText()).as("%s", headers).startsWith(APP_HOST);

        // Each hop over mutual TLS with its own identity: the frontend's agent (node1) saw the
        // gateway's SPIFFE ID, the backend's agent (node2) the frontend's.
        mesh.eventually("node1's agent logging the gateway's identity towards the frontend", Duration.ofSeconds(15),
                () -> mesh.accessLog("node1").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                        && l.path("src.identity").asText().equals(GATEWAY_ID)
                        && l.path("dst.workload").asText().equals("frontend")));
        mesh.eventually("node2's agent logging the frontend's identity towards the backend", Duration.ofSeconds(15),
                () -> mesh.accessLog("node2").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                        && l.path("src.identity").asText().equals(FRONTEND_ID)
                        && l.path("dst.workload").asText().equals("backend")));
        Metrics backendAgent = mesh.metrics("node2");
        assertThat(backendAgent.sum("istio_tcp_connections_opened_total", s -> s.label("reporter").equals("destination")
                && s.label("source_principal").equals(FRONTEND_ID)
                && s.label("connection_security_policy").equals("mutual_tls"))).as("%s", backendAgent.text())
                .isGreaterThanOrEqualTo(1);

        // The gateway's own telemetry: Istio's request metrics with reporter="source".
        String gatewayPod = gatewayPod();
        Metrics gw = mesh.eventually("the gateway's request metrics", Duration.ofSeconds(15), () -> {
            Ambitctl.Result r = mesh.exec(GATEWAY_NS, gatewayPod, Duration.ofSeconds(10), "curl", "-sS", "-m", "5",
                    "http://127.0.0.1:15020/metrics");
            return r.ok() ? Metrics.parse(r.out()) : null;
        });
        assertThat(gw.sum("istio_requests_total", s -> s.label("reporter").equals("source")
                && s.label("source_workload").equals("istio-ingressgateway")
                && s.label("source_principal").equals(GATEWAY_ID)
                && s.label("destination_service").equals("frontend." + NS + ".svc.cluster.local")
                && s.label("response_code").equals("200"))).as("%s", gw.text()).isGreaterThanOrEqualTo(2);
    }

    @Test
    @Order(2)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void ordersSplitNinetyTenWrongHostIs404AndHttpsRedirectIs301() {
        // 400 requests on curl's keep-alive connection, each routed on its own: σ ≈ 1.5 points,
        // so ±5 points is more than 3 σ.
        String url = "https://" + APP_HOST + "/orders";
        List<String> args = new ArrayList<>(List.of("curl", "-sS", "-m", "60", "--resolve", APP_HOST + ":443:" + ip,
                "--cacert", ca.cert().toString()));
        for (int i = 0; i < 400; i++) {
            args.add(url);
        }
        Ambitctl.Result split = Ambitctl.host(Duration.ofSeconds(90), args.toArray(String[]::new));
        assertThat(split.ok()).as("%s", split).isTrue();
        Map<String, Long> versions = Arrays.stream(split.out().strip().split("\n"))
                .collect(Collectors.groupingBy(l -> l.startsWith("orders ") ? l.split(" ")[1] : l, TreeMap::new,
                        Collectors.counting()));
        assertThat(versions).as("only the two versions answer").containsOnlyKeys("v1", "v2");
        assertThat(versions.get("v1") + versions.get("v2")).isEqualTo(400);
        assertThat(versions.get("v1")).as("90/10 within ±5 points: %s", versions).isBetween(340L, 380L);

        // A host no Gateway serves: Envoy's 404 (no virtual host), on HTTP and with a wrong Host over HTTPS.
        assertThat(code("--resolve", "wrong.example.com:80:" + ip, "http://wrong.example.com/")).isEqualTo("404");
        assertThat(code("--resolve", APP_HOST + ":443:" + ip, "--cacert", ca.cert().toString(),
                "-H", "Host: wrong.example.com", "https://" + APP_HOST + "/")).isEqualTo("404");

        // httpsRedirect: 301 to the same host and path over https.
        Ambitctl.Result redirect = host("curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                "--resolve", REDIRECT_HOST + ":80:" + ip, "http://" + REDIRECT_HOST + "/login?next=1");
        assertThat(redirect.out()).as("%s", redirect).isEqualTo("301 https://" + REDIRECT_HOST + "/login?next=1");
    }

    // ------------------------------------------------------------------ must-show 3

    @Test
    @Order(3)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void mutualTlsRequiresAClientCertificateFromTheSecretsCa() {
        Certs.Pair good = certs.client("client", clientCa, "client.example.com");
        Certs.Pair stranger = certs.client("stranger", certs.ca("stranger-ca"), "stranger.example.com");
        List<String> base = List.of("--resolve", MTLS_HOST + ":443:" + ip, "--cacert", ca.cert().toString());

        assertThat(code(concat(base, "https://" + MTLS_HOST + "/"))).as("no client certificate").isEqualTo("000");
        assertThat(code(concat(base, "--cert", stranger.cert().toString(), "--key", stranger.key().toString(),
                "https://" + MTLS_HOST + "/"))).as("a certificate the Secret's ca.crt did not sign").isEqualTo("000");
        Ambitctl.Result ok = host(concat(List.of("curl", "-sS", "-m", "10"), concat(base, "--cert", good.cert().toString(),
                "--key", good.key().toString(), "https://" + MTLS_HOST + "/")).toArray(String[]::new));
        assertThat(ok.out()).as("%s", ok).startsWith("frontend frontend -> backend backend");
    }

    @Test
    @Order(4)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void passthroughBySniReachesThePodThatTerminatesTlsItself() {
        // Verified against the pod's own CA: the gateway did not terminate (its certificates
        // come from another CA), it relayed the bytes to the pod chosen by SNI.
        Ambitctl.Result r = host("curl", "-sS", "-m", "10", "--resolve", PASSTHROUGH_HOST + ":443:" + ip,
                "--cacert", passthroughCa.cert().toString(), "https://" + PASSTHROUGH_HOST + "/");
        assertThat(r.out()).as("%s", r).isEqualTo("passthrough passthrough " + PASSTHROUGH_HOST + "\n");
        // The same port still terminates app.example.com.
        assertThat(https(APP_HOST, "/orders").out()).startsWith("orders ");
    }

    @Test
    @Order(5)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void rotatingTheSecretWhileAClientKeepsCallingFailsNoRequest() throws Exception {
        Certs.Pair renewed = certs.server("app-renewed", ca, APP_HOST);
        String before = Certs.serial(app.cert());
        String after = Certs.serial(renewed.cert());
        assertThat(after).isNotEqualTo(before);
        Path stop = CERTS.resolve("rotation.stop");
        Files.deleteIfExists(stop);
        // A new connection (a new handshake) per request, bounded to 600 requests.
        String loop = "i=0; while [ ! -e '" + stop + "' ] && [ $i -lt 600 ]; do curl -sS -m 5 -o /dev/null"
                + " -w '%{http_code}\\n' --resolve " + APP_HOST + ":443:" + ip + " --cacert '" + ca.cert()
                + "' https://" + APP_HOST + "/orders; i=$((i+1)); sleep 0.05; done";
        Path out = Files.createTempFile("ambit-it-rotation", ".out");
        Process client = new ProcessBuilder("sh", "-c", loop).redirectErrorStream(true).redirectOutput(out.toFile())
                .start();
        try {
            LocalMesh.sleep(1_500);
            mesh.apply(IngressYaml.tlsSecret("app-credential", renewed));
            mesh.eventually("the renewed certificate served to new connections", Duration.ofSeconds(30),
                    () -> after.equals(servedSerial(APP_HOST)));
            assertThat(client.isAlive()).as("the client was still calling when the new certificate arrived").isTrue();
            LocalMesh.sleep(1_500);
        } finally {
            Files.writeString(stop, "");
            if (!client.waitFor(30, TimeUnit.SECONDS)) {
                client.destroyForcibly();
            }
        }
        List<String> codes = Files.readAllLines(out).stream().filter(l -> !l.isBlank()).toList();
        Files.deleteIfExists(out);
        Files.deleteIfExists(stop);
        assertThat(codes).as("requests made during the rotation").hasSizeGreaterThan(20);
        assertThat(codes).as("every request during the rotation").allMatch("200"::equals);
        app = renewed;
    }

    // ------------------------------------------------------------------ must-show 4

    @Test
    @Order(6)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void missingMalformedAndConflictingCredentialsAreReportedWhileTheRestKeepsServing() {
        String served = servedSerial(APP_HOST);
        // A Secret that is not a certificate, and one that does not exist at all.
        mesh.apply(IngressYaml.secret("malformed-credential", "kubernetes.io/tls",
                Map.of("tls.crt", "not a certificate\n", "tls.key", app.keyPem())) + IngressYaml.BROKEN_GATEWAY);
        mesh.eventually("both bad credentials reported by istiod-lite", Duration.ofSeconds(30), () -> {
            String config = debugConfig();
            return config.contains("missing-credential") && config.contains("malformed-credential")
                    && config.contains("tls.crt");
        });
        // A newer Gateway claiming app.example.com:443 with another certificate: the older one keeps it.
        Certs.Pair other = certs.server("conflict", ca, APP_HOST);
        mesh.apply(IngressYaml.tlsSecret("conflict-credential", other) + IngressYaml.CONFLICTING_GATEWAY);
        mesh.eventually("the conflict reported naming both Gateways", Duration.ofSeconds(30), () -> {
            String config = debugConfig();
            return config.contains("conflict-gateway") && config.contains("app-gateway");
        });
        // Everything else keeps serving: the same certificate, the same routes, the other servers.
        assertThat(servedSerial(APP_HOST)).isEqualTo(served);
        assertThat(https(APP_HOST, "/").out()).startsWith("frontend frontend -> backend backend");
        assertThat(host("curl", "-sS", "-m", "10", "--resolve", PASSTHROUGH_HOST + ":443:" + ip, "--cacert",
                passthroughCa.cert().toString(), "https://" + PASSTHROUGH_HOST + "/").out()).startsWith("passthrough ");
        // The bad servers are left out: no handshake for their hosts.
        assertThat(code("--resolve", "missing.example.com:443:" + ip, "--cacert", ca.cert().toString(),
                "https://missing.example.com/")).isEqualTo("000");
        mesh.delete(IngressYaml.BROKEN_GATEWAY + IngressYaml.CONFLICTING_GATEWAY);
    }

    // ------------------------------------------------------------------ helpers

    /** The LoadBalancer address of Service {@code ns/name} ({@code status.loadBalancer.ingress[0].ip}). */
    static String externalIp(String ns, String name) {
        return mesh.eventually("an EXTERNAL-IP for " + ns + "/" + name, Duration.ofSeconds(60), () -> {
            JsonNode svc = LocalMesh.json(Ambitctl.local("get", "svc", "-n", ns, name, "-o", "json"));
            if (svc.has("items")) {
                svc = svc.path("items").path(0);
            }
            String address = svc.path("status").path("loadBalancer").path("ingress").path(0).path("ip").asText();
            return address.isEmpty() ? null : address;
        });
    }

    private static String gatewayPod() {
        return mesh.pods(GATEWAY_NS).stream().map(LocalMesh::name).filter(n -> n.startsWith("istio-ingressgateway"))
                .findFirst().orElseThrow(() -> new AssertionError("no istio-ingressgateway pod in " + GATEWAY_NS
                        + "\n" + mesh.diagnostics()));
    }

    /** curl on the machine: {@code https://HOST/PATH} through the gateway, verified against the test's CA. */
    private static Ambitctl.Result https(String hostName, String path) {
        return host("curl", "-sS", "-m", "10", "--resolve", hostName + ":443:" + ip, "--cacert", ca.cert().toString(),
                "https://" + hostName + path);
    }

    /** The HTTP status curl got ({@code 000}: no HTTP answer, e.g. the handshake failed). */
    private static String code(String... args) {
        return code(List.of(args));
    }

    private static String code(List<String> args) {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"));
        cmd.addAll(args);
        return host(cmd.toArray(String[]::new)).out().strip();
    }

    /** The serial of the certificate the gateway serves for SNI {@code hostName} (openssl s_client). */
    private static String servedSerial(String hostName) {
        Ambitctl.Result r = host("sh", "-c", "openssl s_client -connect " + ip + ":443 -servername " + hostName
                + " </dev/null 2>/dev/null | openssl x509 -noout -serial");
        return r.out().strip();
    }

    /**
     * What istiod-lite reports: objects its sources rejected ({@code /debug/config}) and what the
     * L7 translation left out, each naming object and reason ({@code /debug/l7}'s warnings).
     */
    static String debugConfig() {
        StringBuilder out = new StringBuilder();
        for (String path : new String[] {"/debug/config", "/debug/l7"}) {
            Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(20), "ip", "netns", "exec", "ambit-l-cp",
                    "curl", "-sS", "-m", "5", "http://127.0.0.1:15014" + path);
            assertThat(r.ok()).as(r.toString()).isTrue();
            out.append(r.out()).append('\n');
        }
        return out.toString();
    }

    static Ambitctl.Result host(String... cmd) {
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(60), cmd);
        Ambitctl.trace(r);
        return r;
    }

    private static String secretStub(String name) {
        return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + ", namespace: " + GATEWAY_NS + "}\n---\n";
    }

    private static List<String> concat(List<String> a, String... b) {
        return concat(a, List.of(b));
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
