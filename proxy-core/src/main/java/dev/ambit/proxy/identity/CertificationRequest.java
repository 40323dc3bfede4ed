package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.pem.Der;
import dev.ambit.common.pem.Pem;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.Signature;

/**
 * A PKCS#10 certification request (RFC 2986) in PEM, written with the JDK's signature and a
 * few lines of DER: an empty subject, the key's SubjectPublicKeyInfo, and one
 * {@code extensionRequest} attribute holding a critical subjectAltName with exactly one URI,
 * signed with ECDSA over SHA-256.
 *
 * <p>The agent used BouncyCastle for this. Its signed jar alone kept about 7,600 manifest
 * entries alive on the heap and loaded over a hundred classes, for one fixed structure of a few
 * hundred bytes; the CA (istiod-lite) still parses requests with BouncyCastle, and the tests
 * check this encoding with it.
 */
final class CertificationRequest {

    // 1.2.840.10045.4.3.2 ecdsa-with-SHA256 (RFC 5758: parameters absent)
    private static final byte[] ECDSA_WITH_SHA256 = {0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x04, 0x03, 0x02};
    // 1.2.840.113549.1.9.14 pkcs-9-at-extensionRequest
    private static final byte[] EXTENSION_REQUEST = {0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
            0x09, 0x0e};
    // 2.5.29.17 id-ce-subjectAltName
    private static final byte[] SUBJECT_ALT_NAME = {0x55, 0x1d, 0x11};

    private static final int INTEGER = 0x02;
    private static final int BIT_STRING = 0x03;
    private static final int OCTET_STRING = 0x04;
    private static final int OID = 0x06;
    private static final int BOOLEAN = 0x01;
    private static final int SEQUENCE = 0x30;
    private static final int SET = 0x31;
    private static final int CONTEXT_0_CONSTRUCTED = 0xa0;
    private static final int URI_NAME = 0x86; // GeneralName uniformResourceIdentifier [6] IMPLICIT IA5String

    private CertificationRequest() {}

    /** The PEM ({@code CERTIFICATE REQUEST}) for {@code identity}, signed with {@code keys}' EC private key. */
    static String pem(KeyPair keys, SpiffeId identity) throws GeneralSecurityException {
        requireNonNull(keys, "keys");
        requireNonNull(identity, "identity");
        byte[] der = der(keys, identity);
        return Pem.encode("CERTIFICATE REQUEST", der);
    }

    static byte[] der(KeyPair keys, SpiffeId identity) throws GeneralSecurityException {
        byte[] uri = identity.uri().getBytes(StandardCharsets.US_ASCII);
        byte[] subjectAltName = tlv(SEQUENCE, tlv(URI_NAME, uri));
        byte[] extension = tlv(SEQUENCE,
                tlv(OID, SUBJECT_ALT_NAME),
                tlv(BOOLEAN, new byte[] {(byte) 0xff}),
                tlv(OCTET_STRING, subjectAltName));
        byte[] attribute = tlv(SEQUENCE,
                tlv(OID, EXTENSION_REQUEST),
                tlv(SET, tlv(SEQUENCE, extension)));
        byte[] info = tlv(SEQUENCE,
                tlv(INTEGER, new byte[] {0}),              // version v1(0)
                tlv(SEQUENCE),                              // subject: the empty Name
                keys.getPublic().getEncoded(),              // SubjectPublicKeyInfo, already DER
                tlv(CONTEXT_0_CONSTRUCTED, attribute));     // attributes [0] IMPLICIT SET OF Attribute

        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign(keys.getPrivate());
        signer.update(info);
        byte[] signature = signer.sign(); // the JDK emits the DER Ecdsa-Sig-Value RFC 3279 asks for
        byte[] bits = new byte[signature.length + 1]; // leading 0: no unused bits
        System.arraycopy(signature, 0, bits, 1, signature.length);
        return tlv(SEQUENCE, info, tlv(SEQUENCE, tlv(OID, ECDSA_WITH_SHA256)), tlv(BIT_STRING, bits));
    }

    private static byte[] tlv(int tag, byte[]... parts) {
        return Der.tlv(tag, parts);
    }
}
