package dev.ambit.waypoint.http;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.upstream.UpstreamException;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.netty.handler.codec.http.FullHttpResponse;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The retry state of one request (Envoy's router {@code RetryStateImpl}): which outcomes
 * are retriable under {@code retry_on}, how many retries are left, the previous hosts to
 * avoid, and the jittered exponential backoff between attempts.
 *
 * <p>{@code retry_on}: {@code 5xx} (a 5xx, a connect failure, a reset, a per-try timeout),
 * {@code gateway-error} (502, 503, 504, and the same failures), {@code reset} (a connect
 * failure, a reset, a per-try timeout), {@code connect-failure}, {@code refused-stream},
 * {@code retriable-4xx} (409), {@code retriable-status-codes} (the policy's codes), and by
 * {@code grpc-status}: {@code cancelled} (1), {@code deadline-exceeded} (4),
 * {@code resource-exhausted} (8), {@code internal} (13), {@code unavailable} (14). Unknown
 * names are ignored, as Envoy ignores them. Without a retry policy nothing is retried; with
 * one, {@code num_retries} defaults to 1.
 *
 * <p>Backoff: retry {@code n} waits a random time below {@code min((2^n - 1) * base, max)},
 * base 25 ms and max 250 ms unless {@code retry_back_off} says otherwise.
 */
final class RetryState {

    static final Duration DEFAULT_BASE = Duration.ofMillis(25);

    /** A compiled retry policy. */
    record Policy(boolean on5xx, boolean onGatewayError, boolean onReset, boolean onConnectFailure,
                  boolean onRefusedStream, boolean onRetriable4xx, boolean onStatusCodes, Set<Integer> statusCodes,
                  Set<Integer> grpcStatuses, int numRetries, Duration perTryTimeout, boolean previousHosts,
                  long baseMillis, long maxMillis) {

        static final Policy NONE = new Policy(false, false, false, false, false, false, false, Set.of(), Set.of(),
                0, Duration.ZERO, false, 25, 250);

        static Policy of(RetryPolicy p) {
            boolean on5xx = false, gw = false, reset = false, cf = false, rs = false, r4 = false, codes = false;
            Set<Integer> grpc = new HashSet<>();
            for (String raw : p.getRetryOn().split(",")) {
                switch (raw.strip().toLowerCase(Locale.ROOT)) {
                    case "5xx" -> on5xx = true;
                    case "gateway-error" -> gw = true;
                    case "reset" -> reset = true;
                    case "connect-failure" -> cf = true;
                    case "refused-stream" -> rs = true;
                    case "retriable-4xx" -> r4 = true;
                    case "retriable-status-codes" -> codes = true;
                    case "cancelled" -> grpc.add(1);
                    case "deadline-exceeded" -> grpc.add(4);
                    case "resource-exhausted" -> grpc.add(8);
                    case "internal" -> grpc.add(13);
                    case "unavailable" -> grpc.add(14);
                    default -> { } // Envoy ignores what it does not know
                }
            }
            boolean previous = p.getRetryHostPredicateList().stream()
                    .anyMatch(h -> h.getName().equals("envoy.retry_host_predicates.previous_hosts"));
            long base = 25;
            long max = 250;
            if (p.hasRetryBackOff()) {
                base = Math.max(1, millis(p.getRetryBackOff().getBaseInterval()));
                max = p.getRetryBackOff().hasMaxInterval() ? Math.max(base, millis(p.getRetryBackOff().getMaxInterval()))
                        : base * 10;
            }
            return new Policy(on5xx, gw, reset, cf, rs, r4, codes, Set.copyOf(p.getRetriableStatusCodesList()),
                    Set.copyOf(grpc), p.hasNumRetries() ? p.getNumRetries().getValue() : 1,
                    p.hasPerTryTimeout() ? duration(p.getPerTryTimeout()) : Duration.ZERO, previous, base, max);
        }
    }

    private final Policy policy;
    private final Set<InetSocketAddress> excluded = new HashSet<>();
    private int retriesDone;

    RetryState(Policy policy) {
        this.policy = policy;
    }

    Policy policy() {
        return policy;
    }

    /** Hosts the next attempt should avoid (previous_hosts), empty without the predicate. */
    Set<InetSocketAddress> excludedHosts() {
        return policy.previousHosts() ? Set.copyOf(excluded) : Set.of();
    }

    void tried(InetSocketAddress host) {
        if (host != null) {
            excluded.add(host);
        }
    }

    boolean retriesLeft() {
        return retriesDone < policy.numRetries();
    }

    /** Counts a retry and returns its backoff in milliseconds. */
    long nextBackoffMillis() {
        retriesDone++;
        long multiplier = (1L << Math.min(retriesDone, 30)) - 1;
        long bound = multiplier > policy.maxMillis() / policy.baseMillis() ? policy.maxMillis()
                : multiplier * policy.baseMillis();
        return Math.min(ThreadLocalRandom.current().nextLong(Math.max(1, bound)), policy.maxMillis());
    }

    /** Whether {@code response} is one {@code retry_on} retries. */
    boolean retriable(FullHttpResponse response) {
        int status = response.status().code();
        if (policy.on5xx() && status >= 500) {
            return true;
        }
        if (policy.onGatewayError() && (status == 502 || status == 503 || status == 504)) {
            return true;
        }
        if (policy.onRetriable4xx() && status == 409) {
            return true;
        }
        if (policy.onStatusCodes() && policy.statusCodes().contains(status)) {
            return true;
        }
        if (!policy.grpcStatuses().isEmpty()) {
            Integer grpc = grpcStatus(response);
            return grpc != null && policy.grpcStatuses().contains(grpc);
        }
        return false;
    }

    /** Whether an attempt's failure is one {@code retry_on} retries. */
    boolean retriable(UpstreamException failure) {
        ResponseFlag flag = failure.flag();
        boolean resetLike = flag == ResponseFlag.UR || flag == ResponseFlag.UC || flag == ResponseFlag.UF
                || flag == ResponseFlag.UT;
        if (resetLike && (policy.on5xx() || policy.onGatewayError() || policy.onReset())) {
            return true;
        }
        if (flag == ResponseFlag.UF && policy.onConnectFailure()) {
            return true;
        }
        return failure.refusedStream() && policy.onRefusedStream();
    }

    /** The response's {@code grpc-status} (headers of a trailers-only answer, else trailers), or null. */
    static Integer grpcStatus(FullHttpResponse response) {
        String s = response.headers().get("grpc-status");
        if (s == null) {
            s = response.trailingHeaders().get("grpc-status");
        }
        if (s == null) {
            return null;
        }
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static Duration duration(com.google.protobuf.Duration d) {
        return Duration.ofSeconds(d.getSeconds(), d.getNanos());
    }

    private static long millis(com.google.protobuf.Duration d) {
        return duration(d).toMillis();
    }
}
