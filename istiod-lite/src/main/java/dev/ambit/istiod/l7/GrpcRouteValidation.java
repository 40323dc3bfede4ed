package dev.ambit.istiod.l7;

import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCBackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCHeaderMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCMethodMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteRule;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The syntactic checks of a GRPCRoute ({@link L7Validation#validate}): what Gateway API's
 * CRD schema and CEL rules refuse on a real API server (a method match naming neither
 * service nor method, a service or method name that is not a protobuf name, an unknown
 * match type, a filter without its configuration, a negative weight), which folder mode
 * and {@code ambitctl local} have no API server to refuse, plus what Envoy would refuse:
 * a regular expression that is not RE2.
 */
final class GrpcRouteValidation {

    /** Gateway API's pattern for {@code method.service} of an Exact match (a dotted protobuf name). */
    private static final Pattern SERVICE = Pattern.compile("(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*");
    /** Gateway API's pattern for {@code method.method} of an Exact match. */
    private static final Pattern METHOD = Pattern.compile("[A-Za-z_][A-Za-z_0-9]*");
    private static final List<String> MATCH_TYPES = List.of("Exact", "RegularExpression");
    /** The filter types Gateway API defines for GRPCRoute, with the field that configures each. */
    private static final List<String> FILTERS = List.of("RequestHeaderModifier", "ResponseHeaderModifier",
            "RequestMirror", "ExtensionRef");

    private GrpcRouteValidation() {
    }

    static void validate(GRPCRoute r, L7Validation.Sink sink) {
        List<GRPCRouteRule> rules = r.getSpec().getRules() == null ? List.of() : r.getSpec().getRules();
        for (int i = 0; i < rules.size(); i++) {
            GRPCRouteRule rule = rules.get(i);
            String p = "spec.rules[" + i + "]";
            if (rule == null) {
                sink.add(p, "empty rule (expected: an object)");
                continue;
            }
            List<GRPCRouteMatch> matches = rule.getMatches() == null ? List.of() : rule.getMatches();
            for (int j = 0; j < matches.size(); j++) {
                if (matches.get(j) != null) {
                    match(p + ".matches[" + j + "]", matches.get(j), sink);
                }
            }
            List<GRPCRouteFilter> filters = rule.getFilters() == null ? List.of() : rule.getFilters();
            for (int k = 0; k < filters.size(); k++) {
                filter(p + ".filters[" + k + "]", filters.get(k), sink);
            }
            List<GRPCBackendRef> backends = rule.getBackendRefs() == null ? List.of() : rule.getBackendRefs();
            for (int k = 0; k < backends.size(); k++) {
                GRPCBackendRef b = backends.get(k);
                String bp = p + ".backendRefs[" + k + "]";
                if (b == null) {
                    continue;
                }
                if (b.getName() == null || b.getName().isEmpty()) {
                    sink.add(bp + ".name", "missing (expected: the backend's name)");
                }
                if (b.getWeight() != null && (b.getWeight() < 0 || b.getWeight() > 1_000_000)) {
                    sink.add(bp + ".weight", "weight " + b.getWeight() + " (expected: 0 to 1000000)");
                }
                if (b.getPort() != null && (b.getPort() < 1 || b.getPort() > 65535)) {
                    sink.add(bp + ".port", "port " + b.getPort() + " (expected: 1 to 65535)");
                }
            }
        }
    }

    private static void match(String mp, GRPCRouteMatch m, L7Validation.Sink sink) {
        GRPCMethodMatch method = m.getMethod();
        if (method != null) {
            String type = method.getType() == null ? "Exact" : method.getType();
            boolean hasService = method.getService() != null && !method.getService().isEmpty();
            boolean hasMethod = method.getMethod() != null && !method.getMethod().isEmpty();
            if (!MATCH_TYPES.contains(type)) {
                sink.add(mp + ".method.type", "unknown type \"" + type + "\" (expected one of: "
                        + String.join(", ", MATCH_TYPES) + ")");
            } else if (!hasService && !hasMethod) {
                sink.add(mp + ".method", "names neither service nor method (expected: service, method or both)");
            } else if (type.equals("Exact")) {
                if (hasService && !SERVICE.matcher(method.getService()).matches()) {
                    sink.add(mp + ".method.service", "\"" + method.getService() + "\" is not a gRPC service name "
                            + "(expected: a dotted protobuf name like helloworld.Greeter; type RegularExpression "
                            + "for patterns)");
                }
                if (hasMethod && !METHOD.matcher(method.getMethod()).matches()) {
                    sink.add(mp + ".method.method", "\"" + method.getMethod() + "\" is not a gRPC method name "
                            + "(expected: letters, digits and '_', like SayHello; type RegularExpression for "
                            + "patterns)");
                }
            } else {
                if (hasService) {
                    L7Validation.regex(mp + ".method.service", method.getService(), sink);
                }
                if (hasMethod) {
                    L7Validation.regex(mp + ".method.method", method.getMethod(), sink);
                }
            }
        }
        List<GRPCHeaderMatch> headers = m.getHeaders() == null ? List.of() : m.getHeaders();
        for (int k = 0; k < headers.size(); k++) {
            GRPCHeaderMatch h = headers.get(k);
            String hp = mp + ".headers[" + k + "]";
            if (h == null) {
                continue;
            }
            if (h.getName() == null || h.getName().isEmpty()) {
                sink.add(hp + ".name", "missing (expected: a header name)");
            }
            String type = h.getType() == null ? "Exact" : h.getType();
            if (!MATCH_TYPES.contains(type)) {
                sink.add(hp + ".type", "unknown type \"" + type + "\" (expected one of: "
                        + String.join(", ", MATCH_TYPES) + ")");
            } else if (type.equals("RegularExpression")) {
                L7Validation.regex(hp + ".value", h.getValue(), sink);
            }
        }
    }

    private static void filter(String fp, GRPCRouteFilter f, L7Validation.Sink sink) {
        if (f == null || f.getType() == null) {
            sink.add(fp + ".type", "missing (expected: a filter type)");
            return;
        }
        Object config;
        String field;
        switch (f.getType()) {
            case "RequestHeaderModifier" -> {
                config = f.getRequestHeaderModifier();
                field = "requestHeaderModifier";
            }
            case "ResponseHeaderModifier" -> {
                config = f.getResponseHeaderModifier();
                field = "responseHeaderModifier";
            }
            case "RequestMirror" -> {
                config = f.getRequestMirror() == null ? null : f.getRequestMirror().getBackendRef();
                field = "requestMirror.backendRef";
            }
            case "ExtensionRef" -> {
                config = f.getExtensionRef();
                field = "extensionRef";
            }
            default -> {
                sink.add(fp + ".type", "unknown filter type \"" + f.getType() + "\" (expected one of: "
                        + String.join(", ", FILTERS) + ")");
                return;
            }
        }
        if (config == null) {
            sink.add(fp, "type " + f.getType() + " without its " + field + " (expected: both)");
        }
    }
}
