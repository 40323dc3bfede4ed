package dev.ambit.proxy.identity;

import static dev.ambit.proxy.identity.TestCa.BACKEND;
import static dev.ambit.proxy.identity.TestCa.ELSEWHERE;
import static dev.ambit.proxy.identity.TestCa.FRONTEND;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.istiod.ca.CertificateAuthority;
import dev.ambit.istiod.ca.NodeCredentials;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CaClientTest {

    @TempDir
    Path dir;
    TestCa ca;

    @BeforeEach
    void start() throws Exception {
        ca = new TestCa(dir, Duration.ofHours(1));
    }

    @AfterEach
    void stop() throws Exception {
        ca.close();
    }

    @Test
    void issuesAChainNamingExactlyTheIdentityThatVerifiesToTheBundle() throws Exception {
        CaClient client = ca.client().trustBundle(ca.bundle()).build();

        WorkloadCertificate cert = client.issue(FRONTEND).get(10, TimeUnit.SECONDS);

        assertThat(cert.identity()).isEqualTo(FRONTEND);
        assertThat(Certificates.uriSans(cert.leaf())).containsExactly(FRONTEND.uri());
        assertThat(cert.chain()).hasSize(2);
        assertThat(cert.chain().getLast()).isEqualTo(ca.ca.roots().getFirst());
        assertThat(cert.leaf().getPublicKey().getAlgorithm()).isEqualTo("EC");
        assertThat(cert.privateKey().getAlgorithm()).isEqualTo("EC");
        assertThat(cert.notAfter()).isAfter(Instant.now().plus(Duration.ofMinutes(59)));
        ca.bundle().verify(cert.chain(), Instant.now());
        assertThat(ca.signed()).isEqualTo(1.0);
        // The root is not sent to peers: they hold it.
        assertThat(cert.presentedChain()).containsExactly(cert.leaf());
    }

    @Test
    void learnsTheRootWhenNoBundleIsGiven() throws Exception {
        CaClient client = ca.client().build();
        assertThat(client.trustBundle()).isNull();

        client.issue(FRONTEND).get(10, TimeUnit.SECONDS);

        assertThat(client.trustBundle().roots()).containsExactlyElementsOf(ca.ca.roots());
        assertThat(client.trustBundle().trustDomain()).isEqualTo("cluster.local");
    }

    @Test
    void csrHasExactlyTheIdentityAsItsOnlyUriSan() throws Exception {
        assertCsrNamesOnly(BACKEND);
    }

    @Test
    void csrOfALongIdentityUsesLongDerLengths() throws Exception {
        // Namespace and service account at Kubernetes' 63-character limit, and a long trust
        // domain: the SAN alone passes 255 bytes, so its lengths take two bytes.
        assertCsrNamesOnly(SpiffeId.of("a".repeat(100) + ".example", "n".repeat(63), "s".repeat(63)));
    }

    private static void assertCsrNamesOnly(SpiffeId identity) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair keys = g.generateKeyPair();

        String pem = CaClient.csr(keys, identity);

        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            PKCS10CertificationRequest csr = (PKCS10CertificationRequest) parser.readObject();
            assertThat(csr.getSubject().getRDNs()).isEmpty();
            assertThat(csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(csr.getSubjectPublicKeyInfo())))
                    .as("signature").isTrue();
            assertThat(csr.getSubjectPublicKeyInfo().getEncoded()).isEqualTo(keys.getPublic().getEncoded());
            assertThat(csr.getSignatureAlgorithm().getAlgorithm().getId()).isEqualTo("1.2.840.10045.4.3.2");
            assertThat(csr.getAttributes()).hasSize(1);
            Extensions ext = Extensions.getInstance(csr.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest)[0]
                    .getAttrValues().getObjectAt(0));
            GeneralName[] names = GeneralNames.fromExtensions(ext, Extension.subjectAlternativeName).getNames();
            assertThat(names).hasSize(1);
            assertThat(names[0].getTagNo()).isEqualTo(GeneralName.uniformResourceIdentifier);
            assertThat(names[0].getName().toString()).isEqualTo(identity.uri());
            assertThat(ext.getExtension(Extension.subjectAlternativeName).isCritical()).isTrue();
            assertThat(ext.getExtensionOIDs()).hasSize(1);
        }
    }

    @Test
    void honoursAShorterRequestedValidity() throws Exception {
        CaClient client = ca.client().validity(Duration.ofMinutes(10)).build();

        WorkloadCertificate cert = client.issue(FRONTEND).get(10, TimeUnit.SECONDS);

        assertThat(Duration.between(Instant.now(), cert.notAfter())).isBetween(Duration.ofMinutes(9),
                Duration.ofMinutes(10));
    }

    @Test
    void identityNotOnThisNodeIsDeniedWithTheCasReason() {
        CaClient client = ca.client().build();

        assertThatThrownBy(() -> client.issue(ELSEWHERE).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("PERMISSION_DENIED")
                .hasMessageContaining("does not run on node node-1")
                .satisfies(e -> assertThat(((CaException) e).kind()).isEqualTo(CaException.Kind.DENIED));
        assertThat(ca.signed()).isZero();
    }

    @Test
    void rereadsTheTokenFileWhenItChanges() throws Exception {
        CaClient client = ca.client().build();
        Files.writeString(ca.tokenFile, "not-the-token\n");

        assertThatThrownBy(() -> client.issue(FRONTEND).get(10, TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("node token not recognised");

        // A fresh credential for the node, written where the agent reads it.
        NodeCredentials.issue(ca.credentials, "node-1", ca.tokenFile);
        assertThat(client.issue(FRONTEND).get(10, TimeUnit.SECONDS).identity()).isEqualTo(FRONTEND);
    }

    @Test
    void missingTokenFileIsACredentialError() throws Exception {
        CaClient client = CaClient.builder(ca.channel, dir.resolve("nowhere/token")).build();

        assertThatThrownBy(() -> client.issue(FRONTEND).get(10, TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("nowhere/token")
                .satisfies(e -> assertThat(((CaException) e).kind()).isEqualTo(CaException.Kind.CREDENTIAL));
    }

    @Test
    void chainNotLeadingToTheGivenBundleIsRejected() throws Exception {
        CertificateAuthority other = CertificateAuthority.builder(dir.resolve("other-ca")).build();
        CaClient client = ca.client().trustBundle(TrustBundle.of("cluster.local", other.roots())).build();

        assertThatThrownBy(() -> client.issue(FRONTEND).get(10, TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("does not verify against the trust bundle")
                .satisfies(e -> assertThat(((CaException) e).kind()).isEqualTo(CaException.Kind.BAD_RESPONSE));
    }

    @Test
    void builderValidatesWithClearMessages() {
        assertThatThrownBy(() -> ca.client().validity(Duration.ZERO))
                .hasMessage("validity: PT0S (expected: at least 1 second)");
        assertThatThrownBy(() -> CaClient.builder(null, dir)).hasMessage("channel");
    }
}
