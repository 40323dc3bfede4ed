package dev.ambit.waypoint.http.jwt;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.waypoint.http.FilterSupport;
import dev.ambit.waypoint.http.HttpExchange;
import dev.ambit.waypoint.http.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's {@code envoy.filters.http.jwt_authn}: verifies the JWTs a request carries against
 * the {@link JwtAuthentication} of its filter chain's HttpConnectionManager (CONTRACT seam 5),
 * and answers a request whose tokens do not satisfy the first matching rule's requirement
 * with Envoy's local reply: 401 (403 for a disallowed audience), the reason as body
 * ({@code Jwt is expired}, {@code Jwt verification fails}...) and
 * {@code www-authenticate: Bearer realm="<original uri>"[, error="invalid_token"]}.
 *
 * <p>For each verified token it leaves what Envoy and Istio leave (CONTRACT seam 6): the
 * payload under {@code envoy.filters.http.jwt_authn} / the provider's
 * {@code payload_in_metadata} (claims named in {@code normalize_payload_in_metadata} split on
 * spaces into lists); under {@code istio_authn} {@code request.auth.principal}
 * ({@code iss/sub}), {@code request.auth.audiences} (list of strings),
 * {@code request.auth.presenter} ({@code azp}), {@code request.auth.claims} (the payload as
 * in the token); the token removed unless {@code forward}; {@code forward_payload_header}
 * and {@code claim_to_headers} set. A chain without the filter is passed through.
 */
public final class JwtAuthn implements HttpFilter {

    public static final String NAME = "envoy.filters.http.jwt_authn";
    /** Istio's authentication metadata namespace, read by the RBAC filter's metadata matchers. */
    public static final String ISTIO_AUTHN = "istio_authn";
    public static final String PRINCIPAL = "request.auth.principal";
    public static final String AUDIENCES = "request.auth.audiences";
    public static final String PRESENTER = "request.auth.presenter";
    public static final String CLAIMS = "request.auth.claims";

    private static final Logger log = LoggerFactory.getLogger(JwtAuthn.class);

    /** Envoy's {@code jwt_authn.allowed} / {@code jwt_authn.denied} stats, as one family. */
    public static final String DECISIONS = "ambit_waypoint_jwt_authn_total";

    private final Clock clock;
    private final JwtAuthnConfig fixed;
    private final Counter.Family decisions;
    /** Compiled configs per HttpConnectionManager (each chain's, as sent); weak so old snapshots go. */
    private final Map<HttpConnectionManager, Optional<JwtAuthnConfig>> compiled =
            Collections.synchronizedMap(new WeakHashMap<>());

    private JwtAuthn(Clock clock, JwtAuthnConfig fixed, Counter.Family decisions) {
        this.clock = clock;
        this.fixed = fixed;
        this.decisions = decisions;
    }

    /**
     * The filter reading its config from each request's filter chain (the {@code jwt_authn} entry
     * of its HCM), counting its decisions in {@code metrics} ({@value #DECISIONS}{@code {result,reason}}).
     */
    public static JwtAuthn perChain(MetricsRegistry metrics) {
        return new JwtAuthn(Clock.systemUTC(), null, family(metrics));
    }

    /** The filter with one fixed config (a chain builder that unpacked it already). */
    public static JwtAuthn of(JwtAuthentication config, MetricsRegistry metrics) {
        return new JwtAuthn(Clock.systemUTC(), new JwtAuthnConfig(config), family(metrics));
    }

    private static Counter.Family family(MetricsRegistry metrics) {
        return java.util.Objects.requireNonNull(metrics, "metrics").counter(DECISIONS,
                "Requests jwt_authn verified tokens of (allowed) or refused (denied, with Envoy's reason).",
                "result", "reason");
    }

