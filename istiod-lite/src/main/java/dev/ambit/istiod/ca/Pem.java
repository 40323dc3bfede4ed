package dev.ambit.istiod.ca;

import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * PEM in and out for the CA's files and answers. Reading errors are
 * {@link IllegalStateException}s that name the file and what was expected.
 */
final class Pem {

    private static final Base64.Encoder BASE64 = Base64.getMimeEncoder(64, new byte[] {'\n'});

    private Pem() {}

    static String encode(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + BASE64.encodeToString(der) + "\n-----END " + type + "-----\n";
    }

    static String encode(X509Certificate certificate) {
        try {
            return encode("CERTIFICATE", certificate.getEncoded());
        } catch (CertificateEncodingException e) {
            // A certificate we hold was parsed from or built as DER; it always re-encodes.
            throw new IllegalStateException("cannot encode " + certificate.getSubjectX500Principal(), e);
        }
    }

    static String encode(List<X509Certificate> certificates) {
        StringBuilder s = new StringBuilder();
        for (X509Certificate c : certificates) {
            s.append(encode(c));
        }
        return s.toString();
    }

    /** PKCS#8 ({@code PRIVATE KEY}), whatever the key type. */
    static String encode(PrivateKey key) {
        return encode("PRIVATE KEY", key.getEncoded());
    }

    /** Every {@code CERTIFICATE} block of a file, in order; at least one. */
    static List<X509Certificate> readCertificates(Path file) throws IOException {
        String origin = file.toString();
        List<Object> blocks = readBlocks(origin, Files.readString(file, StandardCharsets.US_ASCII));
        if (blocks.isEmpty()) {
            throw new IllegalStateException(origin + ": no PEM CERTIFICATE block (expected: at least one)");
        }
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
        List<X509Certificate> certificates = new ArrayList<>(blocks.size());
        for (Object block : blocks) {
            if (!(block instanceof X509CertificateHolder holder)) {
                throw new IllegalStateException(origin + ": holds a " + describe(block)
                        + " (expected: only CERTIFICATE blocks)");
            }
            try {
                certificates.add(converter.getCertificate(holder));
            } catch (CertificateException e) {
                throw new IllegalStateException(origin + ": unusable certificate " + holder.getSubject()
                        + " (" + e.getMessage() + ")", e);
            }
        }
        return certificates;
    }

    /**
     * The single private key of a file: PKCS#8 ({@code PRIVATE KEY}) or the traditional
     * {@code EC PRIVATE KEY} / {@code RSA PRIVATE KEY} forms, which openssl and Istio's
     * tooling write for plug-in CAs. Converted to a JDK key.
     */
    static PrivateKey readPrivateKey(Path file) throws IOException {
        String origin = file.toString();
        List<Object> blocks = readBlocks(origin, Files.readString(file, StandardCharsets.US_ASCII));
        if (blocks.size() != 1) {
            throw new IllegalStateException(origin + ": " + blocks.size() + " PEM blocks (expected: one private key)");
        }
        Object block = blocks.getFirst();
        if (block instanceof PEMEncryptedKeyPair || block instanceof PKCS8EncryptedPrivateKeyInfo) {
            throw new IllegalStateException(origin + ": the private key is encrypted (expected: an unencrypted"
                    + " key; decrypt it with 'openssl pkey -in " + file.getFileName() + "')");
        }
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        try {
            return switch (block) {
                case PrivateKeyInfo info -> converter.getPrivateKey(info);
                // Not getKeyPair: SEC1 keys often omit the optional public key, which it needs.
                case PEMKeyPair pair -> converter.getPrivateKey(pair.getPrivateKeyInfo());
                default -> throw new IllegalStateException(origin + ": holds a " + describe(block)
                        + " (expected: a PRIVATE KEY)");
            };
        } catch (IOException e) {
            throw new IllegalStateException(origin + ": unusable private key (" + e.getMessage() + ")", e);
        }
    }

    private static List<Object> readBlocks(String origin, String pem) {
        List<Object> blocks = new ArrayList<>();
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            for (Object o; (o = parser.readObject()) != null; ) {
                blocks.add(o);
            }
        } catch (IOException | RuntimeException e) {
            // BouncyCastle reports bad base64 and bad DER with assorted runtime exceptions.
            throw new IllegalStateException(origin + ": not valid PEM (" + e.getMessage() + ")", e);
        }
        return blocks;
    }

    /** What a parsed PEM block is, in PEM's words. */
    static String describe(Object pemObject) {
        return switch (pemObject) {
            case X509CertificateHolder ignored -> "CERTIFICATE";
            case PrivateKeyInfo ignored -> "PRIVATE KEY";
            case PEMKeyPair ignored -> "PRIVATE KEY";
            case PEMEncryptedKeyPair ignored -> "encrypted PRIVATE KEY";
            case PKCS8EncryptedPrivateKeyInfo ignored -> "ENCRYPTED PRIVATE KEY";
            case PKCS10CertificationRequest ignored -> "CERTIFICATE REQUEST";
            default -> pemObject.getClass().getSimpleName();
        };
    }
}
