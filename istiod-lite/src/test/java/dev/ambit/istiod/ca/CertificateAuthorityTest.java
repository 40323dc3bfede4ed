package dev.ambit.istiod.ca;

import static dev.ambit.istiod.ca.CaTestSupport.assertValidatesTo;
import static dev.ambit.istiod.ca.CaTestSupport.caCertificate;
import static dev.ambit.istiod.ca.CaTestSupport.csrPem;
import static dev.ambit.istiod.ca.CaTestSupport.p256;
import static dev.ambit.istiod.ca.CaTestSupport.writePem;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.pem.Pem;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateAuthorityTest {

    private static final SpiffeId WEB = SpiffeId.of("cluster.local", "shop", "web");

    @TempDir
    Path tmp;

    @Test
    void generatesRootOnFirstStartAndLoadsItLater() throws Exception {
        Path dir = tmp.resolve("ca");
        CertificateAuthority first = CertificateAuthority.builder(dir).trustDomain("mesh.example").build();

        X509Certificate root = first.signingCertificate();
        assertThat(first.isPluggedIn()).isFalse();
        assertThat(first.roots()).containsExactly(root);
        assertThat(root.getSubjectX500Principal().getName()).isEqualTo("O=mesh.example");
        assertThat(root.getIssuerX500Principal()).isEqualTo(root.getSubjectX500Principal());
        assertThat(root.getBasicConstraints()).isGreaterThanOrEqualTo(0);
        assertThat(root.getKeyUsage()[5]).as("keyCertSign").isTrue();
        assertThat(root.getPublicKey()).isInstanceOfSatisfying(ECPublicKey.class,
                k -> assertThat(k.getParams().getCurve().getField().getFieldSize()).isEqualTo(256));
        assertThat(Duration.between(root.getNotBefore().toInstant(), root.getNotAfter().toInstant()))
                .isEqualTo(Duration.ofDays(3650).plusMinutes(1));
        root.verify(root.getPublicKey());

        Path key = dir.resolve(CertificateAuthority.SELF_SIGNED_KEY);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
        assertThat(Files.readString(key)).startsWith("-----BEGIN PRIVATE KEY-----");
        assertThat(Files.readString(dir.resolve(CertificateAuthority.SELF_SIGNED_CERT)))
                .isEqualTo(first.trustBundlePem());
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder(
                    CertificateAuthority.SELF_SIGNED_CERT, CertificateAuthority.SELF_SIGNED_KEY);
        }

        CertificateAuthority second = CertificateAuthority.builder(dir).trustDomain("mesh.example").build();
        assertThat(second.signingCertificate()).isEqualTo(root);
        // Same key as well: what the second instance signs validates against the first's root.
        SpiffeId id = SpiffeId.of("mesh.example", "shop", "web");
        List<X509Certificate> chain = second.sign(CertificateSigningRequest.parse(csrPem(p256(), id.uri())), id);
        assertValidatesTo(chain, first.roots().getFirst());
    }

    @Test
    void leafCarriesOnlyTheIdentityAndTheWorkloadUsages() throws Exception {
        CertificateAuthority ca = CertificateAuthority.builder(tmp).leafLifetime(Duration.ofHours(12)).build();
        KeyPair keys = p256();
        // The CSR asks for another name as well; only the authorised identity is certified.
        CertificateSigningRequest csr = CertificateSigningRequest.parse(
                csrPem(keys, WEB.uri(), "spiffe://cluster.local/ns/shop/sa/admin"));

        List<X509Certificate> chain = ca.sign(csr, WEB);

        assertThat(chain).hasSize(2);
        X509Certificate leaf = chain.getFirst();
        assertThat(leaf.getPublicKey()).isEqualTo(keys.getPublic());
        assertThat(leaf.getSubjectX500Principal().getEncoded()).hasSize(2); // empty SEQUENCE
        assertThat(leaf.getCriticalExtensionOIDs()).contains("2.5.29.17");
        Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
        assertThat(sans).containsExactly(List.of(6, WEB.uri()));
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        boolean[] usage = leaf.getKeyUsage();
        assertThat(usage[0]).as("digitalSignature").isTrue();
        assertThat(usage[2]).as("keyEncipherment").isTrue();
        assertThat(usage[5]).as("keyCertSign").isFalse();
        assertThat(leaf.getExtendedKeyUsage()).containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        assertThat(leaf.getSerialNumber().signum()).isPositive();
        assertThat(leaf.getSerialNumber().bitLength()).isLessThanOrEqualTo(128);
        assertThat(Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()))
                .isEqualTo(Duration.ofHours(12).plus(CertificateAuthority.CLOCK_SKEW));
        assertThat(leaf.getSigAlgName()).isEqualTo("SHA256withECDSA");
        assertValidatesTo(chain, ca.roots().getFirst());

        X509Certificate another = ca.sign(csr, WEB).getFirst();
        assertThat(another.getSerialNumber()).isNotEqualTo(leaf.getSerialNumber());
    }

    @Test
    void requestedLifetimeShortensButNeverLengthens() throws Exception {
        CertificateAuthority ca = CertificateAuthority.of(tmp);
        CertificateSigningRequest csr = CertificateSigningRequest.parse(csrPem(p256(), WEB.uri()));

        assertThat(lifetime(ca.sign(csr, WEB, Duration.ofHours(1)).getFirst())).isEqualTo(Duration.ofHours(1));
        assertThat(lifetime(ca.sign(csr, WEB, Duration.ofDays(30)).getFirst())).isEqualTo(Duration.ofHours(24));
        assertThat(lifetime(ca.sign(csr, WEB).getFirst())).isEqualTo(Duration.ofHours(24));
        assertThatThrownBy(() -> ca.sign(csr, WEB, Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("requestedLifetime: PT-1S (expected: positive)");
    }

    @Test
    void refusesIdentitiesOfAnotherTrustDomain() throws Exception {
        CertificateAuthority ca = CertificateAuthority.of(tmp);
        SpiffeId foreign = SpiffeId.of("other.example", "shop", "web");
        CertificateSigningRequest csr = CertificateSigningRequest.parse(csrPem(p256(), foreign.uri()));

        assertThatThrownBy(() -> ca.sign(csr, foreign))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("identity: spiffe://other.example/ns/shop/sa/web (expected: in trust domain cluster.local)");
    }

    @Test
    void pluginCaSignsAsIntermediateAndChainsToThePluginRoot() throws Exception {
        KeyPair rootKeys = p256();
        KeyPair middleKeys = p256();
        KeyPair caKeys = p256();
        X509Certificate root = caCertificate("O=corp, CN=Corp Root", rootKeys, null, null, Duration.ofDays(3650));
        X509Certificate middle = caCertificate("O=corp, CN=Corp Mesh", middleKeys, root, rootKeys.getPrivate(),
                Duration.ofDays(1000));
        X509Certificate caCert = caCertificate("O=cluster.local, CN=istiod", caKeys, middle,
                middleKeys.getPrivate(), Duration.ofDays(365));
        writePem(tmp.resolve("ca-cert.pem"), caCert);
        // Traditional SEC1 form ("EC PRIVATE KEY"), as openssl writes plug-in keys.
        Files.writeString(tmp.resolve("ca-key.pem"), CaTestSupport.sec1Pem(caKeys));
        assertThat(Files.readString(tmp.resolve("ca-key.pem"))).startsWith("-----BEGIN EC PRIVATE KEY-----");
        writePem(tmp.resolve("root-cert.pem"), root);
        // Istio's tooling writes cert-chain.pem as ca-cert + intermediates + root.
        writePem(tmp.resolve("cert-chain.pem"), caCert, middle, root);

        CertificateAuthority ca = CertificateAuthority.of(tmp);

        assertThat(ca.isPluggedIn()).isTrue();
        assertThat(ca.signingCertificate()).isEqualTo(caCert);
        assertThat(ca.roots()).containsExactly(root);
        assertThat(ca.trustBundlePem()).isEqualTo(Files.readString(tmp.resolve("root-cert.pem")));
        List<X509Certificate> chain = ca.sign(CertificateSigningRequest.parse(csrPem(p256(), WEB.uri())), WEB);
        assertThat(chain.subList(1, chain.size())).containsExactly(caCert, middle, root);
        assertValidatesTo(chain, root);
        assertThat(Files.exists(tmp.resolve(CertificateAuthority.SELF_SIGNED_KEY))).isFalse();
    }

    @Test
    void pluginCaWithRsaKeysAndNoCertChainFile() throws Exception {
        KeyPair rootKeys = CaTestSupport.rsa();
        KeyPair caKeys = CaTestSupport.rsa();
        X509Certificate root = caCertificate("O=corp, CN=Corp Root", rootKeys, null, null, Duration.ofDays(3650));
        X509Certificate caCert = caCertificate("O=cluster.local, CN=istiod", caKeys, root, rootKeys.getPrivate(),
                Duration.ofDays(365));
        writePem(tmp.resolve("ca-cert.pem"), caCert);
        Files.writeString(tmp.resolve("ca-key.pem"), Pem.encode(caKeys.getPrivate()));
        writePem(tmp.resolve("root-cert.pem"), root);

        CertificateAuthority ca = CertificateAuthority.of(tmp);

        KeyPair leafKeys = p256();
        List<X509Certificate> chain = ca.sign(CertificateSigningRequest.parse(csrPem(leafKeys, WEB.uri())), WEB);
        assertThat(chain).containsSubsequence(caCert, root).hasSize(3);
        assertThat(chain.getFirst().getSigAlgName()).isEqualTo("SHA256withRSA");
        assertThat(chain.getFirst().getPublicKey()).isEqualTo(leafKeys.getPublic());
        assertValidatesTo(chain, root);
    }

    @Test
    void pluginRootAsSigningCertificateIsListedOnce() throws Exception {
        // What the istiod-lite chart generates: ca-cert, root-cert and cert-chain all the root.
        KeyPair rootKeys = p256();
        X509Certificate root = caCertificate("CN=Ambit root CA cluster.local", rootKeys, null, null,
                Duration.ofDays(3650));
        writePem(tmp.resolve("ca-cert.pem"), root);
        Files.writeString(tmp.resolve("ca-key.pem"), Pem.encode(rootKeys.getPrivate()));
        writePem(tmp.resolve("root-cert.pem"), root);
        writePem(tmp.resolve("cert-chain.pem"), root);

        CertificateAuthority ca = CertificateAuthority.of(tmp);

        List<X509Certificate> chain = ca.sign(CertificateSigningRequest.parse(csrPem(p256(), WEB.uri())), WEB);
        assertThat(chain).hasSize(2);
        assertThat(chain.get(1)).isEqualTo(root);
        assertValidatesTo(chain, root);
        // A key store takes it as a key entry's chain (a duplicate would be refused as a loop),
        // as istiod-lite's own serving certificate on 15012 needs.
        java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        java.security.KeyPair serving = p256();
        List<X509Certificate> servingChain = ca.issueServing(serving.getPublic(), List.of("istiod.istio-system.svc"),
                Duration.ofDays(1));
        ks.setKeyEntry("serving", serving.getPrivate(), new char[0], servingChain.toArray(X509Certificate[]::new));
        assertThat(servingChain).hasSize(2);
    }

    @Test
    void leafNeverOutlivesThePluggedInSigningCertificate() throws Exception {
        KeyPair rootKeys = p256();
        KeyPair caKeys = p256();
        X509Certificate root = caCertificate("CN=Root", rootKeys, null, null, Duration.ofDays(3650));
        X509Certificate caCert = caCertificate("CN=Short", caKeys, root, rootKeys.getPrivate(), Duration.ofHours(2));
        writePem(tmp.resolve("ca-cert.pem"), caCert);
        Files.writeString(tmp.resolve("ca-key.pem"), Pem.encode(caKeys.getPrivate()));
        writePem(tmp.resolve("root-cert.pem"), root);

        CertificateAuthority ca = CertificateAuthority.of(tmp);
        X509Certificate leaf = ca.sign(CertificateSigningRequest.parse(csrPem(p256(), WEB.uri())), WEB).getFirst();

        assertThat(leaf.getNotAfter()).isEqualTo(caCert.getNotAfter());
    }

    @Test
    void incompletePluginFilesAreNamed() throws Exception {
        KeyPair keys = p256();
        X509Certificate root = caCertificate("CN=Root", keys, null, null, Duration.ofDays(10));
        writePem(tmp.resolve("ca-cert.pem"), root);
        Files.writeString(tmp.resolve("ca-key.pem"), Pem.encode(keys.getPrivate()));

        assertThatThrownBy(() -> CertificateAuthority.of(tmp))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("plug-in CA files incomplete, missing root-cert.pem");
    }

    @Test
    void pluginKeyMustMatchTheCertificate() throws Exception {
        KeyPair rootKeys = p256();
        X509Certificate root = caCertificate("CN=Root", rootKeys, null, null, Duration.ofDays(10));
        X509Certificate caCert = caCertificate("CN=CA", p256(), root, rootKeys.getPrivate(), Duration.ofDays(5));
        writePem(tmp.resolve("ca-cert.pem"), caCert);
        Files.writeString(tmp.resolve("ca-key.pem"), Pem.encode(p256().getPrivate()));
        writePem(tmp.resolve("root-cert.pem"), root);

        assertThatThrownBy(() -> CertificateAuthority.of(tmp))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("ca-key.pem: not the key of ca-cert.pem");
    }

    @Test
    void pluginChainMustReachTheRoot() throws Exception {
        KeyPair rootKeys = p256();
        KeyPair middleKeys = p256();
        KeyPair caKeys = p256();
        X509Certificate root = caCertificate("CN=Root", rootKeys, null, null, Duration.ofDays(10));
        X509Certificate middle = caCertificate("CN=Middle", middleKeys, root, rootKeys.getPrivate(),
                Duration.ofDays(10));
        X509Certificate caCert = caCertificate("CN=CA", caKeys, middle, middleKeys.getPrivate(), Duration.ofDays(5));
        writePem(tmp.resolve("ca-cert.pem"), caCert);
        Files.writeString(tmp.resolve("ca-key.pem"), Pem.encode(caKeys.getPrivate()));
        writePem(tmp.resolve("root-cert.pem"), root);
        // No cert-chain.pem: the intermediate is missing.

        assertThatThrownBy(() -> CertificateAuthority.of(tmp))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("ca-cert.pem does not validate to root-cert.pem")
                .hasMessageContaining("cert-chain.pem");
    }

    @Test
    void aRootWithoutItsKeyIsNotReplaced() throws Exception {
        CertificateAuthority.of(tmp);
        Files.delete(tmp.resolve(CertificateAuthority.SELF_SIGNED_KEY));
        String rootPem = Files.readString(tmp.resolve(CertificateAuthority.SELF_SIGNED_CERT));

        assertThatThrownBy(() -> CertificateAuthority.of(tmp))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("ambit-root-cert.pem without ambit-root-key.pem");
        assertThat(Files.readString(tmp.resolve(CertificateAuthority.SELF_SIGNED_CERT))).isEqualTo(rootPem);
    }

    @Test
    void garbageKeyFileIsReportedWithItsName() throws Exception {
        CertificateAuthority.of(tmp);
        Files.writeString(tmp.resolve(CertificateAuthority.SELF_SIGNED_KEY), "not a key\n", StandardCharsets.US_ASCII);

        assertThatThrownBy(() -> CertificateAuthority.of(tmp))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(CertificateAuthority.SELF_SIGNED_KEY)
                .hasMessageContaining("expected: one private key");
    }

    @Test
    void builderRejectsNonPositiveLifetimeAndBadTrustDomain() {
        assertThatThrownBy(() -> CertificateAuthority.builder(tmp).leafLifetime(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("leafLifetime: PT0S (expected: positive)");
        assertThatThrownBy(() -> CertificateAuthority.builder(tmp).trustDomain("Bad Domain"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("trustDomain: Bad Domain");
    }

    private static Duration lifetime(X509Certificate leaf) {
        return Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant())
                .minus(CertificateAuthority.CLOCK_SKEW);
    }
}
