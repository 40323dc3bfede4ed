package dev.ambit.waypoint.http.rbac;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.http.HttpExchange;
import dev.ambit.waypoint.http.HttpFilter;
import dev.ambit.waypoint.http.LocalReplies;
import io.envoyproxy.envoy.config.rbac.v3.RBAC.Action;
import io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC;
import io.netty.handler.codec.http.FullHttpResponse;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's RBAC HTTP filter ({@code envoy.filters.http.rbac}) with its {@link RBAC} config:
 * <ul>
 *   <li>{@code rules} enforced: a denial is answered {@code 403 RBAC: access denied}, flag
 *       {@code RBAC}, details {@code rbac_access_denied_matched_policy[<policy>|none]} in the
 *       access log, counted in {@value AuthzMetrics#DENIED}; an action {@code LOG} (Istio's
 *       AUDIT) never denies: a match sets {@code access_log_hint} in the filter's metadata,
 *       is logged and counted;</li>
 *   <li>{@code shadow_rules} evaluated without effect: the result goes to the dynamic metadata
 *       of {@code envoy.filters.http.rbac} as {@code <shadow_rules_stat_prefix>shadow_effective_policy_id}
 *       (the matched policy) and {@code ...shadow_engine_result} ({@code allowed}/{@code denied}):
 *       Istio's CUSTOM action selects the requests its ext_authz filter checks this way.</li>
 * </ul>
 * No {@code rules} means no enforcement (Envoy's meaning of an unset field).
 */
public final class RbacFilter implements HttpFilter {

    public static final String NAME = "envoy.filters.http.rbac";

    private static final Logger log = LoggerFactory.getLogger(RbacFilter.class);

    private final RbacEngine rules;
    private final RbacEngine shadow;
    private final String shadowPrefix;
    private final AuthzMetrics metrics;

    private RbacFilter(RbacEngine rules, RbacEngine shadow, String shadowPrefix, AuthzMetrics metrics) {
        this.rules = rules;
        this.shadow = shadow;
        this.shadowPrefix = shadowPrefix;
        this.metrics = requireNonNull(metrics, "metrics");
    }

    /**
     * The filter for {@code config}.
     *
     * @throws IllegalArgumentException if a rule uses what the engine cannot evaluate
     */
    public static RbacFilter of(RBAC config, AuthzMetrics metrics) {
        requireNonNull(config, "config");
        return new RbacFilter(config.hasRules() ? RbacEngine.of(config.getRules()) : null,
                config.hasShadowRules() ? RbacEngine.of(config.getShadowRules()) : null,
                config.getShadowRulesStatPrefix(), metrics);
    }

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        if (rules == null && shadow == null) {
            return next.proceed(exchange);
        }
        RequestAttributes attributes = RequestAttributes.of(exchange);
        if (shadow != null) {
            RbacEngine.Decision d = shadow.decide(attributes);
            Map<String, Object> md = exchange.metadata(NAME);
            if (d.matchedPolicy() != null) {
                md.put(shadowPrefix + "shadow_effective_policy_id", d.matchedPolicy());
            }
            md.put(shadowPrefix + "shadow_engine_result", d.allowed() ? "allowed" : "denied");
        }
        if (rules == null) {
            return next.proceed(exchange);
        }
        RbacEngine.Decision d = rules.decide(attributes);
        if (rules.action() == Action.LOG) {
            if (d.matchedPolicy() != null) {
                exchange.metadata(NAME).put("access_log_hint", Boolean.TRUE);
                metrics.audited(d.matchedPolicy());
                log.info("audit: {} {} {} from {} matched {}", exchange.method(), exchange.authority(),
                        exchange.request().uri(), exchange.downstream().peer(), d.matchedPolicy());
            }
            return next.proceed(exchange);
        }
        if (d.allowed()) {
            return next.proceed(exchange);
        }
        String policy = d.matchedPolicy() == null ? "none" : d.matchedPolicy();
        exchange.addFlag(ResponseFlag.RBAC_DENIED);
        exchange.responseCodeDetails("rbac_access_denied_matched_policy[" + policy + "]");
        metrics.denied("rbac", policy);
        log.debug("denied: {} {} {} from {} ({} {})", exchange.method(), exchange.authority(),
                exchange.request().uri(), exchange.downstream().peer(), rules.action(), policy);
        return CompletableFuture.completedFuture(LocalReplies.reply(403, LocalReplies.RBAC_DENIED));
    }
}
