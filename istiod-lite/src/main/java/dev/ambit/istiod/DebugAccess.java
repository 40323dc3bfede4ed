package dev.ambit.istiod;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.http.HttpEndpoints.Request;
import dev.ambit.common.http.HttpEndpoints.Response;
import dev.ambit.istiod.ca.TokenReviewAuthenticator;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.function.LongSupplier;

/**
 * Who may read {@code /debug/*} on the monitoring port: those endpoints reveal the whole
 * model (every workload, policy and identity), so, as istiod protects its debug interface,
 * they answer only callers whose peer address is loopback, or callers presenting a valid
 * {@code Authorization: Bearer <token>}:
 *
 * <ul>
 *   <li>folder mode, {@code --debug-token-file FILE}: the token in that file (compared in
 *       constant time; without the flag only loopback callers are served);</li>
 *   <li>Kubernetes mode: a service account token of istiod-lite's own namespace
 *       ({@code system:serviceaccount:<namespace>:*}), checked with a TokenReview for
 *       audience {@value TokenReviewAuthenticator#DEFAULT_AUDIENCE}.</li>
 * </ul>
 *
 * A check never runs on the monitoring event loop (which also serves {@code /ready} and
 * {@code /metrics}): it runs on a virtual thread and the response follows asynchronously.
 * Verdicts are remembered for a minute (accepted and rejected alike, at most
 * {@value #MAX_REMEMBERED} tokens each, by SHA-256), so a caller cycling bogus tokens costs at
 * most {@value #MAX_CONCURRENT_CHECKS} API round trips at a time: beyond that it gets 503 at once.
 *
 * A missing or invalid token answers 401, a valid token of someone else 403, a review the
 * API server cannot answer (or too many reviews in flight) 503.
 * {@code /metrics}, {@code /ready} and {@code /healthz} stay open.
 */
final class DebugAccess {

    /** Decides on a presented token: {@link Verdict#OK}, or the status (401, 403, 503) and reason. */
    @FunctionalInterface
    interface TokenCheck {
        Verdict check(String token);
    }

    /** The outcome of checking one token. */
    record Verdict(int status, String reason) {
        static final Verdict OK = new Verdict(200, "");
    }

    private static final long REMEMBER_NANOS = 60_000_000_000L;
    static final int MAX_REMEMBERED = 1000;
    static final int MAX_CONCURRENT_CHECKS = 4;

