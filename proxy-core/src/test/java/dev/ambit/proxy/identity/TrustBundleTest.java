package dev.ambit.proxy.identity;

import static dev.ambit.proxy.identity.TestCa.FRONTEND;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrustBundleTest {

    @TempDir
    Path dir;

    @Test
    void verifiesIssuedChainsOnlyWithinTheirValidity() throws Exception {
        try (TestCa ca = new TestCa(dir, Duration.ofHours(1))) {
            TrustBundle bundle = TrustBundle.fromPem("cluster.local", ca.ca.trustBundlePem());
            WorkloadCertificate cert = ca.client().build().issue(FRONTEND).get(10, TimeUnit.SECONDS);

            bundle.verify(cert.chain(), Instant.now());
            bundle.verify(cert.presentedChain(), Instant.now());
            assertThatThrownBy(() -> bundle.verify(cert.chain(), cert.notAfter().plusSeconds(1)))
                    .isInstanceOf(CertificateException.class)
                    .hasMessageContaining(FRONTEND.uri())
                    .hasMessageContaining("does not verify against the trust bundle of cluster.local");
        }
    }

    @Test
    void rejectsEmptyInputWithClearMessages() {
        assertThatThrownBy(() -> TrustBundle.of("cluster.local", List.of()))
                .hasMessage("roots: [] (expected: at least one root certificate)");
        assertThatThrownBy(() -> TrustBundle.fromPem("cluster.local", "nothing here"))
                .hasMessage("PEM: no CERTIFICATE block (expected: at least one)");
        assertThatThrownBy(() -> TrustBundle.of("Not A Domain", List.of()))
                .hasMessageContaining("trustDomain: Not A Domain");
    }
}
