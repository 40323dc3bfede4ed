package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.istiod.l7.L7Resources;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@link L7Resources} as JSON for istiod-lite's {@code /debug/l7}: per waypoint and for
 * gRPC, type URL → name → the resource in protobuf's JSON form (Envoy's field names, as
 * Envoy's {@code config_dump} shows them), plus the translation's warnings.
 */
public final class L7DebugJson {

    /**
     * The messages packed in {@code Any} fields of the resources istiod-lite builds (filter
     * configs, protocol options, retry predicates): JSON needs their descriptors to show them.
     */
    private static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder()
            .add(HttpConnectionManager.getDescriptor())
            .add(Router.getDescriptor())
            .add(HTTPFault.getDescriptor())
            .add(Cors.getDescriptor())
            .add(CorsPolicy.getDescriptor())
            .add(TcpProxy.getDescriptor())
            .add(HttpProtocolOptions.getDescriptor())
            .add(PreviousHostsPredicate.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector.getDescriptor())
            // telemetry (issue 19): istio.stats (HTTP and network filter), file access logs and their filters
            .add(dev.ambit.api.telemetry.StatsConfig.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter.getDescriptor())
            // tracing (issue 19) and the L7 security filters (issue 15)
            .add(io.envoyproxy.envoy.config.trace.v3.ZipkinConfig.getDescriptor())
            .add(io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.getDescriptor())
            .build();

    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().usingTypeRegistry(TYPES)
            .omittingInsignificantWhitespace();

    private L7DebugJson() {}

    /**
     * The messages istiod-lite packs in {@code Any} fields, for any JSON view of its resources
     * (the golden tests print with it too, so a new packed type is registered once, here).
     */
    public static JsonFormat.TypeRegistry packedTypes() {
        return TYPES;
    }

    /**
     * Renders {@code l7}; with a non-empty {@code waypoint} ({@code "NS/NAME"}) only that
     * waypoint's resources and no gRPC ones.
     */
    public static String render(L7Resources l7, String waypoint) {
        requireNonNull(l7, "l7");
        requireNonNull(waypoint, "waypoint");
        JsonWriter json = new JsonWriter();
        json.open('{');
        json.key("warnings").list(l7.warnings());
        json.key("waypoints").open('{');
        for (String key : new java.util.TreeSet<>(l7.waypoints())) {
            if (!waypoint.isEmpty() && !waypoint.equals(key)) {
                continue;
            }
            int slash = key.indexOf('/');
            json.key(key);
            resources(json, slash < 0 ? Map.of() : l7.forWaypoint(key.substring(0, slash), key.substring(slash + 1)));
        }
        json.close('}');
        if (waypoint.isEmpty()) {
            json.key("grpc");
            resources(json, l7.forGrpc());
        }
        json.close('}');
        return json.toString();
    }

    /** A Secret with its private key replaced by {@code [redacted]}, as Envoy's config_dump shows it. */
    static Message redacted(Message m) {
        if (m instanceof io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret secret
                && secret.hasTlsCertificate() && secret.getTlsCertificate().hasPrivateKey()) {
            var b = secret.toBuilder();
            b.getTlsCertificateBuilder().setPrivateKey(io.envoyproxy.envoy.config.core.v3.DataSource.newBuilder()
                    .setInlineString("[redacted]"));
            return b.build();
        }
        return m;
    }

    private static void resources(JsonWriter json, Map<String, Map<String, Message>> byType) {
        json.open('{');
        for (Map.Entry<String, Map<String, Message>> type : new TreeMap<>(byType).entrySet()) {
            json.key(type.getKey()).open('{');
            for (Map.Entry<String, Message> r : new TreeMap<>(type.getValue()).entrySet()) {
                json.key(r.getKey());
                try {
                    json.raw(PRINTER.print(redacted(r.getValue())));
                } catch (InvalidProtocolBufferException e) {
                    // A packed type missing from TYPES: say so rather than fail the whole page.
                    json.open('{').key("error").value("cannot render as JSON: " + e.getMessage()).close('}');
                }
            }
            json.close('}');
        }
        json.close('}');
    }
}
