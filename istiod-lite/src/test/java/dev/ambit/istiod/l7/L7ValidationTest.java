package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigError;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The syntactic checks run where objects are admitted (ObjectDecoder: both sources and the webhook). */
class L7ValidationTest {

    @Test
    void badRegexNegativeWeightZeroTotalAndBadDurationAreRejectedWithTheirFields() {
        List<ConfigError> errors = Snapshots.errors("""
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: bad, namespace: shop}
                spec:
                  hosts: [reviews]
                  http:
                  - match: [{uri: {regex: "a(?=b)"}, headers: {x: {regex: "[z-a]"}}}]
                    route:
                    - {destination: {host: reviews}, weight: -1}
                    - {destination: {host: ratings}, weight: 0}
                    timeout: 3 seconds
                    retries: {attempts: 2, retryOn: "5xx,teapot,503"}
                    fault: {abort: {httpStatus: 700, percentage: {value: 150}}}
                """);
        assertThat(errors).extracting(ConfigError::message).containsExactlyInAnyOrder(
                "test.yaml: VirtualService shop/bad: spec.http[0].match[0].uri.regex: invalid RE2 regex "
                        + "\"a(?=b)\": invalid or unsupported Perl syntax",
                "test.yaml: VirtualService shop/bad: spec.http[0].match[0].headers.x.regex: invalid RE2 regex "
                        + "\"[z-a]\": invalid character class range",
                "test.yaml: VirtualService shop/bad: spec.http[0].route[0].weight: negative weight -1 (expected: 0 "
                        + "or more)",
                "test.yaml: VirtualService shop/bad: spec.http[0].route: the weights of 2 destinations sum to 0 "
                        + "(expected: a positive total; weights are relative)",
                "test.yaml: VirtualService shop/bad: spec.http[0].timeout: \"3 seconds\" is not a duration "
                        + "(expected: like 1.5s, 300ms or 1m)",
                "test.yaml: VirtualService shop/bad: spec.http[0].retries.retryOn: unknown retry condition "
                        + "\"teapot\" (expected: an HTTP status or one of [5xx, cancelled, connect-failure, "
                        + "deadline-exceeded, envoy-ratelimited, gateway-error, http3-post-connect-failure, internal, "
                        + "refused-stream, reset, reset-before-request, resource-exhausted, retriable-4xx, "
                        + "retriable-headers, retriable-status-codes, unavailable])",
                "test.yaml: VirtualService shop/bad: spec.http[0].fault.abort.percentage: 150.0 (expected: a "
                        + "percentage 0-100)",
                "test.yaml: VirtualService shop/bad: spec.http[0].fault.abort.httpStatus: 700 (expected: 200-599)");
    }

    @Test
    void missingValuesThatWouldBreakTheTranslationAreRejected() {
        List<ConfigError> errors = Snapshots.errors("""
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: holes, namespace: shop}
                spec:
                  hosts: [reviews]
                  http:
                  - headers: {request: {set: {x-a: null}}}
                    mirror: {subset: v1}
                    fault: {delay: {fixedDelay: null}}
                    route: [{destination: {host: reviews}}]
                  - directResponse: {status: 200, body: {bytes: "not base64!"}}
                """);
        assertThat(errors).extracting(ConfigError::field).containsExactlyInAnyOrder(
                "spec.http[0].headers.request.set.x-a", "spec.http[0].mirror.host", "spec.http[0].fault.delay.fixedDelay",
                "spec.http[1].directResponse.body");
    }

    @Test
    void httpRouteAndDestinationRuleChecks() {
        List<ConfigError> errors = Snapshots.errors("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: shop}
                spec:
                  parentRefs: [{kind: Service, name: reviews}]
                  rules:
                  - matches: [{path: {type: RegularExpression, value: "a++"}}]
                    backendRefs: [{name: reviews, port: 9080, weight: -3}]
                    filters: [{type: URLRewrite}, {type: RequestMirror, requestMirror: {percent: 5}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: d, namespace: shop}
                spec:
                  host: reviews
                  subsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]
                """);
        assertThat(errors).extracting(ConfigError::field).containsExactlyInAnyOrder(
                "spec.rules[0].matches[0].path.value", "spec.rules[0].backendRefs[0].weight", "spec.subsets[1].name",
                "spec.rules[0].filters[0]", "spec.rules[0].filters[1]");
    }

    @Test
    void validRoutingObjectsPass() {
        assertThat(Snapshots.errors(Snapshots.base(), """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: ok, namespace: shop}
                spec:
                  hosts: [reviews]
                  http:
                  - match: [{uri: {regex: "/a/[0-9]+(/.*)?"}}]
                    retries: {attempts: 3, perTryTimeout: 1.5s, retryOn: "gateway-error,503,cancelled"}
                    timeout: 1m30s
                    route: [{destination: {host: reviews}, weight: 1}, {destination: {host: ratings}, weight: 0}]
                """)).isEmpty();
    }
}