    /** The same filter on another clock (tests of expiry). */
    public JwtAuthn withClock(Clock clock) {
        return new JwtAuthn(java.util.Objects.requireNonNull(clock, "clock"), fixed, decisions);
    }

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        JwtAuthnConfig config = fixed != null ? fixed : configOf(exchange.downstream().chain().hcm());
        if (config == null) {
            return next.proceed(exchange);
        }
        HttpHeaders headers = exchange.request().headers();
        if (config.bypassCorsPreflight && exchange.method().equals("OPTIONS") && headers.contains("origin")
                && headers.contains("access-control-request-method")) {
            return next.proceed(exchange);
        }
        JwtAuthnConfig.Requirement requirement = config.requirementFor(exchange);
        if (requirement == null) {
            return next.proceed(exchange);
        }
        Verification v = new Verification(config, exchange, clock.millis() / 1000);
        JwtStatus status = v.eval(requirement);
        if (status != JwtStatus.OK) {
            decisions.labels("denied", status.message()).inc();
            return CompletableFuture.completedFuture(denial(exchange, status));
        }
        if (!v.verified.isEmpty()) {
            decisions.labels("allowed", "").inc();
        }
        v.apply();
        return next.proceed(exchange);
    }

    private JwtAuthnConfig configOf(HttpConnectionManager hcm) {
        if (hcm.getHttpFiltersCount() == 0) {
            return null;
        }
        Optional<JwtAuthnConfig> c = compiled.get(hcm);
        if (c == null) {
            c = compile(hcm);
            compiled.put(hcm, c);
        }
        return c.orElse(null);
    }

    private static Optional<JwtAuthnConfig> compile(HttpConnectionManager hcm) {
        for (var f : hcm.getHttpFiltersList()) {
            if (f.getName().equals(NAME)) {
                try {
                    return Optional.of(new JwtAuthnConfig(f.getTypedConfig().unpack(JwtAuthentication.class)));
                } catch (InvalidProtocolBufferException e) {
                    // The validator unpacked it before accepting it: this cannot happen with an accepted config.
                    throw new IllegalStateException("http_filters " + NAME + ": not a JwtAuthentication", e);
                }
            }
        }
        return Optional.empty();
    }

    private static FullHttpResponse denial(HttpExchange exchange, JwtStatus status) {
        FullHttpResponse r = FilterSupport.localReply(status.httpStatus(), status.message());
        String scheme = exchange.request().headers().get("x-forwarded-proto", "http");
        String value = "Bearer realm=\"" + scheme + "://" + exchange.authority() + exchange.request().uri() + "\"";
        if (status != JwtStatus.MISSING) {
            value += ", error=\"invalid_token\"";
        }
        r.headers().set("www-authenticate", value);
        log.debug("jwt_authn: {} {} denied: {}", exchange.method(), exchange.path(), status.message());
        return r;
    }

    /** One request's evaluation: tokens parsed once, each (provider, token) verified once. */
    private static final class Verification {
        private final JwtAuthnConfig config;
        private final HttpExchange exchange;
        private final long now;
        private final Map<String, Object> parsed = new HashMap<>();
        private final Map<String, JwtStatus> results = new HashMap<>();
        private final List<Verified> verified = new ArrayList<>();

        record Verified(JwtProvider provider, Jwt jwt, JwtProvider.Found found) {}

        Verification(JwtAuthnConfig config, HttpExchange exchange, long now) {
            this.config = config;
            this.exchange = exchange;
            this.now = now;
        }

        JwtStatus eval(JwtAuthnConfig.Requirement r) {
            return switch (r) {
                case JwtAuthnConfig.Requirement.Provider p -> {
                    List<JwtProvider.Found> tokens = p.provider().extract(exchange.request().headers(),
                            exchange.request().uri());
                    if (tokens.isEmpty()) {
                        yield JwtStatus.MISSING;
                    }
                    for (JwtProvider.Found t : tokens) {
                        JwtStatus s = verify(p.provider(), t);
                        if (s != JwtStatus.OK) {
                            yield s;
                        }
                    }
                    yield JwtStatus.OK;
                }
                case JwtAuthnConfig.Requirement.Any any -> {
                    JwtStatus best = JwtStatus.MISSING;
                    for (JwtAuthnConfig.Requirement c : any.of()) {
                        JwtStatus s = eval(c);
                        if (s == JwtStatus.OK) {
                            yield JwtStatus.OK;
                        }
                        best = moreTelling(best, s);
                    }
                    yield best;
                }
                case JwtAuthnConfig.Requirement.All all -> {
                    for (JwtAuthnConfig.Requirement c : all.of()) {
                        JwtStatus s = eval(c);
                        if (s != JwtStatus.OK) {
                            yield s;
                        }
                    }
                    yield JwtStatus.OK;
                }
                case JwtAuthnConfig.Requirement.AllowMissing m -> anyPresent();
                case JwtAuthnConfig.Requirement.AllowMissingOrFailed m -> {
                    anyPresent(); // valid tokens still leave their metadata, as in Envoy
                    yield JwtStatus.OK;
                }
            };
        }

        /**
         * {@code allow_missing}: no token in any provider's location passes; each token present
         * must verify with the provider of its issuer.
         */
        private JwtStatus anyPresent() {
            List<JwtProvider.Found> tokens = JwtProvider.extract(config.allLocations, exchange.request().headers(),
                    exchange.request().uri());
            for (JwtProvider.Found t : tokens) {
                Object p = parse(t.token());
                if (p instanceof JwtStatus s) {
                    return s;
                }
                Jwt jwt = (Jwt) p;
                JwtProvider provider = null;
                for (JwtProvider candidate : config.providers.values()) {
                    if (candidate.issuer.isEmpty() || candidate.issuer.equals(jwt.iss)) {
                        provider = candidate;
                        break;
                    }
                }
                if (provider == null) {
                    return JwtStatus.UNKNOWN_ISSUER;
                }
                JwtStatus s = verify(provider, t);
                if (s != JwtStatus.OK) {
                    return s;
                }
            }
            return JwtStatus.OK;
        }

        private JwtStatus verify(JwtProvider provider, JwtProvider.Found t) {
            String key = provider.name + "\n" + t.token();
            JwtStatus cached = results.get(key);
            if (cached != null) {
                return cached;
            }
            Object p = parse(t.token());
            JwtStatus s;
            if (p instanceof JwtStatus bad) {
                s = bad;
            } else {
                s = provider.verify((Jwt) p, now);
                if (s == JwtStatus.OK) {
                    verified.add(new Verified(provider, (Jwt) p, t));
                }
            }
            results.put(key, s);
            return s;
        }

        private Object parse(String token) {
            return parsed.computeIfAbsent(token, tk -> {
                try {
                    return Jwt.parse(tk);
                } catch (Jwt.Invalid e) {
                    return e.status;
                }
            });
        }

        /** A specific failure tells more than an unknown issuer, which tells more than a missing token. */
        private static JwtStatus moreTelling(JwtStatus a, JwtStatus b) {
            return rank(b) > rank(a) ? b : a;
        }

        private static int rank(JwtStatus s) {
            return switch (s) {
                case MISSING -> 0;
                case UNKNOWN_ISSUER -> 1;
                default -> 2;
            };
        }

        /** What verified tokens leave behind: metadata, headers, the token removed unless forwarded. */
        void apply() {
            HttpHeaders headers = exchange.request().headers();
            for (Verified v : verified) {
                JwtProvider p = v.provider();
                Jwt jwt = v.jwt();
                if (!p.payloadInMetadata.isEmpty()) {
                    exchange.metadata(NAME).put(p.payloadInMetadata, normalized(jwt.payload, p));
                }
                Map<String, Object> authn = exchange.metadata(ISTIO_AUTHN);
                if (jwt.iss != null && jwt.sub != null) {
                    authn.put(PRINCIPAL, jwt.iss + "/" + jwt.sub);
                }
                if (!jwt.audiences.isEmpty()) {
                    authn.put(AUDIENCES, jwt.audiences);
                }
                if (jwt.payload.get("azp") instanceof String azp) {
                    authn.put(PRESENTER, azp);
                }
                authn.put(CLAIMS, jwt.payload);
                if (!p.forwardPayloadHeader.isEmpty()) {
                    headers.set(p.forwardPayloadHeader, jwt.payloadBase64);
                }
                for (var c : p.claimToHeaders) {
                    String value = Json.scalar(claim(jwt.payload, c.getClaimName()));
                    if (value != null) {
                        headers.set(c.getHeaderName(), value);
                    }
                }
                if (!p.forward && v.found().location().kind() == JwtProvider.Location.Kind.HEADER) {
                    headers.remove(v.found().location().name());
                }
            }
        }

        /** A claim by name, or by a dotted path into nested objects ({@code a.b}) as Envoy reads it. */
        private static Object claim(Map<String, Object> payload, String name) {
            if (payload.containsKey(name)) {
                return payload.get(name);
            }
            Object cur = payload;
            for (String part : name.split("\\.")) {
                if (!(cur instanceof Map<?, ?> m)) {
                    return null;
                }
                cur = m.get(part);
            }
            return cur;
        }

        private static Map<String, Object> normalized(Map<String, Object> payload, JwtProvider p) {
            if (p.spaceDelimitedClaims.isEmpty()) {
                return payload;
            }
            Map<String, Object> out = new java.util.LinkedHashMap<>(payload);
            for (String c : p.spaceDelimitedClaims) {
                if (out.get(c) instanceof String s) {
                    out.put(c, List.of(s.trim().split(" +")));
                }
            }
            return Collections.unmodifiableMap(out);
        }
    }
}
