package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's istiod-side JWKS resolution (pilot's JwksResolver, {@code PILOT_JWT_ENABLE_REMOTE_JWKS=istiod}):
 * the control plane fetches a RequestAuthentication's {@code jwksUri} (or, without one, the
 * issuer's OpenID discovery document's {@code jwks_uri}) and the waypoint gets the keys inline as
 * {@code local_jwks}, so waypoints need no route to the identity provider.
 *
 * <p>Bounded: each fetch is limited by the rule's timeout (default 5 s, Istio's) and
 * {@link #MAX_BODY_BYTES}; at most {@link #MAX_ENTRIES} URIs are cached (the least recently used
 * go first). A fetched set is reused for {@link #refreshAfter} (Istio: 20 min); a failure is
 * remembered for {@link #retryAfter} so that a dead provider does not stall every translation,
 * and answered with {@link #FAIL_CLOSED_JWKS}: a JWKS whose only key has no private half
 * anywhere, so every token fails verification (Istio does the same), and a warning. A body
 * that is not a JWKS (JSON object with a {@code keys} array) counts as a failure. Thread-safe.
 */
public final class JwksFetcher {

    private static final Logger log = LoggerFactory.getLogger(JwksFetcher.class);

    /** A public RSA key whose private key was discarded when it was generated: no token can verify. */
    public static final String FAIL_CLOSED_JWKS = "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\""
            + "oh5OO9h-F2rzeJkVIgKYkcXfHYE66C93BD6kN2Z93RDKT_etgK9wdFXYwi-RZJIgblLDuK8YzX5TPfvE5WUzFqQ4QLKysk92NFine6r"
            + "OYEhO5ISRYMwGV9W4v_M73gPWm6s6ee6Lx6wLyfeQM21l09XdhOGmHleV9qTBb4K7XOJdJVWhDtQe-bnzxv_CwQBMkZmP6NQV9l7RZMr"
            + "nC5E_MfEpVxoC_-PaeuoxAQX59_ehWyio1RH050W_C1BxN9XRRUbE2TfpOt7VOS65XF85jyzipaVu-AnAetZhqP-nNG30jqDW0_aHsOF"
            + "amF9Vu1Ws-4r4nOXFGOyjLu_EmNhczw\"}]}";

    /** Istio's default fetch timeout ({@code JWTRule.timeout} unset). */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);
    static final int MAX_BODY_BYTES = 1 << 20;
    static final int MAX_ENTRIES = 256;

    /** What a fetch gave: the JWKS to inline, and the problem when it is the fail-closed one. */
    public record Result(String jwks, String problem) {
        public boolean failed() {
            return problem != null;
        }
    }

    /** A cached result, what fetched it, when, and when a translation last asked for it. */
    private record Cached(Result result, Instant at, String issuer, String uri, Duration timeout, Instant used) {
        Cached usedAt(Instant now) {
            return new Cached(result, at, issuer, uri, timeout, now);
        }
    }

    /** Unused this long, an entry is dropped (Istio's JWT public key eviction: 24 h). */
    static final Duration EVICT_UNUSED = Duration.ofHours(24);

    private final HttpClient client;
    private final Clock clock;
    private final Duration refreshAfter;
    private final Duration retryAfter;
    private final ObjectMapper json = new ObjectMapper();
    private final Map<String, Cached> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Cached> eldest) {
            return size() > MAX_ENTRIES;
        }
    };

    private JwksFetcher(HttpClient client, Clock clock, Duration refreshAfter, Duration retryAfter) {
        this.client = client;
        this.clock = clock;
        this.refreshAfter = refreshAfter;
        this.retryAfter = retryAfter;
    }

    /** Istio's defaults: refetch after 20 minutes, retry a failure after one minute. */
    public static JwksFetcher create() {
        return create(Clock.systemUTC(), Duration.ofMinutes(20), Duration.ofMinutes(1));
    }

    public static JwksFetcher create(Clock clock, Duration refreshAfter, Duration retryAfter) {
        requireNonNull(clock, "clock");
        requireNonNull(refreshAfter, "refreshAfter");
        requireNonNull(retryAfter, "retryAfter");
        HttpClient client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(DEFAULT_TIMEOUT).build();
        return new JwksFetcher(client, clock, refreshAfter, retryAfter);
    }

    /**
     * The JWKS for {@code issuer} at {@code jwksUri} (empty: found by OpenID discovery from the
     * issuer), from the cache while fresh; never throws. A failure's result carries the
     * fail-closed set and the problem (logged when the fetch fails, reported by the caller).
     */
    public Result jwks(String issuer, String jwksUri, Duration timeout) {
        String key = (jwksUri == null || jwksUri.isEmpty() ? "issuer:" + issuer : jwksUri);
        Instant now = clock.instant();
        Duration t = timeout == null ? DEFAULT_TIMEOUT : timeout;
        synchronized (cache) {
            Cached e = cache.get(key);
            if (e != null && !due(e, now)) {
                cache.put(key, e.usedAt(now));
                return e.result();
            }
        }
        Result r = fetch(issuer, jwksUri, t);
        if (r.failed()) {
            log.warn("{}", r.problem());
        }
        synchronized (cache) {
            cache.put(key, new Cached(r, now, issuer, jwksUri, t, now));
        }
        return r;
    }

    private boolean due(Cached e, Instant now) {
        return !now.isBefore(e.at().plus(e.result().failed() ? retryAfter : refreshAfter));
    }

    /**
     * Refetches every entry whose time has come (as Istio's refresher does in the background),
     * drops entries no translation used for {@link #EVICT_UNUSED}; true when a key set changed,
     * so the caller translates again and the waypoints get the new keys.
     */
    public boolean refreshDue() {
        Instant now = clock.instant();
        List<Map.Entry<String, Cached>> due = new ArrayList<>();
        synchronized (cache) {
            cache.entrySet().removeIf(e -> e.getValue().used().plus(EVICT_UNUSED).isBefore(now));
            for (Map.Entry<String, Cached> e : cache.entrySet()) {
                if (due(e.getValue(), now)) {
                    due.add(Map.entry(e.getKey(), e.getValue()));
                }
            }
        }
        boolean changed = false;
        for (Map.Entry<String, Cached> e : due) {
            Cached old = e.getValue();
            Result r = fetch(old.issuer(), old.uri(), old.timeout());
            if (r.failed() && !old.result().failed()) {
                log.warn("{}", r.problem());
            }
            changed |= !r.jwks().equals(old.result().jwks());
            synchronized (cache) {
                if (cache.containsKey(e.getKey())) {
                    cache.put(e.getKey(), new Cached(r, now, old.issuer(), old.uri(), old.timeout(), old.used()));
                }
            }
        }
        return changed;
    }

    /**
     * Runs {@link #refreshDue} every {@code every} on a daemon thread of its own (never on the
     * model thread: a slow provider must not delay config pushes), calling {@code onChange}
     * after a refresh that changed a key set. Close the result to stop.
     */
    public AutoCloseable startRefreshing(Duration every, Runnable onChange) {
        requireNonNull(onChange, "onChange");
        var executor = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread th = new Thread(r, "jwks-refresh");
            th.setDaemon(true);
            return th;
        });
        executor.scheduleWithFixedDelay(() -> {
            try {
                if (refreshDue()) {
                    onChange.run();
                }
            } catch (RuntimeException e) {
                log.warn("JWKS refresh failed", e);
            }
        }, every.toMillis(), every.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        return executor::shutdownNow;
    }

    private Result fetch(String issuer, String jwksUri, Duration timeout) {
        String uri = jwksUri;
        try {
            if (uri == null || uri.isEmpty()) {
                String discovery = issuer.replaceAll("/+$", "") + "/.well-known/openid-configuration";
                JsonNode doc = json.readTree(get(discovery, timeout));
                JsonNode j = doc.get("jwks_uri");
                if (j == null || !j.isTextual() || j.asText().isEmpty()) {
                    return failure(issuer, discovery, "the OpenID discovery document has no jwks_uri");
                }
                uri = j.asText();
            }
            String body = get(uri, timeout);
            JsonNode set;
            try {
                set = json.readTree(body);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                return failure(issuer, uri, "the response is not a JWKS (not JSON)");
            }
            if (set == null || !set.isObject() || !set.has("keys") || !set.get("keys").isArray()) {
                return failure(issuer, uri, "the response is not a JWKS (expected: a JSON object with a keys array)");
            }
            return new Result(body, null);
        } catch (IOException | IllegalArgumentException e) {
            String why = e.getMessage() == null ? e.getClass().getSimpleName()
                    : e.getClass().getSimpleName() + ": " + e.getMessage().lines().findFirst().orElse("");
            return failure(issuer, uri == null || uri.isEmpty() ? issuer : uri, why);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return failure(issuer, uri, "interrupted");
        }
    }

    private String get(String uri, Duration timeout) throws IOException, InterruptedException {
        URI u = URI.create(uri);
        if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
            throw new IOException("scheme " + u.getScheme() + " (expected: http or https)");
        }
        HttpRequest req = HttpRequest.newBuilder(u).timeout(timeout).header("accept", "application/json").GET().build();
        HttpResponse<InputStream> resp = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = resp.body()) {
            byte[] body = in.readNBytes(MAX_BODY_BYTES + 1);
            if (resp.statusCode() != 200) {
                throw new IOException("HTTP " + resp.statusCode());
            }
            if (body.length > MAX_BODY_BYTES) {
                throw new IOException("response over " + MAX_BODY_BYTES + " bytes");
            }
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private static Result failure(String issuer, String uri, String why) {
        return new Result(FAIL_CLOSED_JWKS, "RequestAuthentication issuer " + issuer + ": fetching the JWKS from "
                + uri + " failed (" + why + "); every token of this issuer is rejected until a fetch succeeds");
    }

    /** The URIs cached now, for the debug page and tests. */
    public List<String> cached() {
        synchronized (cache) {
            return new ArrayList<>(cache.keySet());
        }
    }
}
