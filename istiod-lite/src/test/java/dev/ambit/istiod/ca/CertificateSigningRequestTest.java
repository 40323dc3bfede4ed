package dev.ambit.istiod.ca;

import static dev.ambit.istiod.ca.CaTestSupport.csrPem;
import static dev.ambit.istiod.ca.CaTestSupport.p256;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.pem.Pem;
import java.security.KeyPair;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CertificateSigningRequestTest {

    private static final String WEB = "spiffe://cluster.local/ns/shop/sa/web";

    @Test
    void acceptsAP256RequestAndExposesItsKeyAndUriSans() throws Exception {
        KeyPair keys = p256();
        CertificateSigningRequest csr = CertificateSigningRequest.parse(csrPem(keys, WEB, "spiffe://x/ns/a/sa/b"));

        assertThat(csr.publicKey()).isEqualTo(keys.getPublic());
        assertThat(csr.uriSans()).containsExactly(WEB, "spiffe://x/ns/a/sa/b");
        assertThat(CertificateSigningRequest.parse(csrPem(keys)).uriSans()).isEmpty();
    }

    @Test
    void rejectsTextThatIsNotPem() {
        assertThatThrownBy(() -> CertificateSigningRequest.parse("hello, CA"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR: no PEM block (expected: -----BEGIN CERTIFICATE REQUEST-----)");
        assertThatThrownBy(() -> CertificateSigningRequest.parse(""))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR: empty (expected: a PEM CERTIFICATE REQUEST)");
    }

    @Test
    void rejectsPemWhoseContentIsNotPkcs10() {
        String garbageDer = CaTestSupport.pem("CERTIFICATE REQUEST", new byte[] {0x30, 0x03, 0x02, 0x01, 0x05});
        assertThatThrownBy(() -> CertificateSigningRequest.parse(garbageDer))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("CSR: malformed PEM or DER");
        String badBase64 = "-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----\n";
        assertThatThrownBy(() -> CertificateSigningRequest.parse(badBase64))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("CSR: malformed PEM or DER");
    }

    @Test
    void rejectsACertificateInPlaceOfARequest() throws Exception {
        KeyPair keys = p256();
        String certificate = Pem.encode(CaTestSupport.caCertificate("CN=x", keys, null, null, Duration.ofDays(1)));

        assertThatThrownBy(() -> CertificateSigningRequest.parse(certificate))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR: PEM holds a CERTIFICATE (expected: a CERTIFICATE REQUEST)");
    }

    @Test
    void rejectsTwoRequestsInOne() throws Exception {
        KeyPair keys = p256();
        assertThatThrownBy(() -> CertificateSigningRequest.parse(csrPem(keys, WEB) + csrPem(keys, WEB)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR: more than one PEM block (expected: one CERTIFICATE REQUEST)");
    }

    @Test
    void rejectsASignatureThatDoesNotVerify() throws Exception {
        KeyPair keys = p256();
        assertThatThrownBy(() -> CertificateSigningRequest.parse(CaTestSupport.brokenSignatureCsrPem(keys, WEB)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("CSR signature: does not verify");
        String tampered = CaTestSupport.tamperedCsrPem(keys, "spiffe://cluster.local/ns/shop/sa/guest", WEB);
        assertThatThrownBy(() -> CertificateSigningRequest.parse(tampered))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("CSR signature: does not verify");
    }

    @Test
    void rejectsKeysOtherThanP256() throws Exception {
        assertThatThrownBy(() -> CertificateSigningRequest.parse(csrPem(CaTestSupport.rsa(), WEB)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR key: RSA (expected: EC P-256)");
        assertThatThrownBy(() -> CertificateSigningRequest.parse(csrPem(CaTestSupport.ecKeyPair("secp384r1"), WEB)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR key: EC secp384r1 (expected: EC P-256)");
    }

    @Test
    void rejectsOversizedInput() {
        String huge = "A".repeat(CertificateSigningRequest.MAX_PEM_LENGTH + 1);
        assertThatThrownBy(() -> CertificateSigningRequest.parse(huge))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CSR: 65537 characters (expected: at most 65536)");
    }
}
