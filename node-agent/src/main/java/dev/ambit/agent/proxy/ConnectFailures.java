package dev.ambit.agent.proxy;

import dev.ambit.proxy.hbone.HboneConnectException;
import dev.ambit.proxy.net.HbonePool;

/**
 * How the outbound proxy classifies a failed tunnel attempt: whether another endpoint (or
 * waypoint pod) may be tried, and the reason counted in {@code ambit_outbound_failures_total}.
 */
final class ConnectFailures {

    private ConnectFailures() {
    }

    /**
     * The EndpointHealth reason when {@code cause} says the endpoint could not be reached, so
     * another one may be tried; {@code null} when the destination answered (a 401/403 policy
     * denial, a 400) or the failure is local (the pool closed): trying elsewhere would only
     * repeat it, or get round a decision that was the destination's to make.
     */
    static String unreachable(Throwable cause) {
        if (cause instanceof HbonePool.ConnectionFailedException e) {
            return e.reason(); // connect, handshake, negotiation, closed: nothing reached the server
        }
        if (cause instanceof HboneConnectException e) {
            return switch (e.status()) {
                case 0 -> "no_answer"; // reset or closed without a response
                // The destination's agent could not reach its app (or does not know it yet):
                // Envoy's gateway errors, which its outlier detection counts against the host.
                case 502, 503, 504 -> "unavailable";
                default -> null;
            };
        }
        return null;
    }

    /**
     * The reason counted when the destination answered the {@code CONNECT} with a refusal
     * ({@code refused_<status>}), or another failure that is not the endpoint's.
     */
    static String refusal(Throwable cause) {
        return cause instanceof HboneConnectException e && e.status() != 0 ? "refused_" + e.status() : "failed";
    }
}
