package dev.ambit.istiod.l7;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import dev.ambit.istiod.config.Kind;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.fabric8.istio.api.api.networking.v1alpha3.CorsPolicyUnmatchedPreflights;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPBodyBytes;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPBodyString;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPDirectResponse;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjection;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionAbortGrpcStatus;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionAbortHttpStatus;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionDelayFixedDelay;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRedirect;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRedirectDerivePort;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRedirectPort;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.Headers;
import io.fabric8.istio.api.api.networking.v1alpha3.HeadersHeaderOperations;
import io.fabric8.istio.api.api.networking.v1alpha3.Percent;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatch;
import io.fabric8.istio.api.networking.v1.VirtualService;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The parts of a VirtualService route beside its destination: headers, fault, CORS, redirect, direct response. */
final class RouteFeatures {

    private static final Map<String, Integer> GRPC_CODES = Map.ofEntries(
            Map.entry("OK", 0), Map.entry("CANCELLED", 1), Map.entry("UNKNOWN", 2), Map.entry("INVALID_ARGUMENT", 3),
            Map.entry("DEADLINE_EXCEEDED", 4), Map.entry("NOT_FOUND", 5), Map.entry("ALREADY_EXISTS", 6),
            Map.entry("PERMISSION_DENIED", 7), Map.entry("RESOURCE_EXHAUSTED", 8),
            Map.entry("FAILED_PRECONDITION", 9), Map.entry("ABORTED", 10), Map.entry("OUT_OF_RANGE", 11),
            Map.entry("UNIMPLEMENTED", 12), Map.entry("INTERNAL", 13), Map.entry("UNAVAILABLE", 14),
            Map.entry("DATA_LOSS", 15), Map.entry("UNAUTHENTICATED", 16));

    private final Problems problems;

    RouteFeatures(Problems problems) {
        this.problems = problems;
    }

    /**
     * Route-level headers, fault and CORS. Proxyless gRPC clients get no fault or CORS
     * configuration: their listener has only the router, and grpc-java rejects a route
     * configuration carrying a filter config it does not know.
     */
    void decorate(VirtualService vs, HTTPRoute h, String path, boolean grpc, Route.Builder route) {
        Headers headers = h.getHeaders();
        if (headers != null) {
            List<HeaderValueOption> req = new ArrayList<>();
            List<String> reqRemove = new ArrayList<>();
            operations(headers.getRequest(), req, reqRemove);
            route.addAllRequestHeadersToAdd(req).addAllRequestHeadersToRemove(reqRemove);
            List<HeaderValueOption> resp = new ArrayList<>();
            List<String> respRemove = new ArrayList<>();
            operations(headers.getResponse(), resp, respRemove);
            route.addAllResponseHeadersToAdd(resp).addAllResponseHeadersToRemove(respRemove);
        }
        if (grpc) {
            return;
        }
        if (h.getFault() != null) {
            HTTPFault fault = fault(vs, h.getFault(), path + ".fault");
            if (fault != null) {
                route.putTypedPerFilterConfig(RouteTranslator.FAULT_FILTER, Any.pack(fault));
            }
        }
        if (h.getCorsPolicy() != null) {
            route.putTypedPerFilterConfig(RouteTranslator.CORS_FILTER, Any.pack(cors(h.getCorsPolicy())));
        }
    }

    /** Per-destination headers of a single-destination route go on the route itself. */
    void destinationHeaders(VirtualService vs, HTTPRouteDestination d, String path, Route.Builder route) {
        if (d.getHeaders() == null) {
            return;
        }
        List<HeaderValueOption> req = new ArrayList<>();
        List<String> reqRemove = new ArrayList<>();
        operations(d.getHeaders().getRequest(), req, reqRemove);
        route.addAllRequestHeadersToAdd(req).addAllRequestHeadersToRemove(reqRemove);
        List<HeaderValueOption> resp = new ArrayList<>();
        List<String> respRemove = new ArrayList<>();
        operations(d.getHeaders().getResponse(), resp, respRemove);
        route.addAllResponseHeadersToAdd(resp).addAllResponseHeadersToRemove(respRemove);
    }

    void destinationHeaders(VirtualService vs, HTTPRouteDestination d, String path,
                            WeightedCluster.ClusterWeight.Builder cw) {
        if (d.getHeaders() == null) {
            return;
        }
        List<HeaderValueOption> req = new ArrayList<>();
        List<String> reqRemove = new ArrayList<>();
        operations(d.getHeaders().getRequest(), req, reqRemove);
        cw.addAllRequestHeadersToAdd(req).addAllRequestHeadersToRemove(reqRemove);
        List<HeaderValueOption> resp = new ArrayList<>();
        List<String> respRemove = new ArrayList<>();
        operations(d.getHeaders().getResponse(), resp, respRemove);
        cw.addAllResponseHeadersToAdd(resp).addAllResponseHeadersToRemove(respRemove);
    }

    /** set → overwrite, add → append, remove; in name order so the output is stable. */
    static void operations(HeadersHeaderOperations ops, List<HeaderValueOption> add, List<String> remove) {
        if (ops == null) {
            return;
        }
        new TreeMap<>(ops.getSet() == null ? Map.<String, String>of() : ops.getSet())
                .forEach((k, v) -> add.add(Envoy.header(k, v, true)));
        new TreeMap<>(ops.getAdd() == null ? Map.<String, String>of() : ops.getAdd())
                .forEach((k, v) -> add.add(Envoy.header(k, v, false)));
        if (ops.getRemove() != null) {
            remove.addAll(ops.getRemove());
        }
    }

