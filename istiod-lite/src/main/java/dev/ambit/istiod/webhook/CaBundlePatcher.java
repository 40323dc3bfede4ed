package dev.ambit.istiod.webhook;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhook;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Fills in the {@code caBundle} of istiod-lite's {@code ValidatingWebhookConfiguration}
 * (installed by the Helm chart without one) with the mesh CA's root, as Istio's istiod does
 * at start: the API server then trusts the webhook's serving certificate, which that CA issued.
 */
@FunctionalInterface
public interface CaBundlePatcher {

    /**
     * Sets the {@code caBundle} of every webhook of configuration {@code name}.
     *
     * @throws IllegalStateException naming the configuration when it cannot be patched
     */
    void patch(String name, String caBundlePem);

    /** Through the API server: get, then patch, the cluster-scoped configuration. */
    static CaBundlePatcher kubernetes(KubernetesClient client) {
        requireNonNull(client, "client");
        return (name, caBundlePem) -> {
            requireNonNull(name, "name");
            String caBundle = Base64.getEncoder().encodeToString(
                    requireNonNull(caBundlePem, "caBundlePem").getBytes(StandardCharsets.US_ASCII));
            var resource = client.admissionRegistration().v1().validatingWebhookConfigurations().withName(name);
            try {
                if (resource.get() == null) {
                    throw new IllegalStateException("ValidatingWebhookConfiguration " + name + " not found: install "
                            + "istiod-lite with its Helm chart, or apply `istiod-lite --print-webhook-configuration`");
                }
                resource.edit(config -> {
                    for (ValidatingWebhook webhook : config.getWebhooks()) {
                        if (webhook.getClientConfig() != null) {
                            webhook.getClientConfig().setCaBundle(caBundle);
                        }
                    }
                    return config;
                });
            } catch (KubernetesClientException e) {
                throw new IllegalStateException("cannot set the caBundle of ValidatingWebhookConfiguration " + name
                        + ": " + e.getMessage() + " (does istiod-lite's ClusterRole allow get and patch on it?)", e);
            }
        };
    }
}
