package dev.ambit.common.pem;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PEM (RFC 7468) in and out, with the JDK alone: certificates, certificate chains, private keys
 * and raw blocks. The one PEM codec of the mesh: the CA (istiod-lite) writes its roots and
 * answers with it, the proxies read trust bundles and CA answers with it.
 *
 * <p>Private keys are read in PKCS#8 ({@code PRIVATE KEY}) and in the traditional forms openssl
 * and Istio's tooling write for plug-in CAs ({@code EC PRIVATE KEY}, {@code RSA PRIVATE KEY});
 * they are written as PKCS#8.
 *
 * <p>Errors name the input ({@code origin}: a file, or a word such as {@code "PEM"} for text)
 * and what was expected. Text is an argument, so its errors are
 * {@link IllegalArgumentException}s; a file is configuration the process found on disk, so
 * the {@code read} methods throw {@link IllegalStateException}s.
 */
public final class Pem {

    /**
     * One decoded block.
     *
     * @param type the label, e.g. {@code CERTIFICATE} or {@code PRIVATE KEY}
     * @param der the decoded content
     * @param encrypted whether RFC 1421 headers say the content is encrypted ({@code Proc-Type: 4,ENCRYPTED})
     */
    public record Block(String type, byte[] der, boolean encrypted) {
        public Block {
            requireNonNull(type, "type");
            requireNonNull(der, "der");
        }
    }

    public static final String CERTIFICATE = "CERTIFICATE";
    public static final String PRIVATE_KEY = "PRIVATE KEY";

