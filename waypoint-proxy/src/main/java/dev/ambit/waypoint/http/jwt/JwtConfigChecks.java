package dev.ambit.waypoint.http.jwt;

import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import java.util.function.BiConsumer;

/**
 * The checks of a {@link JwtAuthentication} that the field table cannot express, run by the
 * config validator so a bad filter is NACKed instead of failing requests: every
 * {@code provider_name} names a provider, every requirement is set, every provider has keys
 * that parse ({@code local_jwks.inline_string}), every rule has a match.
 */
public final class JwtConfigChecks {

    private JwtConfigChecks() {}

    /** Reports each problem as (field path, reason). */
    public static void check(JwtAuthentication j, String path, BiConsumer<String, String> problems) {
        j.getProvidersMap().forEach((name, p) -> {
            String pp = path + ".providers[\"" + name + "\"]";
            if (!p.hasLocalJwks() || p.getLocalJwks().getInlineString().isEmpty()) {
                problems.accept(pp + ".local_jwks", "missing (expected: the keys inline, inline_string)");
            } else {
                Jwks.parse(p.getLocalJwks().getInlineString()).problem()
                        .filter(why -> !why.equals(JwtStatus.JWKS_NO_VALID_KEYS.message()))
                        .ifPresent(why -> problems.accept(pp + ".local_jwks.inline_string", why));
            }
        });
        for (int i = 0; i < j.getRulesCount(); i++) {
            String rp = path + ".rules[" + i + "]";
            if (!j.getRules(i).hasMatch()) {
                problems.accept(rp + ".match", "missing (expected: a route match, e.g. prefix /)");
            }
            if (j.getRules(i).hasRequires()) {
                requirement(j, j.getRules(i).getRequires(), rp + ".requires", problems);
            }
        }
    }

    private static void requirement(JwtAuthentication j, JwtRequirement r, String path,
                                    BiConsumer<String, String> problems) {
        switch (r.getRequiresTypeCase()) {
            case PROVIDER_NAME -> {
                if (!j.containsProviders(r.getProviderName())) {
                    problems.accept(path + ".provider_name", "\"" + r.getProviderName() + "\" is not a provider "
                            + "(expected one of " + new java.util.TreeSet<>(j.getProvidersMap().keySet()) + ")");
                }
            }
            case REQUIRES_ANY -> {
                for (int i = 0; i < r.getRequiresAny().getRequirementsCount(); i++) {
                    requirement(j, r.getRequiresAny().getRequirements(i), path + ".requires_any.requirements[" + i + "]",
                            problems);
                }
            }
            case REQUIRES_ALL -> {
                for (int i = 0; i < r.getRequiresAll().getRequirementsCount(); i++) {
                    requirement(j, r.getRequiresAll().getRequirements(i), path + ".requires_all.requirements[" + i + "]",
                            problems);
                }
            }
            case ALLOW_MISSING, ALLOW_MISSING_OR_FAILED -> { }
            default -> problems.accept(path, "no requirement set (expected: provider_name, requires_any, "
                    + "requires_all, allow_missing or allow_missing_or_failed)");
        }
    }
}
