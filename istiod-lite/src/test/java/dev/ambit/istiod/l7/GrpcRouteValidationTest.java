package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteMatch;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * GRPCRoute's syntactic checks ({@link GrpcRouteValidation}, run by the config sources, the
 * webhook and {@code ambitctl local}) and its method matches as Envoy path matchers
 * ({@link GrpcRouteTranslator#match}).
 */
class GrpcRouteValidationTest {

    private static final KubernetesSerialization YAML = new KubernetesSerialization();

    private static GRPCRoute route(String rules) {
        return YAML.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: r, namespace: shop}
                spec:
                  parentRefs: [{kind: Service, name: ratings}]
                  rules:
                """ + rules.indent(2), GRPCRoute.class);
    }

    private static List<String> problems(GRPCRoute r) {
        List<String> out = new ArrayList<>();
        L7Validation.validate(Kind.GRPC_ROUTE, r, (field, reason) -> out.add(field + ": " + reason));
        return out;
    }

    /** A match written as block YAML (the client reads text starting with a brace as JSON). */
    private static GRPCRouteMatch match(String yaml) {
        return YAML.unmarshal(yaml, GRPCRouteMatch.class);
    }

    @Test
    void validRouteHasNoProblems() {
        assertThat(problems(route("""
                - matches:
                  - method: {service: helloworld.Greeter, method: SayHello}
                    headers: [{name: x-a, value: "1"}, {name: x-b, type: RegularExpression, value: "v[0-9]+"}]
                  - method: {type: RegularExpression, service: "helloworld\\\\..*", method: "Say.*"}
                  filters:
                  - {type: RequestMirror, requestMirror: {backendRef: {name: echo, port: 80}}}
                  backendRefs: [{name: ratings, port: 7070, weight: 0}]
                """))).isEmpty();
    }

    @Test
    void eachProblemNamesItsField() {
        assertThat(problems(route("""
                - matches:
                  - method: {type: Prefix, service: a.B}
                  - method: {method: "Say Hello"}
                  - headers: [{type: RegularExpression, value: "("}]
                  filters:
                  - {type: ExtensionRef}
                  - {type: URLRewrite}
                  backendRefs: [{port: 70000}]
                """))).containsExactly(
                "spec.rules[0].matches[0].method.type: unknown type \"Prefix\" (expected one of: Exact, "
                        + "RegularExpression)",
                "spec.rules[0].matches[1].method.method: \"Say Hello\" is not a gRPC method name (expected: "
                        + "letters, digits and '_', like SayHello; type RegularExpression for patterns)",
                "spec.rules[0].matches[2].headers[0].name: missing (expected: a header name)",
                "spec.rules[0].matches[2].headers[0].value: invalid RE2 regex \"(\": missing closing )",
                "spec.rules[0].filters[0]: type ExtensionRef without its extensionRef (expected: both)",
                "spec.rules[0].filters[1].type: unknown filter type \"URLRewrite\" (expected one of: "
                        + "RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef)",
                "spec.rules[0].backendRefs[0].name: missing (expected: the backend's name)",
                "spec.rules[0].backendRefs[0].port: port 70000 (expected: 1 to 65535)");
    }

    @Test
    void methodMatchesBecomePathMatchers() {
        assertThat(GrpcRouteTranslator.match(match("method: {service: a.B, method: C}")).getPath())
                .isEqualTo("/a.B/C");
        assertThat(GrpcRouteTranslator.match(match("method: {service: a.B}")).getPrefix()).isEqualTo("/a.B/");
        assertThat(GrpcRouteTranslator.match(match("method: {method: C}")).getSafeRegex().getRegex())
                .isEqualTo("/[^/]+/C");
        assertThat(GrpcRouteTranslator.match(match("method: {type: RegularExpression, service: 'a\\.B'}"))
                .getSafeRegex().getRegex()).isEqualTo("/a\\.B/[^/]+");
        assertThat(GrpcRouteTranslator.match(match("headers: [{name: X-User, value: jason}]"))).satisfies(m -> {
            assertThat(m.getPrefix()).isEqualTo("/");
            assertThat(m.getHeaders(0).getName()).isEqualTo("x-user");
            assertThat(m.getHeaders(0).getStringMatch().getExact()).isEqualTo("jason");
        });
        assertThat(GrpcRouteTranslator.match(null).getPrefix()).isEqualTo("/");
    }
}
