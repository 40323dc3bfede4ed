package dev.ambit.common.pem;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.spec.ECGenParameterSpec;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fixtures: throw-away keys and certificates made with openssl 3 (see the file names). */
class PemTest {

    @TempDir
    Path dir;

    private static String fixture(String name) throws IOException {
        try (InputStream in = PemTest.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("test fixture " + name + " missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    @Test
    void certificateChainRoundTrips() throws Exception {
        List<X509Certificate> chain = Pem.certificates("chain.pem", fixture("chain.pem"));
        assertThat(chain).hasSize(2);
        assertThat(chain.get(0).getSubjectX500Principal().getName()).isEqualTo("CN=pem leaf,O=ambit-test");
        assertThat(chain.get(1).getSubjectX500Principal().getName()).isEqualTo("CN=pem root,O=ambit-test");

        String encoded = Pem.encode(chain);
        assertThat(encoded).isEqualTo(fixture("chain.pem")); // openssl's layout: 64 columns, newline-terminated
        assertThat(Pem.certificates("again", encoded)).isEqualTo(chain);
        assertThat(Pem.encode(chain.get(1))).isEqualTo(fixture("root.pem"));
    }

    @Test
    void textAroundBlocksIsIgnored() throws Exception {
        String withComments = "subject=CN = pem root\r\n" + fixture("root.pem").replace("\n", "\r\n") + "trailer\n";
        assertThat(Pem.certificates("PEM", withComments)).hasSize(1);
    }

    @Test
    void privateKeysRoundTripAsPkcs8() throws Exception {
        KeyPairGenerator ec = KeyPairGenerator.getInstance("EC");
        ec.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair keys = ec.generateKeyPair();
        String pem = Pem.encode(keys.getPrivate());
        assertThat(pem).startsWith("-----BEGIN PRIVATE KEY-----\n").endsWith("-----END PRIVATE KEY-----\n");
        assertThat(Pem.privateKey("key", pem)).isEqualTo(keys.getPrivate());

        KeyPair ed = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        assertThat(Pem.privateKey("key", Pem.encode(ed.getPrivate()))).isEqualTo(ed.getPrivate());
    }

    @Test
    void traditionalKeyFormsReadAsTheSameKeys() throws Exception {
        PrivateKey sec1 = Pem.privateKey("ec-sec1.pem", fixture("ec-sec1.pem"));
        PrivateKey pkcs8 = Pem.privateKey("ec-pkcs8.pem", fixture("ec-pkcs8.pem"));
        assertThat(sec1).isInstanceOf(ECPrivateKey.class);
        assertThat(((ECPrivateKey) sec1).getS()).isEqualTo(((ECPrivateKey) pkcs8).getS());
        // The root was self-signed with this key: it must verify what the key signs.
        X509Certificate root = Pem.certificates("root.pem", fixture("root.pem")).getFirst();
        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign(sec1);
        signer.update(new byte[] {1, 2, 3});
        byte[] signature = signer.sign();
        Signature verifier = Signature.getInstance("SHA256withECDSA");
        verifier.initVerify(root.getPublicKey());
        verifier.update(new byte[] {1, 2, 3});
        assertThat(verifier.verify(signature)).isTrue();

        PrivateKey rsa = Pem.privateKey("rsa-pkcs1.pem", fixture("rsa-pkcs1.pem"));
        assertThat(rsa).isInstanceOf(RSAPrivateCrtKey.class);
        assertThat(((RSAPrivateCrtKey) rsa).getModulus().bitLength()).isEqualTo(2048);
    }

    @Test
    void filesAreReadAndTheirErrorsNameThem() throws Exception {
        Path chain = Files.writeString(dir.resolve("cert-chain.pem"), fixture("chain.pem"));
        Path key = Files.writeString(dir.resolve("ca-key.pem"), fixture("ec-sec1.pem"));
        assertThat(Pem.readCertificates(chain)).hasSize(2);
        assertThat(Pem.readPrivateKey(key)).isInstanceOf(ECPrivateKey.class);

        Files.writeString(key, "not a key\n");
        assertThatThrownBy(() -> Pem.readPrivateKey(key))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage(key + ": 0 PEM blocks (expected: one private key)");
        assertThatThrownBy(() -> Pem.readCertificates(key))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage(key + ": no CERTIFICATE block (expected: at least one)");
    }

    @Test
    void badInputIsNamed() throws Exception {
        assertThatThrownBy(() -> Pem.certificates("PEM", "nothing here"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("PEM: no CERTIFICATE block (expected: at least one)");
        assertThatThrownBy(() -> Pem.certificates("bundle", fixture("root.pem") + fixture("ec-pkcs8.pem")))
                .hasMessage("bundle: holds a PRIVATE KEY (expected: only CERTIFICATE blocks)");
        assertThatThrownBy(() -> Pem.certificates("bundle", Pem.encode("CERTIFICATE", new byte[] {0x30, 0x00})))
                .hasMessageStartingWith("bundle: unparseable certificate (");
        assertThatThrownBy(() -> Pem.decode("x", "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"))
                .hasMessageStartingWith("x: not valid PEM (CERTIFICATE block: Illegal base64 character");
        assertThatThrownBy(() -> Pem.decode("x", "-----BEGIN CERTIFICATE-----\nMIIB\n"))
                .hasMessage("x: not valid PEM (BEGIN CERTIFICATE without a matching END line)");
        assertThatThrownBy(() -> Pem.decode("x", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n"))
                .hasMessage("x: not valid PEM (BEGIN CERTIFICATE ends with END PRIVATE KEY; expected: END CERTIFICATE)");
    }

    @Test
    void keyErrorsSayWhatIsWrong() throws Exception {
        assertThatThrownBy(() -> Pem.privateKey("k", fixture("root.pem")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("k: holds a CERTIFICATE (expected: a PRIVATE KEY)");
        assertThatThrownBy(() -> Pem.privateKey("k", fixture("ec-sec1.pem") + fixture("ec-pkcs8.pem")))
                .hasMessage("k: 2 PEM blocks (expected: one private key)");
        assertThatThrownBy(() -> Pem.privateKey("k", fixture("ec-encrypted.pem")))
                .hasMessageStartingWith("k: the private key is encrypted (expected: an unencrypted key;");
        assertThatThrownBy(() -> Pem.privateKey("k", fixture("ec-sec1-encrypted.pem")))
                .hasMessageStartingWith("k: the private key is encrypted");
        assertThatThrownBy(() -> Pem.privateKey("k", Pem.encode("PRIVATE KEY", new byte[] {0x02, 0x01, 0x00})))
                .hasMessageStartingWith("k: unusable private key (PrivateKeyInfo: DER tag 0x2 (expected: 0x30)");
        // SEC1 without the optional curve parameters: nothing says which curve.
        assertThatThrownBy(() -> Pem.privateKey("k", Pem.encode("EC PRIVATE KEY",
                new byte[] {0x30, 0x08, 0x02, 0x01, 0x01, 0x04, 0x03, 0x01, 0x02, 0x03})))
                .hasMessageContaining("EC key without its curve");
    }

    @Test
    void decodeKeepsTypesAndOrder() throws Exception {
        List<Pem.Block> blocks = Pem.decode("mixed", fixture("csr.pem") + fixture("ec-sec1-encrypted.pem"));
        assertThat(blocks).extracting(Pem.Block::type).containsExactly("CERTIFICATE REQUEST", "EC PRIVATE KEY");
        assertThat(blocks).extracting(Pem.Block::encrypted).containsExactly(false, true);
        assertThat(Pem.decode("empty", "")).isEmpty();
        assertThat(Pem.encode("X", new byte[] {1, 2, 3})).isEqualTo("-----BEGIN X-----\nAQID\n-----END X-----\n");
    }
}