    private static final Base64.Encoder BASE64 = Base64.getMimeEncoder(64, new byte[] {'\n'});
    // The label is repeated in the END line; text around blocks is ignored, as openssl does.
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9][A-Z0-9 ]*)-----\\r?\\n(.*?)-----END ([A-Z0-9 ]*)-----", Pattern.DOTALL);
    private static final Pattern BEGIN = Pattern.compile("-----BEGIN ([^-\\r\\n]*)-----");

    private Pem() {}

    // ------------------------------------------------------------------ writing

    /** A block of {@code type} holding {@code der}, base64 in 64-character lines, ending with a newline. */
    public static String encode(String type, byte[] der) {
        requireNonNull(type, "type");
        requireNonNull(der, "der");
        return "-----BEGIN " + type + "-----\n" + BASE64.encodeToString(der) + "\n-----END " + type + "-----\n";
    }

    public static String encode(X509Certificate certificate) {
        requireNonNull(certificate, "certificate");
        try {
            return encode(CERTIFICATE, certificate.getEncoded());
        } catch (CertificateEncodingException e) {
            // A certificate we hold was parsed from or built as DER; it always re-encodes.
            throw new IllegalStateException("cannot encode " + certificate.getSubjectX500Principal(), e);
        }
    }

    /** The certificates' blocks, in order (a chain: leaf first). */
    public static String encode(List<X509Certificate> certificates) {
        requireNonNull(certificates, "certificates");
        StringBuilder s = new StringBuilder();
        for (X509Certificate c : certificates) {
            s.append(encode(c));
        }
        return s.toString();
    }

    /** PKCS#8 ({@code PRIVATE KEY}), whatever the key type. */
    public static String encode(PrivateKey key) {
        requireNonNull(key, "key");
        byte[] der = key.getEncoded();
        if (der == null || !"PKCS#8".equals(key.getFormat())) {
            throw new IllegalArgumentException("key: " + key.getAlgorithm() + " in format " + key.getFormat()
                    + " (expected: an exportable PKCS#8 key)");
        }
        return encode(PRIVATE_KEY, der);
    }

    // ------------------------------------------------------------------ reading text

    /**
     * Every block of {@code text}, in order; none if it has none.
     *
     * @throws IllegalArgumentException naming {@code origin} when a block is cut off, its END
     *         line names another label, or its content is not base64
     */
    public static List<Block> decode(String origin, String text) {
        requireNonNull(origin, "origin");
        requireNonNull(text, "text");
        List<Block> blocks = new ArrayList<>();
        Matcher m = BLOCK.matcher(text);
        int end = 0;
        while (m.find()) {
            checkNoBeginBetween(origin, text, end, m.start());
            String type = m.group(1);
            if (!type.equals(m.group(3))) {
                throw new IllegalArgumentException(origin + ": not valid PEM (BEGIN " + type + " ends with END "
                        + m.group(3) + "; expected: END " + type + ")");
            }
            blocks.add(block(origin, type, m.group(2)));
            end = m.end();
        }
        checkNoBeginBetween(origin, text, end, text.length());
        return blocks;
    }

    /**
     * Every {@code CERTIFICATE} of {@code text}, in order; at least one.
     *
     * @throws IllegalArgumentException naming {@code origin}: no certificate, a block of another
     *         type, or one that does not parse
     */
    public static List<X509Certificate> certificates(String origin, String text) {
        List<Block> blocks = decode(origin, text);
        if (blocks.isEmpty()) {
            throw new IllegalArgumentException(origin + ": no " + CERTIFICATE + " block (expected: at least one)");
        }
        CertificateFactory factory = x509();
        List<X509Certificate> certificates = new ArrayList<>(blocks.size());
        for (Block b : blocks) {
            if (!b.type().equals(CERTIFICATE)) {
                throw new IllegalArgumentException(origin + ": holds a " + b.type()
                        + " (expected: only " + CERTIFICATE + " blocks)");
            }
            try {
                certificates.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(b.der())));
            } catch (CertificateException | RuntimeException e) {
                throw new IllegalArgumentException(origin + ": unparseable certificate (" + e.getMessage() + ")", e);
            }
        }
        return certificates;
    }

    /**
     * The single private key of {@code text}: PKCS#8, SEC1 ({@code EC PRIVATE KEY}, with its
     * named curve) or PKCS#1 ({@code RSA PRIVATE KEY}), unencrypted.
     *
     * @throws IllegalArgumentException naming {@code origin}: not exactly one block, another
     *         type, an encrypted key, or one the JDK cannot use
     */
    public static PrivateKey privateKey(String origin, String text) {
        List<Block> blocks = decode(origin, text);
        if (blocks.size() != 1) {
            throw new IllegalArgumentException(origin + ": " + blocks.size()
                    + " PEM blocks (expected: one private key)");
        }
        Block b = blocks.getFirst();
        if (b.encrypted() || b.type().equals("ENCRYPTED PRIVATE KEY")) {
            throw new IllegalArgumentException(origin + ": the private key is encrypted (expected: an unencrypted"
                    + " key; decrypt it with 'openssl pkey -in " + origin + "')");
        }
        try {
            return switch (b.type()) {
                case PRIVATE_KEY -> Pkcs8.privateKey(b.der());
                case "EC PRIVATE KEY" -> Pkcs8.fromSec1(b.der());
                case "RSA PRIVATE KEY" -> Pkcs8.fromPkcs1(b.der());
                default -> throw new IllegalArgumentException(origin + ": holds a " + b.type()
                        + " (expected: a " + PRIVATE_KEY + ")");
            };
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException(origin + ": unusable private key (" + e.getMessage() + ")", e);
        }
    }

    // ------------------------------------------------------------------ reading files

    /**
     * {@link #certificates} of a file.
     *
     * @throws IllegalStateException naming the file and what is wrong with it
     * @throws IOException when the file cannot be read
     */
    public static List<X509Certificate> readCertificates(Path file) throws IOException {
        String text = Files.readString(requireNonNull(file, "file"), StandardCharsets.US_ASCII);
        try {
            return certificates(file.toString(), text);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    /**
     * {@link #privateKey} of a file.
     *
     * @throws IllegalStateException naming the file and what is wrong with it
     * @throws IOException when the file cannot be read
     */
    public static PrivateKey readPrivateKey(Path file) throws IOException {
        String text = Files.readString(requireNonNull(file, "file"), StandardCharsets.US_ASCII);
        try {
            return privateKey(file.toString(), text);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ internals

    private static Block block(String origin, String type, String body) {
        boolean encrypted = false;
        StringBuilder base64 = new StringBuilder(body.length());
        for (String line : body.split("\\r?\\n")) {
            String l = line.strip();
            if (l.contains(":")) { // RFC 1421 header (Proc-Type, DEK-Info), as openssl writes encrypted keys
                encrypted |= l.startsWith("Proc-Type:") && l.contains("ENCRYPTED");
                continue;
            }
            base64.append(l);
        }
        try {
            return new Block(type, Base64.getDecoder().decode(base64.toString()), encrypted);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(origin + ": not valid PEM (" + type + " block: " + e.getMessage()
                    + ")", e);
        }
    }

    private static void checkNoBeginBetween(String origin, String text, int from, int to) {
        Matcher begin = BEGIN.matcher(text).region(from, to);
        if (begin.find()) {
            throw new IllegalArgumentException(origin + ": not valid PEM (BEGIN " + begin.group(1)
                    + " without a matching END line)");
        }
    }

    private static CertificateFactory x509() {
        try {
            return CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("the JDK has no X.509 certificate factory", e);
        }
    }

    /** Turns the traditional key encodings into PKCS#8, which the JDK's key factories take. */
    private static final class Pkcs8 {

        // 1.2.840.10045.2.1 id-ecPublicKey
        private static final byte[] EC_PUBLIC_KEY = {0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};
        // 1.2.840.113549.1.1.1 rsaEncryption
        private static final byte[] RSA_ENCRYPTION = {0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d,
            0x01, 0x01, 0x01};
        // 1.3.101.112 id-Ed25519, 1.3.101.113 id-Ed448, 1.2.840.113549.1.1.10 id-RSASSA-PSS
        private static final byte[] ED25519 = {0x2b, 0x65, 0x70};
        private static final byte[] ED448 = {0x2b, 0x65, 0x71};
        private static final byte[] RSASSA_PSS = {0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d,
            0x01, 0x01, 0x0a};

        private static PrivateKey privateKey(byte[] pkcs8) throws GeneralSecurityException {
            // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier ::= SEQUENCE { OID, ... }, key }
            Der info = Der.read(pkcs8, 0).expect(Der.SEQUENCE, "PrivateKeyInfo");
            Der version = Der.read(pkcs8, info.contentStart()).expect(Der.INTEGER, "PrivateKeyInfo version");
            Der algorithm = Der.read(pkcs8, version.end()).expect(Der.SEQUENCE, "AlgorithmIdentifier");
            byte[] oid = Der.read(pkcs8, algorithm.contentStart()).expect(Der.OID, "algorithm").content(pkcs8);
            String name = java.util.Arrays.equals(oid, EC_PUBLIC_KEY) ? "EC"
                    : java.util.Arrays.equals(oid, RSA_ENCRYPTION) ? "RSA"
                    : java.util.Arrays.equals(oid, ED25519) ? "Ed25519"
                    : java.util.Arrays.equals(oid, ED448) ? "Ed448"
                    : java.util.Arrays.equals(oid, RSASSA_PSS) ? "RSASSA-PSS" : null;
            if (name == null) {
                throw new GeneralSecurityException("key algorithm " + Der.oidText(oid)
                        + " (expected: EC, RSA, RSASSA-PSS, Ed25519 or Ed448)");
            }
            return KeyFactory.getInstance(name).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
        }

        /** SEC1 ECPrivateKey: the curve comes from its {@code [0] parameters}, which openssl always writes. */
        private static PrivateKey fromSec1(byte[] sec1) throws GeneralSecurityException {
            Der key = Der.read(sec1, 0).expect(Der.SEQUENCE, "ECPrivateKey");
            Der version = Der.read(sec1, key.contentStart()).expect(Der.INTEGER, "ECPrivateKey version");
            Der secret = Der.read(sec1, version.end()).expect(Der.OCTET_STRING, "ECPrivateKey privateKey");
            byte[] curve = null;
            for (int at = secret.end(); at < key.end(); ) {
                Der field = Der.read(sec1, at);
                if (field.tag() == Der.CONTEXT_0) {
                    curve = Der.read(sec1, field.contentStart()).expect(Der.OID, "ECPrivateKey parameters")
                            .encoded(sec1);
                }
                at = field.end();
            }
            if (curve == null) {
                throw new GeneralSecurityException("EC key without its curve (expected: named curve parameters;"
                        + " convert it with 'openssl pkcs8 -topk8 -nocrypt')");
            }
            byte[] algorithm = Der.tlv(Der.SEQUENCE, Der.tlv(Der.OID, EC_PUBLIC_KEY), curve);
            return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(wrap(algorithm, sec1)));
        }

        /** PKCS#1 RSAPrivateKey: the algorithm identifier is rsaEncryption with NULL parameters. */
        private static PrivateKey fromPkcs1(byte[] pkcs1) throws GeneralSecurityException {
            Der.read(pkcs1, 0).expect(Der.SEQUENCE, "RSAPrivateKey");
            byte[] algorithm = Der.tlv(Der.SEQUENCE, Der.tlv(Der.OID, RSA_ENCRYPTION), Der.tlv(Der.NULL));
            return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(wrap(algorithm, pkcs1)));
        }

        private static byte[] wrap(byte[] algorithm, byte[] key) {
            return Der.tlv(Der.SEQUENCE, Der.tlv(Der.INTEGER, new byte[] {0}), algorithm,
                    Der.tlv(Der.OCTET_STRING, key));
        }
    }
}
