package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CertificateSecretsTest {

    private static final byte[] CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
            .getBytes(StandardCharsets.US_ASCII);
    private static final byte[] KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
            .getBytes(StandardCharsets.US_ASCII);

    @Test
    void missingOrMalformedSecretsAreNamedWithTheKeyNeverTheBytes() {
        assertThat(CertificateSecrets.problem("shop", "cert", null)).isEqualTo("Secret shop/cert does not exist");
        assertThat(CertificateSecrets.problem("shop", "cert", Map.of("tls.key", KEY)))
                .isEqualTo("Secret shop/cert: tls.crt is missing (expected: a PEM certificate chain)");
        assertThat(CertificateSecrets.problem("shop", "cert", Map.of("tls.crt", "nope".getBytes(), "tls.key", KEY)))
                .contains("tls.crt is not a PEM certificate").doesNotContain("nope");
        assertThat(CertificateSecrets.problem("shop", "cert", Map.of("tls.crt", CERT)))
                .contains("tls.key is missing");
        assertThat(CertificateSecrets.problem("shop", "cert", Map.of("tls.crt", CERT, "tls.key", CERT)))
                .contains("tls.key is not a PEM private key").doesNotContain("MIIB");
        assertThat(CertificateSecrets.problem("shop", "cert", Map.of("tls.crt", CERT, "tls.key", KEY))).isNull();
    }

    @Test
    void fabric8SecretsAreDecodedFromDataAndStringData() {
        var b64 = java.util.Base64.getEncoder();
        var secret = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("cert").endMetadata()
                .withData(Map.of("tls.crt", b64.encodeToString(CERT))).build();
        assertThat(CertificateSecrets.problemOf("shop", "cert", secret)).contains("tls.key is missing");
        secret.setStringData(Map.of("tls.key", new String(KEY, StandardCharsets.US_ASCII)));
        assertThat(CertificateSecrets.problemOf("shop", "cert", secret)).isNull();
        assertThat(CertificateSecrets.problemOf("shop", "cert", null))
                .contains("does not exist");
    }
}
