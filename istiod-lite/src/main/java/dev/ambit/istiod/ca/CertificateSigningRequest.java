package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.pem.Pem;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.ECPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1String;
import org.bouncycastle.asn1.edec.EdECObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.ECNamedCurveTable;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;

/**
 * A PKCS#10 certificate signing request that passed the CA's checks: well-formed, an
 * EC P-256 key, and a signature made with that key. Only {@link #parse(String)} creates
 * one, so holding an instance means those checks passed.
 *
 * <p>The CA takes nothing from a CSR but its public key: the identity it certifies is the
 * one the caller was authorised for, and the subject is always empty. The URI SANs are
 * exposed so the service can compare them with that identity.
 */
public final class CertificateSigningRequest {

    /** Far above any real CSR (a P-256 CSR with one SAN is under 1 KiB); bounds parsing work. */
    static final int MAX_PEM_LENGTH = 64 * 1024;

    private final ECPublicKey publicKey;
    private final SubjectPublicKeyInfo subjectPublicKeyInfo;
    private final List<String> uriSans;

    private CertificateSigningRequest(ECPublicKey publicKey, SubjectPublicKeyInfo subjectPublicKeyInfo,
                                      List<String> uriSans) {
        this.publicKey = publicKey;
        this.subjectPublicKeyInfo = subjectPublicKeyInfo;
        this.uriSans = uriSans;
    }

    /**
     * Parses and checks a PEM {@code CERTIFICATE REQUEST}.
     *
     * @throws IllegalArgumentException saying what is wrong: not PEM, not PKCS#10, a key other
     *         than EC P-256, a signature that does not verify, unreadable extensions
     */
    public static CertificateSigningRequest parse(String pem) {
        requireNonNull(pem, "pem");
        if (pem.isBlank()) {
            throw new IllegalArgumentException("CSR: empty (expected: a PEM CERTIFICATE REQUEST)");
        }
        if (pem.length() > MAX_PEM_LENGTH) {
            throw new IllegalArgumentException("CSR: " + pem.length() + " characters (expected: at most "
                    + MAX_PEM_LENGTH + ")");
        }
        PKCS10CertificationRequest request = readPem(pem);
        SubjectPublicKeyInfo spki = request.getSubjectPublicKeyInfo();
        ECPublicKey key = p256Key(spki);
        verifySignature(request, spki);
        return new CertificateSigningRequest(key, spki, uriSans(request));
    }

    /** The key the certificate will certify: EC P-256. */
    public ECPublicKey publicKey() {
        return publicKey;
    }

    /** The URI subject alternative names the requester asked for, in order (possibly none). */
    public List<String> uriSans() {
        return uriSans;
    }

    SubjectPublicKeyInfo subjectPublicKeyInfo() {
        return subjectPublicKeyInfo;
    }

    private static PKCS10CertificationRequest readPem(String pem) {
        List<Pem.Block> blocks;
        try {
            blocks = Pem.decode("CSR", pem);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("CSR: malformed PEM or DER (" + e.getMessage() + ")", e);
        }
        if (blocks.isEmpty()) {
            throw new IllegalArgumentException("CSR: no PEM block (expected: -----BEGIN CERTIFICATE REQUEST-----)");
        }
        Pem.Block first = blocks.getFirst();
        // "NEW CERTIFICATE REQUEST" is the label older tools (and RFC 7468's notes) use for the same thing.
        if (!first.type().equals("CERTIFICATE REQUEST") && !first.type().equals("NEW CERTIFICATE REQUEST")) {
            throw new IllegalArgumentException("CSR: PEM holds a " + first.type()
                    + " (expected: a CERTIFICATE REQUEST)");
        }
        if (blocks.size() > 1) {
            throw new IllegalArgumentException("CSR: more than one PEM block (expected: one CERTIFICATE REQUEST)");
        }
        try {
            return new PKCS10CertificationRequest(first.der());
        } catch (IOException | RuntimeException e) {
            // Bad DER surfaces as assorted exceptions; all mean the same to the caller.
            throw new IllegalArgumentException("CSR: malformed PEM or DER (" + e.getMessage() + ")", e);
        }
    }

    private static ECPublicKey p256Key(SubjectPublicKeyInfo spki) {
        AlgorithmIdentifier algorithm = spki.getAlgorithm();
        ASN1ObjectIdentifier type = algorithm.getAlgorithm();
        if (!X9ObjectIdentifiers.id_ecPublicKey.equals(type)) {
            throw new IllegalArgumentException("CSR key: " + keyTypeName(type) + " (expected: EC P-256)");
        }
        // Named curve only: explicit parameters are legal ASN.1 but a classic way to smuggle weak curves.
        if (!SECObjectIdentifiers.secp256r1.equals(algorithm.getParameters())) {
            String curve = algorithm.getParameters() instanceof ASN1ObjectIdentifier oid
                    ? curveName(oid) : "explicit curve parameters";
            throw new IllegalArgumentException("CSR key: EC " + curve + " (expected: EC P-256)");
        }
        try {
            return (ECPublicKey) KeyFactory.getInstance("EC")
                    .generatePublic(new X509EncodedKeySpec(spki.getEncoded()));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("CSR key: not a valid EC P-256 public key (" + e.getMessage() + ")", e);
        }
    }

    private static void verifySignature(PKCS10CertificationRequest request, SubjectPublicKeyInfo spki) {
        boolean valid;
        try {
            valid = request.isSignatureValid(new JcaContentVerifierProviderBuilder().build(spki));
        } catch (OperatorCreationException | PKCSException e) {
            throw new IllegalArgumentException("CSR signature: cannot be checked (" + e.getMessage()
                    + "; expected: ECDSA with SHA-256)", e);
        }
        if (!valid) {
            throw new IllegalArgumentException("CSR signature: does not verify with the CSR's key"
                    + " (the CSR was altered or signed with another key)");
        }
    }

    private static List<String> uriSans(PKCS10CertificationRequest request) {
        Extensions extensions;
        try {
            extensions = request.getRequestedExtensions();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("CSR extensions: unreadable (" + e.getMessage() + ")", e);
        }
        if (extensions == null) {
            return List.of();
        }
        GeneralNames names;
        try {
            names = GeneralNames.fromExtensions(extensions, Extension.subjectAlternativeName);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("CSR subjectAltName: unreadable (" + e.getMessage() + ")", e);
        }
        if (names == null) {
            return List.of();
        }
        List<String> uris = new ArrayList<>();
        for (GeneralName name : names.getNames()) {
            if (name.getTagNo() == GeneralName.uniformResourceIdentifier) {
                uris.add(((ASN1String) name.getName()).getString());
            }
        }
        return List.copyOf(uris);
    }

    private static String keyTypeName(ASN1ObjectIdentifier type) {
        if (PKCSObjectIdentifiers.rsaEncryption.equals(type)) {
            return "RSA";
        }
        if (EdECObjectIdentifiers.id_Ed25519.equals(type)) {
            return "Ed25519";
        }
        if (EdECObjectIdentifiers.id_Ed448.equals(type)) {
            return "Ed448";
        }
        return type.getId();
    }

    private static String curveName(ASN1ObjectIdentifier curve) {
        String name = ECNamedCurveTable.getName(curve);
        return name != null ? name : curve.getId();
    }
}
