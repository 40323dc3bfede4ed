package dev.ambit.istiod.ca;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.pem.Pem;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXCertPathValidatorResult;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/** Keys, CSRs, test CAs and chain validation, all built for real with the JDK and BouncyCastle. */
public final class CaTestSupport {

    private CaTestSupport() {}

    static KeyPair ecKeyPair(String curve) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec(curve));
        return generator.generateKeyPair();
    }

    public static KeyPair p256() throws Exception {
        return ecKeyPair("secp256r1");
    }

    static KeyPair rsa() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        return generator.generateKeyPair();
    }

    /** A PKCS#10 request on {@code keys} with these URI SANs (none: no extension at all). */
    static PKCS10CertificationRequest csr(KeyPair keys, String... uriSans) throws Exception {
        JcaPKCS10CertificationRequestBuilder builder =
                new JcaPKCS10CertificationRequestBuilder(new X500Name(""), keys.getPublic());
        if (uriSans.length > 0) {
            GeneralName[] names = new GeneralName[uriSans.length];
            for (int i = 0; i < uriSans.length; i++) {
                names[i] = new GeneralName(GeneralName.uniformResourceIdentifier, uriSans[i]);
            }
            ExtensionsGenerator extensions = new ExtensionsGenerator();
            extensions.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(names));
            builder.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate());
        }
        return builder.build(new JcaContentSignerBuilder(signatureAlgorithm(keys.getPrivate())).build(keys.getPrivate()));
    }

    public static String csrPem(KeyPair keys, String... uriSans) throws Exception {
        return pem("CERTIFICATE REQUEST", csr(keys, uriSans).getEncoded());
    }

    /** The CSR with the last byte of its signature changed: structurally valid, signature wrong. */
    static String brokenSignatureCsrPem(KeyPair keys, String uriSan) throws Exception {
        byte[] der = csr(keys, uriSan).getEncoded();
        der[der.length - 1] ^= 0x01;
        return pem("CERTIFICATE REQUEST", der);
    }

    /** The request body of one CSR under the signature of another: a SAN swapped after signing. */
    static String tamperedCsrPem(KeyPair keys, String signedSan, String swappedSan) throws Exception {
        PKCS10CertificationRequest signed = csr(keys, signedSan);
        PKCS10CertificationRequest other = csr(keys, swappedSan);
        org.bouncycastle.asn1.pkcs.CertificationRequest forged = new org.bouncycastle.asn1.pkcs.CertificationRequest(
                other.toASN1Structure().getCertificationRequestInfo(), signed.getSignatureAlgorithm(),
                new org.bouncycastle.asn1.DERBitString(signed.getSignature()));
        return pem("CERTIFICATE REQUEST", forged.getEncoded());
    }

    /** An EC key in SEC1 form with curve and public key, what {@code openssl ecparam -genkey} writes. */
    static String sec1Pem(KeyPair keys) throws Exception {
        java.security.interfaces.ECPrivateKey key = (java.security.interfaces.ECPrivateKey) keys.getPrivate();
        SubjectPublicKeyInfo spki = SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded());
        org.bouncycastle.asn1.sec.ECPrivateKey sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(
                key.getParams().getOrder().bitLength(), key.getS(), spki.getPublicKeyData(),
                spki.getAlgorithm().getParameters());
        return pem("EC PRIVATE KEY", sec1.getEncoded());
    }

    static String pem(String type, byte[] der) {
        return Pem.encode(type, der);
    }

    public static List<X509Certificate> parseChain(List<String> pems) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        List<X509Certificate> chain = new ArrayList<>();
        for (String pem : pems) {
            chain.add((X509Certificate) factory.generateCertificate(
                    new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII))));
        }
        return chain;
    }

    /**
     * Validates {@code chain} (leaf first, root last) with the JDK's PKIX validator and
     * {@code root} as the only trust anchor; the chain's own last element is not trusted.
     */
    public static void assertValidatesTo(List<X509Certificate> chain, X509Certificate root) throws Exception {
        assertThat(chain.getLast()).isEqualTo(root);
        CertPath path = CertificateFactory.getInstance("X.509").generateCertPath(chain.subList(0, chain.size() - 1));
        PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        parameters.setRevocationEnabled(false);
        PKIXCertPathValidatorResult result =
                (PKIXCertPathValidatorResult) CertPathValidator.getInstance("PKIX").validate(path, parameters);
        assertThat(result.getTrustAnchor().getTrustedCert()).isEqualTo(root);
    }

    /** A CA certificate for a plug-in hierarchy; self-signed when {@code issuer} is null. */
    static X509Certificate caCertificate(String subject, KeyPair keys, X509Certificate issuer, PrivateKey issuerKey,
                                         Duration lifetime) throws Exception {
        Instant now = Instant.now();
        X500Name subjectName = new X500Name(subject);
        X500Name issuerName = issuer == null ? subjectName : new JcaX509CertificateHolder(issuer).getSubject();
        X509v3CertificateBuilder builder = new X509v3CertificateBuilder(issuerName,
                BigInteger.valueOf(now.toEpochMilli()), Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(lifetime)), subjectName,
                SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded()));
        JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        builder.addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(keys.getPublic()));
        if (issuer != null) {
            builder.addExtension(Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(issuer));
        }
        PrivateKey signer = issuer == null ? keys.getPrivate() : issuerKey;
        return new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder(signatureAlgorithm(signer)).build(signer)));
    }

    static void writePem(Path file, X509Certificate... certificates) throws Exception {
        Files.writeString(file, Pem.encode(List.of(certificates)), StandardCharsets.US_ASCII);
    }

    private static String signatureAlgorithm(PrivateKey key) {
        return CertificateAuthority.signatureAlgorithm(key);
    }
}
