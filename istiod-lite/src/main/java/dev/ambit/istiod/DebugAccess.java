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
import java.util.concurrent.ConcurrentHashMap;
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
 *       audience {@value TokenReviewAuthenticator#DEFAULT_AUDIENCE}. Accepted tokens are
 *       remembered for a minute, so scrapes of {@code /metrics} on the same event loop are not
 *       held up by API server round trips.</li>
 * </ul>
 *
 * A missing or invalid token answers 401, a valid token of someone else 403, a review the
 * API server cannot answer 503.
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

    private final TokenCheck check;
    private final String how;
    private final LongSupplier clock;
    private final Map<String, Long> accepted = new ConcurrentHashMap<>();

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

    /** {@code null} when the request may be served; otherwise the refusal. */
    Response refusal(Request request) {
        InetSocketAddress peer = request.remoteAddress();
        if (peer != null && peer.getAddress() != null && peer.getAddress().isLoopbackAddress()) {
            return null;
        }
        String authorization = request.header("authorization");
        if (check == null || authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return Response.status(401, "debug endpoints answer " + how + "\n");
        }
        String token = authorization.substring(7).trim();
        String key = HexFormat.of().formatHex(sha256(token));
        Long until = accepted.get(key);
        long now = clock.getAsLong();
        if (until != null && until - now > 0) {
            return null;
        }
        Verdict v = check.check(token);
        if (v.status() == 200) {
            if (accepted.size() > 1000) {
                accepted.clear(); // bounded: a flood of tokens costs reviews, not memory
            }
            accepted.put(key, now + REMEMBER_NANOS);
            return null;
        }
        accepted.remove(key);
        return Response.status(v.status(), "debug endpoints: " + v.reason() + "; they answer " + how + "\n");
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
