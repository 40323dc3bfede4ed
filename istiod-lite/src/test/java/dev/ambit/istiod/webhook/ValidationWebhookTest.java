package dev.ambit.istiod.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.config.Limits;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.ca.CertificateAuthority;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GroupVersionKind;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReviewBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.io.OutputStream;
import java.net.Socket;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The validating webhook over real HTTPS, as the API server calls it: AdmissionReview
 * admission.k8s.io/v1 (fabric8's model), the serving certificate issued by the mesh CA for
 * {@code istiod-lite.istio-system.svc} and verified against the CA root (the caBundle).
 */
class ValidationWebhookTest {

    private static final String SERVICE_HOST = "istiod-lite.istio-system.svc";
    private final KubernetesSerialization serialization = new KubernetesSerialization();

    @TempDir
    Path tmp;

    private ValidationWebhook webhook;
    private SSLContext tls;
    private CertificateAuthority ca;

    @BeforeEach
    void start() throws Exception {
        ca = CertificateAuthority.builder(tmp.resolve("ca")).trustDomain("cluster.local").build();
        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
        gen.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair key = gen.generateKeyPair();
        List<X509Certificate> chain = ca.issueServing(key.getPublic(), List.of(SERVICE_HOST), Duration.ofDays(1));
        webhook = ValidationWebhook.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), key.getPrivate(),
                chain, MetricsRegistry.create());

        // Trust only the caBundle of the generated configuration, and check the host name
        // the API server would (the Service's), not the loopback address connected to.
        String yaml = WebhookConfiguration.yaml("istiod-lite", "istio-system", ca.trustBundlePem());
        String caBundle = yaml.lines().filter(l -> l.strip().startsWith("caBundle:")).findFirst().orElseThrow()
                .strip().substring("caBundle:".length()).strip();
        X509Certificate root = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(
                new ByteArrayInputStream(java.util.Base64.getDecoder().decode(caBundle)));
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("root", root);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        tls = SSLContext.getInstance("TLSv1.3");
        tls.init(null, tmf.getTrustManagers(), null);
    }

    @AfterEach
    void stop() {
        if (webhook != null) {
            webhook.close();
        }
    }

    @Test
    void configurationFailsClosedAndPointsAtTheService() {
        String yaml = WebhookConfiguration.yaml("istiod-lite", "istio-system", ca.trustBundlePem());
        assertThat(yaml).contains("kind: ValidatingWebhookConfiguration").contains("failurePolicy: Fail")
                .contains("admissionReviewVersions: [v1]").contains("sideEffects: None")
                .contains("service: {name: istiod-lite, namespace: istio-system, path: /validate, port: 443}")
                .contains("apiGroups: [security.istio.io, networking.istio.io, telemetry.istio.io]");
    }

    @Test
    void validPolicyIsAllowed() throws Exception {
        AdmissionResponse r = review("CREATE", policy("ALLOW", List.of("cluster.local/ns/shop/sa/frontend")));
        assertThat(r.getUid()).isEqualTo("uid-1");
        assertThat(r.getAllowed()).isTrue();
    }

    @Test
    void invalidPolicyIsDeniedWithFieldAndReason() throws Exception {
        AdmissionResponse r = review("UPDATE", policy("PERMIT", List.of("cluster.local/ns/shop/sa/frontend")));
        assertThat(r.getAllowed()).isFalse();
        assertThat(r.getStatus().getCode()).isEqualTo(400);
        assertThat(r.getStatus().getMessage()).contains("AuthorizationPolicy shop/backend-allow-frontend")
                .contains("spec.action: unknown value \"PERMIT\"").contains("expected one of: ALLOW, AUDIT, CUSTOM, DENY");
    }

    @Test
    void virtualServiceWithAnInvalidRe2RegexOrNegativeWeightIsDenied() throws Exception {
        GenericKubernetesResource vs = new GenericKubernetesResource();
        vs.setApiVersion("networking.istio.io/v1");
        vs.setKind("VirtualService");
        vs.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("reviews")
                .withNamespace("shop").build());
        vs.setAdditionalProperty("spec", Map.of("hosts", List.of("reviews"), "http", List.of(Map.of(
                "match", List.of(Map.of("uri", Map.of("regex", "/a(?!b)"))),
                "route", List.of(Map.of("destination", Map.of("host", "reviews"), "weight", -1),
                        Map.of("destination", Map.of("host", "ratings"), "weight", 5))))));
        AdmissionResponse r = review("CREATE", vs);
        assertThat(r.getAllowed()).isFalse();
        assertThat(r.getStatus().getMessage()).contains("VirtualService shop/reviews")
                .contains("spec.http[0].match[0].uri.regex: invalid RE2 regex \"/a(?!b)\"")
                .contains("spec.http[0].route[0].weight: negative weight -1");
    }

    @Test
    void gatewayApiWebhookCoversTheMeshKindsAndFailsOpen() {
        String yaml = WebhookConfiguration.yaml("istiod-lite", "istio-system", ca.trustBundlePem());
        String gatewayApi = yaml.substring(yaml.indexOf("- name: gateway-validation.istiod-lite.istio-system.ambit.dev"));
        assertThat(gatewayApi).contains("failurePolicy: Ignore").contains("apiGroups: [gateway.networking.k8s.io]")
                .contains("resources: [gateways, httproutes, grpcroutes]")
                .contains("service: {name: istiod-lite, namespace: istio-system, path: /validate, port: 443}");
        assertThat(yaml.substring(0, yaml.indexOf("- name: gateway-validation"))).contains("failurePolicy: Fail");
    }

    @Test
    void meshGrpcRouteAndHttpRouteWithAnInvalidRegexAreDeniedNamingTheField() throws Exception {
        Map<String, Object> grpcSpec = Map.of("parentRefs", List.of(Map.of("kind", "Service", "name", "ratings")),
                "rules", List.of(Map.of("matches", List.of(Map.of("method", Map.of("type", "RegularExpression",
                        "service", "helloworld\\.(?=Greeter)"))), "backendRefs",
                        List.of(Map.of("name", "ratings", "port", 7070, "weight", -2)))));
        AdmissionResponse grpc = review("CREATE", gatewayApi("GRPCRoute", "ratings", grpcSpec));
        assertThat(grpc.getAllowed()).isFalse();
        assertThat(grpc.getStatus().getCode()).isEqualTo(400);
        assertThat(grpc.getStatus().getMessage()).contains("GRPCRoute shop/ratings")
                .contains("spec.rules[0].matches[0].method.service: invalid RE2 regex")
                .contains("spec.rules[0].backendRefs[0].weight: weight -2 (expected: 0 to 1000000)");

        Map<String, Object> httpSpec = Map.of("parentRefs", List.of(Map.of("group", "", "kind", "Service",
                        "name", "reviews")),
                "rules", List.of(Map.of("matches", List.of(Map.of("path", Map.of("type", "RegularExpression",
                        "value", "/a(?!b)"))), "backendRefs", List.of(Map.of("name", "reviews", "port", 9080)))));
        AdmissionResponse http = review("UPDATE", gatewayApi("HTTPRoute", "reviews", httpSpec));
        assertThat(http.getAllowed()).isFalse();
        assertThat(http.getStatus().getMessage()).contains("HTTPRoute shop/reviews")
                .contains("spec.rules[0].matches[0].path.value: invalid RE2 regex \"/a(?!b)\"");

        Map<String, Object> fixed = Map.of("parentRefs", List.of(Map.of("kind", "Service", "name", "ratings")),
                "rules", List.of(Map.of("matches", List.of(Map.of("method", Map.of("service", "helloworld.Greeter",
                        "method", "SayHello"))), "backendRefs", List.of(Map.of("name", "ratings", "port", 7070)))));
        assertThat(review("CREATE", gatewayApi("GRPCRoute", "ratings", fixed)).getAllowed()).isTrue();
    }

    @Test
    void gatewayApiObjectsOfOtherImplementationsAreNotJudged() throws Exception {
        // The same non-RE2 regex on a route of some ingress Gateway: another implementation's
        // object, its regex flavour is its own.
        Map<String, Object> ingressRoute = Map.of("parentRefs", List.of(Map.of("name", "public-gateway")),
                "rules", List.of(Map.of("matches", List.of(Map.of("path", Map.of("type", "RegularExpression",
                        "value", "/a(?!b)"))), "backendRefs", List.of(Map.of("name", "reviews", "port", 9080)))));
        assertThat(review("CREATE", gatewayApi("HTTPRoute", "ingress", ingressRoute)).getAllowed()).isTrue();
        Map<String, Object> otherClass = Map.of("gatewayClassName", "nginx",
                "listeners", List.of(Map.of("name", "http", "port", 80, "protocol", "HTTP")));
        assertThat(review("CREATE", gatewayApi("Gateway", "public-gateway", otherClass)).getAllowed()).isTrue();
    }

    @Test
    void waypointGatewayWithoutAnHboneListenerIsDenied() throws Exception {
        Map<String, Object> noHbone = Map.of("gatewayClassName", "istio-waypoint",
                "listeners", List.of(Map.of("name", "mesh", "port", 15008, "protocol", "HTTP")));
        AdmissionResponse denied = review("CREATE", gatewayApi("Gateway", "waypoint", noHbone));
        assertThat(denied.getAllowed()).isFalse();
        assertThat(denied.getStatus().getMessage()).contains("Gateway shop/waypoint")
                .contains("spec.listeners: no listener with port 15008 and protocol HBONE")
                .contains("spec.listeners[0] (mesh): port 15008, protocol HTTP");
        Map<String, Object> valid = Map.of("gatewayClassName", "istio-waypoint",
                "listeners", List.of(Map.of("name", "mesh", "port", 15008, "protocol", "HBONE")));
        assertThat(review("UPDATE", gatewayApi("Gateway", "waypoint", valid)).getAllowed()).isTrue();
    }

    private static GenericKubernetesResource gatewayApi(String kind, String name, Map<String, Object> spec) {
        GenericKubernetesResource r = new GenericKubernetesResource();
        r.setApiVersion("gateway.networking.k8s.io/v1");
        r.setKind(kind);
        r.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).withNamespace("shop")
                .build());
        r.setAdditionalProperty("spec", spec);
        return r;
    }

    @Test
    void deleteIsAllowedEvenOfAnInvalidObject() throws Exception {
        assertThat(review("DELETE", policy("PERMIT", List.of())).getAllowed()).isTrue();
    }

    @Test
    void objectOverTheSizeLimitIsDeniedNamingIt() throws Exception {
        List<String> principals = new ArrayList<>();
        for (int i = 0; principals.size() * 40 < Limits.MAX_OBJECT_BYTES + 100_000; i++) {
            principals.add("cluster.local/ns/tenant-" + (i % 997) + "/sa/client-" + i);
        }
        AdmissionResponse r = review("CREATE", policy("DENY", principals));
        assertThat(r.getAllowed()).isFalse();
        assertThat(r.getStatus().getCode()).isEqualTo(400);
        assertThat(r.getStatus().getMessage()).contains("over the limit of " + Limits.MAX_OBJECT_BYTES + " bytes");
    }

    @Test
    void slowClientsCannotHoldTheWebhook() throws Exception {
        // As many slow clients as the webhook has threads: each sends its headers and a piece
        // of the body, then stalls.
        List<SSLSocket> slow = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < 2; i++) {
                SSLSocket s = connect();
                s.getOutputStream().write(("POST /validate HTTP/1.1\r\nHost: " + SERVICE_HOST
                        + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\"")
                        .getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                slow.add(s);
            }
            // The review's own 10 s start when it connects: it must not time out in the queue
            // just as the stalled ones free the threads.
            Thread.sleep(5_000);
            long start = System.nanoTime();
            // A real review still gets its answer once the stalled ones time out.
            assertThat(review("CREATE", policy("ALLOW", List.of("cluster.local/ns/shop/sa/frontend"))).getAllowed())
                    .isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - start))
                    .isLessThan(Duration.ofSeconds(ValidationWebhook.MAX_EXCHANGE_SECONDS + 15));
            for (SSLSocket s : slow) {
                s.setSoTimeout(30_000);
                int read;
                try {
                    read = s.getInputStream().read();
                } catch (java.net.SocketException reset) {
                    read = -1; // a reset is the server closing it too
                }
                assertThat(read).as("the server closed the stalled connection").isEqualTo(-1);
            }
        } finally {
            for (SSLSocket s : slow) {
                s.close();
            }
        }
    }

    private SSLSocket connect() throws Exception {
        Socket plain = new Socket(InetAddress.getLoopbackAddress(), webhook.localAddress().getPort());
        SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket(plain, SERVICE_HOST,
                webhook.localAddress().getPort(), true);
        socket.setSoTimeout(30_000); // without server timeouts the handshake waits for a free thread forever
        SSLParameters params = socket.getSSLParameters();
        params.setServerNames(List.of(new SNIHostName(SERVICE_HOST)));
        socket.setSSLParameters(params);
        socket.startHandshake();
        return socket;
    }

    /**
     * POST /validate over TLS to the loopback listener, verifying the certificate for the
     * Service's name as the API server does (HTTPS endpoint identification, SNI).
     */
    private String post(String body) throws Exception {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (Socket plain = new Socket(InetAddress.getLoopbackAddress(), webhook.localAddress().getPort());
             SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket(plain, SERVICE_HOST,
                     webhook.localAddress().getPort(), true)) {
            socket.setSoTimeout(30_000);
            SSLParameters params = socket.getSSLParameters();
            params.setEndpointIdentificationAlgorithm("HTTPS");
            params.setServerNames(List.of(new SNIHostName(SERVICE_HOST)));
            socket.setSSLParameters(params);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /validate?timeout=10s HTTP/1.1\r\nHost: " + SERVICE_HOST + "\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + bytes.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(bytes);
            out.flush();
            String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(response).startsWith("HTTP/1.1 200");
            return response.substring(response.indexOf("\r\n\r\n") + 4);
        }
    }

    private static GenericKubernetesResource policy(String action, List<String> principals) {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("selector", Map.of("matchLabels", Map.of("app", "backend")));
        spec.put("action", action);
        spec.put("rules", List.of(Map.of("from", List.of(Map.of("source", Map.of("principals", principals))))));
        GenericKubernetesResource r = new GenericKubernetesResource();
        r.setApiVersion("security.istio.io/v1");
        r.setKind("AuthorizationPolicy");
        r.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                .withName("backend-allow-frontend").withNamespace("shop").build());
        r.setAdditionalProperty("spec", spec);
        return r;
    }

    private AdmissionResponse review(String operation, GenericKubernetesResource object) throws Exception {
        AdmissionReview review = new AdmissionReviewBuilder()
                .withApiVersion("admission.k8s.io/v1").withKind("AdmissionReview")
                .withNewRequest()
                .withUid("uid-1")
                .withOperation(operation)
                .withKind(new GroupVersionKind("security.istio.io", "AuthorizationPolicy", "v1"))
                .withNamespace("shop")
                .withName("backend-allow-frontend")
                .withObject("DELETE".equals(operation) ? null : object)
                .withOldObject("DELETE".equals(operation) ? object : null)
                .endRequest()
                .build();
        String answerJson = post(serialization.asJson(review));
        AdmissionReview answer = serialization.unmarshal(answerJson, AdmissionReview.class);
        assertThat(answer.getApiVersion()).isEqualTo("admission.k8s.io/v1");
        assertThat(answer.getKind()).isEqualTo("AdmissionReview");
        return answer.getResponse();
    }
}
