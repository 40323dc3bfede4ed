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
}
