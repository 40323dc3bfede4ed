package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;

/**
 * What a gateway (waypoint-proxy {@code --mode gateway}) knows about one downstream connection
 * from outside the mesh, beyond {@link Downstream}: how it arrived and who the gateway is. Its
 * presence makes the engine behave as Istio's ingress gateway: {@code x-forwarded-*} and
 * {@code x-envoy-external-address} ({@link IngressHeaders}), a virtual host's
 * {@code require_tls} enforced, telemetry with {@code reporter="source"}.
 *
 * @param tls whether the gateway terminated TLS on the connection (scheme {@code https})
 * @param serverName the ClientHello's SNI, or null
 * @param gateway the gateway's own workload (telemetry's source: {@code --name}, namespace, identity)
 */
public record Ingress(boolean tls, String serverName, Workload gateway) {
    public Ingress {
        requireNonNull(gateway, "gateway");
    }

    /** {@code https} or {@code http}: the downstream's scheme, as {@code x-forwarded-proto} says. */
    public String scheme() {
        return tls ? "https" : "http";
    }
}