    private static final Executor CHECKS = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("ambit-debug-token-check-", 0).factory());

    private final TokenCheck check;
    private final String how;
    private final LongSupplier clock;
    private final Map<String, Long> accepted = new ConcurrentHashMap<>();
    /** Rejected tokens: their refusal and when it expires. */
    private final Map<String, Remembered> rejected = new ConcurrentHashMap<>();
    private final Semaphore inFlight = new Semaphore(MAX_CONCURRENT_CHECKS);

    private record Remembered(Response refusal, long until) {}

    private DebugAccess(TokenCheck check, String how, LongSupplier clock) {
        this.check = check;
        this.how = how;
        this.clock = clock;
    }

    /** Loopback callers only. */
    static DebugAccess loopbackOnly() {
        return new DebugAccess(null, "only from loopback (start istiod-lite with --debug-token-file to allow a token)",
                System::nanoTime);
    }

    /** Loopback callers, or the bearer token in {@code file} (read once, trimmed). */
    static DebugAccess tokenFile(Path file) {
        requireNonNull(file, "file");
        String token;
        try {
            token = Files.readString(file, StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            throw new UncheckedIOException("--debug-token-file: cannot read " + file + ": " + e.getMessage(), e);
        }
        if (token.length() < 16) {
            throw new IllegalArgumentException("--debug-token-file: " + file + " holds " + token.length()
                    + " characters (expected: a token of at least 16)");
        }
        byte[] expected = sha256(token);
        return new DebugAccess(t -> MessageDigest.isEqual(sha256(t), expected) ? Verdict.OK
                : new Verdict(401, "invalid token"), "from loopback, or with the token of " + file, System::nanoTime);
    }

    /** Loopback callers, or service account tokens of {@code namespace}, reviewed by the API server. */
    static DebugAccess tokenReview(KubernetesClient client, String namespace) {
        requireNonNull(client, "client");
        requireNonNull(namespace, "namespace");
        return tokenCheck(tokenReviewCheck(t -> TokenReviewAuthenticator.review(client, t,
                List.of(TokenReviewAuthenticator.DEFAULT_AUDIENCE)), namespace),
                "from loopback, or with a service account token of namespace " + namespace, System::nanoTime);
    }

    /** The Kubernetes rule on a review's outcome: authenticated, and a service account of {@code namespace}. */
    static TokenCheck tokenReviewCheck(java.util.function.Function<String, TokenReviewStatus> review, String namespace) {
        String prefix = "system:serviceaccount:" + namespace + ":";
        return token -> {
            TokenReviewStatus status;
            try {
                status = review.apply(token);
            } catch (IllegalStateException e) {
                return new Verdict(503, "cannot review the token: " + e.getMessage());
            }
            if (status == null || !Boolean.TRUE.equals(status.getAuthenticated())) {
                return new Verdict(401, "token rejected by the Kubernetes API server");
            }
            String user = status.getUser() == null ? null : status.getUser().getUsername();
            if (user == null || !user.startsWith(prefix)) {
                return new Verdict(403, "caller " + user + " is not a service account of namespace " + namespace);
            }
            return Verdict.OK;
        };
    }

    static DebugAccess tokenCheck(TokenCheck check, String how, LongSupplier clock) {
        return new DebugAccess(requireNonNull(check, "check"), how, clock);
    }

    /**
     * Completes with {@code null} when the request may be served, otherwise with the refusal.
     * Returns at once: a token check that needs the API server runs on another thread.
     */
    CompletionStage<Response> refusal(Request request) {
        InetSocketAddress peer = request.remoteAddress();
        if (peer != null && peer.getAddress() != null && peer.getAddress().isLoopbackAddress()) {
            return CompletableFuture.completedFuture(null);
        }
        String authorization = request.header("authorization");
        if (check == null || authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return CompletableFuture.completedFuture(Response.status(401, "debug endpoints answer " + how + "\n"));
        }
        String token = authorization.substring(7).trim();
        String key = HexFormat.of().formatHex(sha256(token));
        long now = clock.getAsLong();
        Long until = accepted.get(key);
        if (until != null && until - now > 0) {
            return CompletableFuture.completedFuture(null);
        }
        Remembered no = rejected.get(key);
        if (no != null && no.until() - now > 0) {
            return CompletableFuture.completedFuture(no.refusal());
        }
        if (!inFlight.tryAcquire()) {
            return CompletableFuture.completedFuture(Response.status(503, "debug endpoints: "
                    + MAX_CONCURRENT_CHECKS + " token checks already in flight; retry shortly\n"));
        }
        try {
            return CompletableFuture.supplyAsync(() -> decide(key, token), CHECKS)
                    .whenComplete((r, e) -> inFlight.release());
        } catch (RuntimeException e) {
            inFlight.release();
            throw e;
        }
    }

    private Response decide(String key, String token) {
        Verdict v = check.check(token);
        long now = clock.getAsLong();
        if (v.status() == 200) {
            remember(accepted, key, now + REMEMBER_NANOS);
            rejected.remove(key);
            return null;
        }
        accepted.remove(key);
        Response refusal = Response.status(v.status(), "debug endpoints: " + v.reason() + "; they answer " + how + "\n");
        if (v.status() != 503) { // an API server outage is not the token's fault: retry next time
            remember(rejected, key, new Remembered(refusal, now + REMEMBER_NANOS));
        }
        return refusal;
    }

    private static <V> void remember(Map<String, V> map, String key, V value) {
        if (map.size() >= MAX_REMEMBERED) {
            map.clear(); // bounded: a flood of tokens costs (bounded) reviews, not memory
        }
        map.put(key, value);
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
