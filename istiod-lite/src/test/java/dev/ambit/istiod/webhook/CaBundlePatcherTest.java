package dev.ambit.istiod.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * istiod-lite fills in the caBundle of the configuration the chart installed (without one),
 * through fabric8 against its mock API server in CRUD mode.
 */
class CaBundlePatcherTest {

    private static final String ROOT = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n";

    private KubernetesMockServer server;
    private KubernetesClient client;

    @BeforeEach
    void start() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        server.init();
        client = server.createClient();
    }

    @AfterEach
    void stop() {
        client.close();
        server.destroy();
    }

    @Test
    void setsTheCaBundleOfEveryWebhookAndKeepsTheRest() {
        // What the chart installs: the printed configuration without its caBundle.
        ValidatingWebhookConfiguration installed = client.getKubernetesSerialization().unmarshal(
                new ByteArrayInputStream(WebhookConfiguration.yaml("istiod", "istio-system", "")
                        .replace("    caBundle: \n", "").getBytes(StandardCharsets.UTF_8)),
                ValidatingWebhookConfiguration.class);
        assertThat(installed.getWebhooks().getFirst().getClientConfig().getCaBundle()).isNull();
        client.resource(installed).create();

        CaBundlePatcher.kubernetes(client).patch("istiod-validator-istio-system", ROOT);

        ValidatingWebhookConfiguration live = client.admissionRegistration().v1().validatingWebhookConfigurations()
                .withName("istiod-validator-istio-system").get();
        // Both webhooks (Istio's groups, Gateway API's) get the bundle; the rest stays.
        assertThat(live.getWebhooks()).hasSize(2).allSatisfy(w -> {
            assertThat(new String(Base64.getDecoder().decode(w.getClientConfig().getCaBundle()),
                    StandardCharsets.US_ASCII)).isEqualTo(ROOT);
            assertThat(w.getClientConfig().getService().getName()).isEqualTo("istiod");
            assertThat(w.getClientConfig().getService().getPort()).isEqualTo(443);
        });
        assertThat(live.getWebhooks().get(0)).satisfies(w -> {
            assertThat(w.getFailurePolicy()).isEqualTo("Fail");
            assertThat(w.getRules()).singleElement().satisfies(r -> assertThat(r.getApiGroups())
                    .containsExactlyInAnyOrder("security.istio.io", "networking.istio.io", "telemetry.istio.io"));
        });
        assertThat(live.getWebhooks().get(1)).satisfies(w -> {
            assertThat(w.getFailurePolicy()).isEqualTo("Ignore");
            assertThat(w.getRules()).singleElement().satisfies(r -> assertThat(r.getApiGroups())
                    .containsExactly("gateway.networking.k8s.io"));
        });
    }

    @Test
    void aMissingConfigurationIsNamedWithTheFix() {
        assertThatThrownBy(() -> CaBundlePatcher.kubernetes(client).patch("istiod-validator-istio-system", ROOT))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("istiod-validator-istio-system not found")
                .hasMessageContaining("--print-webhook-configuration");
    }
}
