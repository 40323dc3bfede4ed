package dev.ambit.common.pem;

import java.io.ByteArrayOutputStream;
import java.security.GeneralSecurityException;
import java.util.Arrays;

/**
 * The few DER (X.690) operations PEM's key forms and a CSR need: one tag-length-value read at an
 * offset, and one written ({@link #tlv}). Definite lengths only, as DER requires.
 *
 * @param tag the identifier octet (single-byte tags only)
 * @param start offset of the tag
 * @param contentStart offset of the content
 * @param end offset just past the content
 */
public record Der(int tag, int start, int contentStart, int end) {

    static final int INTEGER = 0x02;
    static final int OCTET_STRING = 0x04;
    static final int NULL = 0x05;
    static final int OID = 0x06;
    static final int SEQUENCE = 0x30;
    static final int CONTEXT_0 = 0xa0;

    /** The element at {@code at}. */
    static Der read(byte[] der, int at) throws GeneralSecurityException {
        if (at + 2 > der.length) {
            throw new GeneralSecurityException("DER truncated at byte " + at);
        }
        int tag = der[at] & 0xff;
        int first = der[at + 1] & 0xff;
        int length;
        int content;
        if (first < 0x80) {
            length = first;
            content = at + 2;
        } else {
            int bytes = first & 0x7f;
            if (bytes == 0 || bytes > 3 || at + 2 + bytes > der.length) {
                throw new GeneralSecurityException("DER length at byte " + at + " unsupported or truncated");
            }
            length = 0;
            for (int i = 0; i < bytes; i++) {
                length = (length << 8) | (der[at + 2 + i] & 0xff);
            }
            content = at + 2 + bytes;
        }
        if (content + length > der.length) {
            throw new GeneralSecurityException("DER element at byte " + at + " runs past the end");
        }
        return new Der(tag, at, content, content + length);
    }

    Der expect(int expectedTag, String what) throws GeneralSecurityException {
        if (tag != expectedTag) {
            throw new GeneralSecurityException(what + ": DER tag 0x" + Integer.toHexString(tag) + " (expected: 0x"
                    + Integer.toHexString(expectedTag) + ")");
        }
        return this;
    }

    byte[] content(byte[] der) {
        return Arrays.copyOfRange(der, contentStart, end);
    }

    byte[] encoded(byte[] der) {
        return Arrays.copyOfRange(der, start, end);
    }

    /** One element whose content is the concatenation of {@code parts}. */
    public static byte[] tlv(int tag, byte[]... parts) {
        int length = 0;
        for (byte[] p : parts) {
            length += p.length;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(length + 6);
        out.write(tag);
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(length) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(length >>> (8 * i));
            }
        }
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** An OID's content in dotted form, for messages. */
    static String oidText(byte[] oid) {
        if (oid.length == 0) {
            return "(empty OID)";
        }
        StringBuilder s = new StringBuilder();
        s.append((oid[0] & 0xff) / 40).append('.').append((oid[0] & 0xff) % 40);
        long arc = 0;
        for (int i = 1; i < oid.length; i++) {
            arc = (arc << 7) | (oid[i] & 0x7f);
            if ((oid[i] & 0x80) == 0) {
                s.append('.').append(arc);
                arc = 0;
            }
        }
        return s.toString();
    }
}
