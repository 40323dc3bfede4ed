package dev.ambit.waypoint.http;

import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;

/**
 * What Envoy's HttpConnectionManager does to a request at the edge (a gateway's downstream,
 * {@link Ingress}), before any filter: with {@code use_remote_address} (Istio sets it on
 * gateways) the client's IP is appended to {@code x-forwarded-for}, {@code x-forwarded-proto}
 * is set to the connection's scheme and {@code x-envoy-external-address} to the client's IP
 * (the client is external: this gateway trusts no hop, {@code xff_num_trusted_hops: 0}, and
 * has no internal address ranges); values a client sent for the last two are replaced.
 * Without it only a missing {@code x-forwarded-proto} is set. And a virtual host with
 * {@code require_tls: ALL} answers a plaintext request {@code 301} to
 * {@code https://<host><path>} (Envoy's SSL redirect), before its routes are looked at.
 */
final class IngressHeaders {

    static final String XFF = "x-forwarded-for";
    static final String XFP = "x-forwarded-proto";
    static final String EXTERNAL_ADDRESS = "x-envoy-external-address";

    private IngressHeaders() {}

    /** Edits {@code headers} of a request that arrived on {@code d}, a gateway's downstream. */
    static void apply(HttpHeaders headers, Downstream d) {
        Ingress ingress = d.ingress();
        HttpConnectionManager hcm = d.chain().hcm();
        if (hcm.getUseRemoteAddress().getValue()) {
            String client = NetUtil.toAddressString(d.source().getAddress());
            String xff = headers.get(XFF);
            headers.set(XFF, xff == null || xff.isBlank() ? client : xff + "," + client);
            headers.set(XFP, ingress.scheme());
            headers.set(EXTERNAL_ADDRESS, client);
            headers.remove("x-envoy-internal");
        } else if (!headers.contains(XFP)) {
            headers.set(XFP, ingress.scheme());
        }
    }

    /** Whether a request for {@code authority} on {@code d} must be sent to https first. */
    static boolean mustRedirect(Downstream d, RouteConfiguration rc, String authority) {
        if (d.secure()) {
            return false;
        }
        RouteTable.Host host = RouteTable.of(rc).virtualHost(authority);
        return host != null && host.proto().getRequireTls() == VirtualHost.TlsRequirementType.ALL;
    }

    /** Envoy's answer to a plaintext request for a TLS-only virtual host. */
    static FullHttpResponse redirect(String authority, String uri) {
        FullHttpResponse r = LocalReplies.reply(301, "");
        r.headers().set(HttpHeaderNames.LOCATION, "https://" + authority + uri);
        return r;
    }
}
