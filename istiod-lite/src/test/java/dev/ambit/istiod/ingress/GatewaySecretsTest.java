package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.file.Files;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Secrets checked before they are served: every way one can be wrong is named by Secret and field. */
class GatewaySecretsTest {

    private static final GatewayModel.SecretRef REF = new GatewayModel.SecretRef("istio-system", "cert");

    private static String b64(String file) throws Exception {
        return Base64.getEncoder().encodeToString(Files.readAllBytes(IngressCases.ROOT.resolve(file)));
    }

    private static ConfigSnapshot with(Map<String, String> data) {
        Secret s = new SecretBuilder().withNewMetadata().withName("cert").withNamespace("istio-system").endMetadata()
                .withType("kubernetes.io/tls").withData(data).build();
        return ConfigSnapshot.builder().put(Kind.SECRET, s).build();
    }

    private static String problem(Map<String, String> data) {
        return GatewaySecrets.certificate(with(data), REF, "kubernetes://cert").problem();
    }

    @Test
    void aGoodPairIsServedAndEveryBrokenOneNamed() throws Exception {
        String crt = b64("app.crt");
        String key = b64("app.key");
        assertThat(problem(Map.of("tls.crt", crt, "tls.key", key))).isNull();
        assertThat(problem(Map.of("tls.crt", crt))).isEqualTo("Secret istio-system/cert: field data.tls.key: missing "
                + "(expected: a PEM private key)");
        assertThat(problem(Map.of("tls.crt", b64("app.key"), "tls.key", key)))
                .startsWith("Secret istio-system/cert: field data.tls.crt: holds a PRIVATE KEY");
        assertThat(problem(Map.of("tls.crt", Base64.getEncoder().encodeToString("hello".getBytes()), "tls.key", key)))
                .startsWith("Secret istio-system/cert: field data.tls.crt: no CERTIFICATE block");
        assertThat(problem(Map.of("tls.crt", "%%%", "tls.key", key)))
                .isEqualTo("Secret istio-system/cert: field data.tls.crt is not base64");
        assertThat(problem(Map.of("tls.crt", crt, "tls.key", b64("other.key"))))
                .contains("field data.tls.key: the private key does not match the certificate");
    }

    @Test
    void mutualNeedsCaCertificatesFromTheSecretOrItsCacertSibling() throws Exception {
        String crt = b64("app.crt");
        ConfigSnapshot none = with(Map.of("tls.crt", crt, "tls.key", b64("app.key")));
        assertThat(GatewaySecrets.caCertificates(none, REF, "kubernetes://cert-cacert").problem())
                .isEqualTo("Secret istio-system/cert: field data.ca.crt: missing, and no Secret cert-cacert holds one "
                        + "(expected: the CA certificates MUTUAL TLS verifies clients with)");
        Secret sibling = new SecretBuilder().withNewMetadata().withName("cert-cacert").withNamespace("istio-system")
                .endMetadata().withType("Opaque").addToData("cacert", b64("ca.crt")).build();
        ConfigSnapshot withSibling = ConfigSnapshot.builder()
                .put(Kind.SECRET, none.list(Kind.SECRET, Secret.class).getFirst()).put(Kind.SECRET, sibling).build();
        var served = GatewaySecrets.caCertificates(withSibling, REF, "kubernetes://cert-cacert");
        assertThat(served.problem()).isNull();
        assertThat(served.secret().getName()).isEqualTo("kubernetes://cert-cacert");
        assertThat(served.secret().getValidationContext().getTrustedCa().getInlineBytes().toByteArray())
                .isEqualTo(Files.readAllBytes(IngressCases.ROOT.resolve("ca.crt")));
    }
}
