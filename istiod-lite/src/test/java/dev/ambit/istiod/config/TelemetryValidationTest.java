package dev.ambit.istiod.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** Telemetry (issue 19) through the one decoder the sources and the webhook use: bad expressions refused by field. */
class TelemetryValidationTest {

    private final ObjectDecoder decoder = new ObjectDecoder();

    private ObjectDecoder.Result decode(String yaml) {
        Map<?, ?> doc = new Yaml(new SafeConstructor(new LoaderOptions())).load(yaml);
        return decoder.decode("t.yaml", doc, "default");
    }

    @Test
    void aGoodTelemetryDecodes() {
        for (String version : new String[] {"v1", "v1alpha1"}) {
            ObjectDecoder.Result r = decode("""
                    apiVersion: telemetry.istio.io/%s
                    kind: Telemetry
                    metadata: {name: mesh, namespace: istio-system}
                    spec:
                      metrics:
                      - overrides:
                        - match: {metric: REQUEST_COUNT}
                          tagOverrides:
                            custom_label: {value: "request.headers['x-custom'] | 'unknown'"}
                            request_protocol: {operation: REMOVE}
                      accessLogging: [{filter: {expression: "response.code >= 400"}}]
                      tracing: [{randomSamplingPercentage: 100, customTags: {env: {literal: {value: prod}}}}]
                    """.formatted(version));
            assertThat(r.errors()).as(version).isEmpty();
            assertThat(r.kind()).isEqualTo(Kind.TELEMETRY);
        }
    }

    @Test
    void badExpressionsAndSamplingAreRefusedNamingObjectAndField() {
        ObjectDecoder.Result r = decode("""
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: bad, namespace: shop}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  targetRefs: [{kind: Service, group: "", name: reviews}]
                  metrics:
                  - overrides:
                    - tagOverrides:
                        custom_label: {value: "request.nope"}
                        empty: {}
                  accessLogging: [{filter: {expression: "response.code >="}}]
                  tracing: [{randomSamplingPercentage: 150}]
                """);
        assertThat(r.ok()).isFalse();
        assertThat(r.errors()).extracting(ConfigError::message).allSatisfy(m -> assertThat(m)
                .startsWith("t.yaml: Telemetry shop/bad: "));
        assertThat(r.errors()).extracting(e -> e.field() + ": " + e.reason()).containsExactlyInAnyOrder(
                "spec.targetRefs: selector and targetRefs both set (expected: one of them)",
                "spec.metrics[0].overrides[0].tagOverrides.custom_label.value: unknown attribute request.nope at "
                        + "position 0 of \"request.nope\" (expected: an Istio attribute expression, the CEL subset "
                        + "Ambit evaluates)",
                "spec.metrics[0].overrides[0].tagOverrides.empty.value: missing (expected: an attribute expression "
                        + "for operation UPSERT)",
                "spec.accessLogging[0].filter.expression: unexpected end of expression at position 16 of "
                        + "\"response.code >=\" (expected: an Istio attribute expression, the CEL subset Ambit "
                        + "evaluates)",
                "spec.tracing[0].randomSamplingPercentage: 150.0 (expected: 0-100)");
    }
}
