package dev.ambit.istiod.webhook;

import static java.util.Objects.requireNonNull;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The {@code ValidatingWebhookConfiguration} that registers {@link ValidationWebhook}
 * with the API server ({@code istiod-lite --print-webhook-configuration} prints it; the
 * Helm chart installs it). Two webhooks, one endpoint:
 * <ul>
 *   <li>{@code validation.*}: like Istio's {@code istio-validator}, the Istio API groups
 *       istiod-lite reads, CREATE and UPDATE, {@code failurePolicy: Fail} (nothing unchecked
 *       is stored while the webhook is unreachable);</li>
 *   <li>{@code gateway-validation.*}: Gateway API's {@code gateways}, {@code httproutes} and
 *       {@code grpcroutes}, of which the webhook judges only the mesh's
 *       ({@link GatewayApiScope}). Istio registers no webhook for this group (it relies on the
 *       Gateway API CRDs' own validation); Ambit refuses what istiod-lite would reject, with
 *       {@code failurePolicy: Ignore}: the group is shared with every other Gateway API
 *       implementation in the cluster, and istiod-lite being down must not block their
 *       writes. A route stored meanwhile is still rejected by istiod-lite when read (its last
 *       good version stays in force).</li>
 * </ul>
 * Both with {@code sideEffects: None} and the mesh CA's root as {@code caBundle}, which signed
 * the webhook's serving certificate. The Service maps port 443 to the webhook's 15017, as
 * istiod's does.
 */
public final class WebhookConfiguration {

    private WebhookConfiguration() {}

    /** Its name: {@code <service>-validator-<namespace>} (Istio's is {@code istio-validator-<namespace>}). */
    public static String name(String serviceName, String namespace) {
        return serviceName + "-validator-" + namespace;
    }

    /**
     * The configuration as YAML.
     *
     * @param serviceName   istiod-lite's Service
     * @param namespace     its namespace
     * @param caBundlePem   the CA root certificate(s), PEM
     */
    public static String yaml(String serviceName, String namespace, String caBundlePem) {
        requireNonNull(serviceName, "serviceName");
        requireNonNull(namespace, "namespace");
        requireNonNull(caBundlePem, "caBundlePem");
        String caBundle = Base64.getEncoder().encodeToString(caBundlePem.getBytes(StandardCharsets.US_ASCII));
        return """
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingWebhookConfiguration
                metadata:
                  name: %5$s
                  labels: {app: istiod-lite}
                webhooks:
                - name: validation.%1$s.%2$s.ambit.dev
                  admissionReviewVersions: [v1]
                  sideEffects: None
                  failurePolicy: Fail
                  timeoutSeconds: 10
                  clientConfig:
                    service: {name: %1$s, namespace: %2$s, path: %3$s, port: 443}
                    caBundle: %4$s
                  rules:
                  - operations: [CREATE, UPDATE]
                    apiGroups: [security.istio.io, networking.istio.io, telemetry.istio.io]
                    apiVersions: ["*"]
                    resources: ["*"]
                    scope: "*"
                - name: gateway-validation.%1$s.%2$s.ambit.dev
                  admissionReviewVersions: [v1]
                  sideEffects: None
                  failurePolicy: Ignore
                  timeoutSeconds: 10
                  clientConfig:
                    service: {name: %1$s, namespace: %2$s, path: %3$s, port: 443}
                    caBundle: %4$s
                  rules:
                  - operations: [CREATE, UPDATE]
                    apiGroups: [gateway.networking.k8s.io]
                    apiVersions: ["*"]
                    resources: [gateways, httproutes, grpcroutes]
                    scope: Namespaced
                """.formatted(serviceName, namespace, ValidationWebhook.PATH, caBundle, name(serviceName, namespace));
    }
}
