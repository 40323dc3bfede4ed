package dev.ambit.waypoint.http;

import java.util.concurrent.CompletionStage;

/**
 * The one place where the waypoint authorizes a request (L7 AuthorizationPolicy, issue 15):
 * the first filter of every HTTP chain asks it before anything else runs.
 */
@FunctionalInterface
public interface RequestAuthorizer {

    /** Allows everything: the waypoint's behaviour until L7 policies are enforced. */
    RequestAuthorizer ALLOW_ALL = exchange -> null;

    /**
     * Decides {@code exchange}: null (or a stage completing with null) allows it; a non-null
     * reason denies it with 403 {@code RBAC: access denied} and flag {@code RBAC}.
     */
    CompletionStage<String> authorize(HttpExchange exchange);
}
