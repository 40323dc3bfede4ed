package dev.ambit.istiod.webhook;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.config.Limits;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ObjectDecoder;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The validating admission webhook (Kubernetes mode): HTTPS on {@value #DEFAULT_PORT}
 * (Istio's webhook port), {@code POST /validate}, {@code AdmissionReview}
 * {@code admission.k8s.io/v1}. Each object is checked by the same {@link ObjectDecoder}
 * the config sources use, so what the webhook admits the sources accept: an invalid object
 * is denied ({@code allowed: false}, code 400) with {@code field: reason} of every problem
 * in {@code status.message}; valid objects, kinds istiod-lite does not read, and DELETEs
 * are allowed. An object over {@link Limits#MAX_OBJECT_BYTES} is denied naming the limit.
 * Gateway API objects are judged only when they are the mesh's ({@link GatewayApiScope}:
 * waypoint Gateways, HTTPRoutes and GRPCRoutes attached to a Service); a waypoint Gateway
 * without a usable HBONE listener is denied too.
 *
 * <p>Register it with {@link WebhookConfiguration} ({@code failurePolicy: Fail} for Istio's
 * groups): objects written while it is unreachable are refused by the API server, and any
 * that get through anyway still fail closed in the config source.
 */
public final class ValidationWebhook implements AutoCloseable {

    /** Istio's webhook port. */
    public static final int DEFAULT_PORT = IstioPorts.WEBHOOK;
    public static final String PATH = "/validate";
    static final String ORIGIN = "admission";

    private static final Logger log = LoggerFactory.getLogger(ValidationWebhook.class);

    /**
     * Longest a request may take to arrive, and a response to leave, in seconds: the API
     * server gives up on a review after {@code timeoutSeconds: 10}, so a connection still
     * sending (or not reading) after that is a slow client holding one of the 2 threads.
     * The JDK's server closes such connections (and never-used ones) after this time.
     */
    static final long MAX_EXCHANGE_SECONDS = 10;

    static {
        // The JDK's HTTP server reads its timeouts from these system properties once, when its
        // classes load (istiod-lite loads them here first); an operator's own -D value wins.
        for (String p : new String[] {"sun.net.httpserver.maxReqTime", "sun.net.httpserver.maxRspTime"}) {
            if (System.getProperty(p) == null) {
                System.setProperty(p, Long.toString(MAX_EXCHANGE_SECONDS));
            }
        }
    }
    /** An UPDATE carries object and oldObject, each up to the object limit, plus the review around them. */
    private static final int MAX_REVIEW_BYTES = 2 * Limits.MAX_OBJECT_BYTES + 64 * 1024;

    private final ObjectMapper json = new ObjectMapper();
    private final ObjectDecoder decoder = new ObjectDecoder();
    private final HttpsServer server;
    private final ExecutorService executor;
    private final Counter.Family reviews;

    private ValidationWebhook(HttpsServer server, ExecutorService executor, MetricsRegistry metrics) {
        this.server = server;
        this.executor = executor;
        this.reviews = metrics.counter("ambit_istiod_webhook_reviews_total",
                "Admission reviews answered by the validating webhook, by result.", "result");
    }

    /**
     * Listens on {@code address} with the serving certificate {@code chain} (leaf first) and
     * its {@code key}.
     *
     * @throws IOException when the address cannot be bound
     */
    public static ValidationWebhook start(InetSocketAddress address, PrivateKey key, List<X509Certificate> chain,
                                          MetricsRegistry metrics) throws IOException {
        requireNonNull(address, "address");
        requireNonNull(key, "key");
        requireNonNull(chain, "chain");
        requireNonNull(metrics, "metrics");
        SSLContext tls;
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("serving", key, new char[0], chain.toArray(X509Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(store, new char[0]);
            tls = SSLContext.getInstance("TLSv1.3");
            tls.init(kmf.getKeyManagers(), null, null);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("validating webhook: cannot use the serving certificate: " + e.getMessage(), e);
        }
        HttpsServer server;
        try {
            server = HttpsServer.create(address, 64);
        } catch (IOException e) {
            throw new IOException("validating webhook: cannot listen on " + address + ": " + e.getMessage()
                    + " (is another process using the port? see --webhook-port)", e);
        }
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
        // Reviews decode objects up to 1.5 MiB: off the accept thread, a few at a time.
        ExecutorService executor = Executors.newFixedThreadPool(2,
                Thread.ofPlatform().name("ambit-webhook-", 0).daemon().factory());
        server.setExecutor(executor);
        ValidationWebhook webhook = new ValidationWebhook(server, executor, metrics);
        server.createContext(PATH, webhook::handle);
        server.start();
        return webhook;
    }

    public InetSocketAddress localAddress() {
        return server.getAddress();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!"POST".equals(exchange.getRequestMethod()) || !PATH.equals(exchange.getRequestURI().getPath())) {
                reply(exchange, 404, "text/plain", "POST " + PATH + " with an AdmissionReview\n");
                return;
            }
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readNBytes(MAX_REVIEW_BYTES + 1);
            }
            if (body.length > MAX_REVIEW_BYTES) {
                reviews.labels("too_large").inc();
                reply(exchange, 413, "text/plain", Limits.overLimit("the AdmissionReview", body.length,
                        MAX_REVIEW_BYTES, "two objects at the object size limit") + "\n");
                return;
            }
            Map<String, Object> answer;
            try {
                answer = review(body);
            } catch (IOException | RuntimeException e) {
                reviews.labels("malformed").inc();
                reply(exchange, 400, "text/plain", "not an AdmissionReview admission.k8s.io/v1: " + e.getMessage() + "\n");
                return;
            }
            reply(exchange, 200, "application/json", json.writeValueAsString(answer));
        }
    }

    /** The answer to one AdmissionReview. */
    @SuppressWarnings("unchecked")
    Map<String, Object> review(byte[] body) throws IOException {
        Map<String, Object> in = json.readValue(body, Map.class);
        if (!(in.get("request") instanceof Map<?, ?> request) || !(request.get("uid") instanceof String uid)) {
            throw new IllegalArgumentException("no request.uid");
        }
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("uid", uid);
        String operation = String.valueOf(request.get("operation"));
        List<ConfigError> errors = List.of();
        if (!"DELETE".equals(operation) && request.get("object") instanceof Map<?, ?> object
                && !GatewayApiScope.othersOnly(object)) {
            String namespace = request.get("namespace") instanceof String ns && !ns.isEmpty() ? ns : "default";
            ObjectDecoder.Result decoded = decoder.decode(ORIGIN, withName(object, request), namespace);
            errors = decoded.errors().isEmpty() && decoded.object() != null
                    ? GatewayApiScope.problems(ORIGIN, decoded.kind(), decoded.object()) : decoded.errors();
        }
        if (errors.isEmpty()) {
            response.put("allowed", true);
            reviews.labels("allowed").inc();
        } else {
            StringBuilder message = new StringBuilder();
            for (ConfigError e : errors) {
                if (!message.isEmpty()) {
                    message.append("; ");
                }
                message.append(e.field().isEmpty() ? "" : e.field() + ": ").append(e.reason());
            }
            response.put("allowed", false);
            response.put("status", Map.of("code", 400, "reason", "Invalid", "message",
                    "istiod-lite: " + errors.getFirst().object() + " is invalid: " + message));
            reviews.labels("denied").inc();
            log.info("webhook denied {} {}: {}", operation, errors.getFirst().object(), message);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("apiVersion", "admission.k8s.io/v1");
        out.put("kind", "AdmissionReview");
        out.put("response", response);
        return out;
    }

    /**
     * The object as the API server will store it: a CREATE with {@code generateName} has no
     * name yet, and the request's name is authoritative otherwise.
     */
    private static Map<?, ?> withName(Map<?, ?> object, Map<?, ?> request) {
        if (!(object.get("metadata") instanceof Map<?, ?> meta) || meta.get("name") instanceof String n && !n.isEmpty()) {
            return object;
        }
        String name = request.get("name") instanceof String n && !n.isEmpty() ? n
                : meta.get("generateName") instanceof String g && !g.isEmpty() ? g + "x" : null;
        if (name == null) {
            return object;
        }
        Map<Object, Object> copy = new LinkedHashMap<>(object);
        Map<Object, Object> metaCopy = new LinkedHashMap<>(meta);
        metaCopy.put("name", name);
        copy.put("metadata", metaCopy);
        return copy;
    }

    private static void reply(HttpExchange exchange, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
