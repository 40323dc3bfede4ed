package dev.ambit.waypoint.http.jwt;

import dev.ambit.waypoint.http.FilterSupport;
import dev.ambit.waypoint.http.HttpExchange;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A {@link JwtAuthentication} compiled once per HttpConnectionManager: providers by name, the
 * rules (first match wins, as Envoy's) and their requirement trees.
 */
final class JwtAuthnConfig {

    /** Envoy's {@code JwtRequirement}, as a tree. */
    sealed interface Requirement {
        record Provider(JwtProvider provider) implements Requirement {}
        record Any(List<Requirement> of) implements Requirement {}
        record All(List<Requirement> of) implements Requirement {}
        record AllowMissing() implements Requirement {}
        record AllowMissingOrFailed() implements Requirement {}
    }

    /** One rule: its match and requirement (null: the request needs no token). */
    record Rule(Predicate<HttpExchange> match, Requirement requirement) {}

    final Map<String, JwtProvider> providers;
    final List<Rule> rules;
    final boolean bypassCorsPreflight;
    /** Every provider's locations, for {@code allow_missing}: a token anywhere is one the request presented. */
    final List<JwtProvider.Location> allLocations;

    JwtAuthnConfig(JwtAuthentication config) {
        Map<String, JwtProvider> p = new LinkedHashMap<>();
        config.getProvidersMap().entrySet().stream().sorted(Map.Entry.comparingByKey())
                .forEach(e -> p.put(e.getKey(), new JwtProvider(e.getKey(), e.getValue())));
        providers = java.util.Collections.unmodifiableMap(p);
        List<JwtProvider.Location> all = new ArrayList<>();
        for (JwtProvider jp : p.values()) {
            for (JwtProvider.Location l : jp.locations) {
                if (!all.contains(l)) {
                    all.add(l);
                }
            }
        }
        allLocations = List.copyOf(all);
        List<Rule> r = new ArrayList<>();
        for (RequirementRule rule : config.getRulesList()) {
            r.add(new Rule(FilterSupport.routeMatch(rule.getMatch()),
                    rule.hasRequires() ? requirement(rule.getRequires(), "rules") : null));
        }
        rules = List.copyOf(r);
        bypassCorsPreflight = config.getBypassCorsPreflight();
    }

    private Requirement requirement(JwtRequirement r, String path) {
        return switch (r.getRequiresTypeCase()) {
            case PROVIDER_NAME -> {
                JwtProvider p = providers.get(r.getProviderName());
                if (p == null) {
                    throw new IllegalArgumentException(path + ".provider_name: " + r.getProviderName()
                            + " (expected: one of " + providers.keySet() + ")");
                }
                yield new Requirement.Provider(p);
            }
            case REQUIRES_ANY -> new Requirement.Any(list(r.getRequiresAny().getRequirementsList(), path));
            case REQUIRES_ALL -> new Requirement.All(list(r.getRequiresAll().getRequirementsList(), path));
            case ALLOW_MISSING -> new Requirement.AllowMissing();
            case ALLOW_MISSING_OR_FAILED -> new Requirement.AllowMissingOrFailed();
            default -> throw new IllegalArgumentException(path + ": " + r.getRequiresTypeCase()
                    + " (expected: provider_name, requires_any, requires_all, allow_missing or allow_missing_or_failed)");
        };
    }

    private List<Requirement> list(List<JwtRequirement> rs, String path) {
        List<Requirement> out = new ArrayList<>();
        for (JwtRequirement r : rs) {
            out.add(requirement(r, path));
        }
        return List.copyOf(out);
    }

    /** The requirement of the first rule matching {@code exchange}, or null (none matches, or it needs nothing). */
    Requirement requirementFor(HttpExchange exchange) {
        for (Rule r : rules) {
            if (r.match().test(exchange)) {
                return r.requirement();
            }
        }
        return null;
    }
}
