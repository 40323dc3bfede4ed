package dev.ambit.waypoint.gateway;

import dev.ambit.common.pem.Pem;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Certificates for gateway tests: a CA and leaves for DNS names (servers) or plain subjects (clients), EC P-256. */
final class TestPki {

    private static final AtomicLong SERIALS = new AtomicLong(1000);

    /** A certificate and its key, with their PEM. */
    record Issued(X509Certificate certificate, PrivateKey key) {
        String certificatePem() {
            return Pem.encode(certificate);
        }

        String keyPem() {
            return Pem.encode(key);
        }

        BigInteger serial() {
            return certificate.getSerialNumber();
        }
    }

    private final Issued ca;

    TestPki(String name) {
        KeyPair k = keyPair();
        ca = new Issued(sign(new X500Name("CN=" + name), k, new X500Name("CN=" + name), k.getPrivate(), true, null),
                k.getPrivate());
    }

    Issued ca() {
        return ca;
    }

    /** A server certificate for {@code dnsNames} (CN the first). */
    Issued server(String... dnsNames) {
        KeyPair k = keyPair();
        return new Issued(sign(new X500Name("CN=" + dnsNames[0]), k, issuer(), ca.key(), false, dnsNames),
                k.getPrivate());
    }

    /** A client certificate with subject {@code CN=cn}. */
    Issued client(String cn) {
        KeyPair k = keyPair();
        return new Issued(sign(new X500Name("CN=" + cn), k, issuer(), ca.key(), false, null), k.getPrivate());
    }

    /** A leaf with subject {@code CN=cn} and these subject alternative names (URI, DNS, ...). */
    Issued leaf(String cn, GeneralName... sans) {
        KeyPair k = keyPair();
        return new Issued(signNames(new X500Name("CN=" + cn), k, issuer(), ca.key(), false, sans), k.getPrivate());
    }

    private X500Name issuer() {
        return new X500Name(ca.certificate().getSubjectX500Principal().getName());
    }

    private static X509Certificate sign(X500Name subject, KeyPair subjectKey, X500Name issuer, PrivateKey issuerKey,
                                        boolean isCa, String[] dnsNames) {
        GeneralName[] names = null;
        if (dnsNames != null) {
            names = new GeneralName[dnsNames.length];
            for (int i = 0; i < dnsNames.length; i++) {
                names[i] = new GeneralName(GeneralName.dNSName, dnsNames[i]);
            }
        }
        return signNames(subject, subjectKey, issuer, issuerKey, isCa, names);
    }

    private static X509Certificate signNames(X500Name subject, KeyPair subjectKey, X500Name issuer, PrivateKey issuerKey,
                                             boolean isCa, GeneralName[] names) {
        try {
            Instant now = Instant.now();
            JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer,
                    BigInteger.valueOf(SERIALS.incrementAndGet()), Date.from(now.minus(Duration.ofMinutes(5))),
                    Date.from(now.plus(Duration.ofDays(1))), subject, subjectKey.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(isCa ? KeyUsage.keyCertSign | KeyUsage.cRLSign
                    : KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            if (names != null && names.length > 0) {
                b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names));
            }
            return new JcaX509CertificateConverter().getCertificate(
                    b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey)));
        } catch (Exception e) {
            throw new IllegalStateException("cannot issue a test certificate for " + subject, e);
        }
    }

    private static KeyPair keyPair() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