    private HTTPFault fault(VirtualService vs, HTTPFaultInjection f, String path) {
        HTTPFault.Builder out = HTTPFault.newBuilder();
        if (f.getDelay() != null) {
            var d = f.getDelay();
            if (d.getHttpDelayType() instanceof HTTPFaultInjectionDelayFixedDelay fixed) {
                out.setDelay(FaultDelay.newBuilder().setFixedDelay(Envoy.duration(fixed.getFixedDelay()))
                        .setPercentage(percentage(d.getPercentage(), d.getPercent())));
            } else {
                problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".delay", "only fixedDelay is supported "
                        + "(exponentialDelay is not); no delay injected");
            }
        }
        if (f.getAbort() != null) {
            var a = f.getAbort();
            FaultAbort.Builder abort = FaultAbort.newBuilder().setPercentage(percentage(a.getPercentage(), null));
            switch (a.getErrorType()) {
                case HTTPFaultInjectionAbortHttpStatus s -> abort.setHttpStatus(s.getHttpStatus());
                case HTTPFaultInjectionAbortGrpcStatus g when GRPC_CODES.containsKey(g.getGrpcStatus()) ->
                        abort.setGrpcStatus(GRPC_CODES.get(g.getGrpcStatus()));
                case null, default -> {
                    problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".abort", "needs httpStatus or a grpcStatus "
                            + "name (expected one of " + new TreeMap<>(GRPC_CODES).keySet() + "); no abort injected");
                    abort = null;
                }
            }
            if (abort != null) {
                out.setAbort(abort);
            }
        }
        return out.hasDelay() || out.hasAbort() ? out.build() : null;
    }

    /** Istio: {@code percentage} (fractions allowed), else the deprecated integer {@code percent}, else 100%. */
    private static FractionalPercent percentage(Percent pct, Integer legacy) {
        if (pct != null && pct.getValue() != null) {
            return Envoy.percent(pct.getValue());
        }
        return Envoy.percent(legacy != null ? legacy : 100);
    }

    private static CorsPolicy cors(io.fabric8.istio.api.api.networking.v1alpha3.CorsPolicy c) {
        CorsPolicy.Builder out = CorsPolicy.newBuilder();
        if (c.getAllowOrigins() != null) {
            for (StringMatch m : c.getAllowOrigins()) {
                StringMatcher sm = Envoy.stringMatcher(m, false);
                if (sm != null) {
                    out.addAllowOriginStringMatch(sm);
                }
            }
        }
        if (c.getAllowOrigin() != null) {
            c.getAllowOrigin().forEach(o -> out.addAllowOriginStringMatch(StringMatcher.newBuilder().setExact(o)));
        }
        if (c.getAllowMethods() != null && !c.getAllowMethods().isEmpty()) {
            out.setAllowMethods(String.join(",", c.getAllowMethods()));
        }
        if (c.getAllowHeaders() != null && !c.getAllowHeaders().isEmpty()) {
            out.setAllowHeaders(String.join(",", c.getAllowHeaders()));
        }
        if (c.getExposeHeaders() != null && !c.getExposeHeaders().isEmpty()) {
            out.setExposeHeaders(String.join(",", c.getExposeHeaders()));
        }
        if (c.getMaxAge() != null) {
            var d = Envoy.duration(c.getMaxAge());
            if (d != null) {
                out.setMaxAge(String.valueOf(d.getSeconds()));
            }
        }
        if (c.getAllowCredentials() != null) {
            out.setAllowCredentials(BoolValue.of(c.getAllowCredentials()));
        }
        if (c.getUnmatchedPreflights() == CorsPolicyUnmatchedPreflights.FORWARD) {
            out.setForwardNotMatchingPreflights(BoolValue.of(true));
        } else if (c.getUnmatchedPreflights() == CorsPolicyUnmatchedPreflights.IGNORE) {
            out.setForwardNotMatchingPreflights(BoolValue.of(false));
        }
        return out.build();
    }

    RedirectAction redirect(VirtualService vs, HTTPRedirect r, String path) {
        RedirectAction.Builder out = RedirectAction.newBuilder();
        if (r.getUri() != null && !r.getUri().isEmpty()) {
            out.setPathRedirect(r.getUri());
        }
        if (r.getAuthority() != null && !r.getAuthority().isEmpty()) {
            out.setHostRedirect(r.getAuthority());
        }
        if (r.getScheme() != null && !r.getScheme().isEmpty()) {
            out.setSchemeRedirect(r.getScheme());
        }
        switch (r.getRedirectPort()) {
            case HTTPRedirectPort p when p.getPort() != null -> out.setPortRedirect(p.getPort().intValue());
            case HTTPRedirectDerivePort d -> problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".derivePort",
                    "not supported; the port is kept");
            case null, default -> { }
        }
        long code = r.getRedirectCode() == null || r.getRedirectCode() == 0 ? 301 : r.getRedirectCode();
        RedirectAction.RedirectResponseCode rc = Envoy.redirectCode(code);
        if (rc == null) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".redirectCode", code + " is not a redirect status "
                    + "Envoy sends (expected 301, 302, 303, 307 or 308); 301 is used");
            rc = RedirectAction.RedirectResponseCode.MOVED_PERMANENTLY;
        }
        return out.setResponseCode(rc).build();
    }

    DirectResponseAction directResponse(HTTPDirectResponse d) {
        DirectResponseAction.Builder out = DirectResponseAction.newBuilder()
                .setStatus(d.getStatus() == null ? 200 : d.getStatus().intValue());
        if (d.getBody() != null) {
            switch (d.getBody().getSpecifier()) {
                case HTTPBodyString s -> out.setBody(DataSource.newBuilder().setInlineString(s.getString()));
                case HTTPBodyBytes b -> out.setBody(DataSource.newBuilder()
                        .setInlineBytes(ByteString.copyFrom(Base64.getDecoder().decode(b.getBytes()))));
                case null, default -> { }
            }
        }
        return out.build();
    }
}
