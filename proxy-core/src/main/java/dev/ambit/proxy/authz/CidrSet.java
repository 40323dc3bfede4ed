package dev.ambit.proxy.authz;

import dev.ambit.api.security.Address;
import java.util.List;

/**
 * OR of CIDRs, compiled into 128-bit network/mask pairs held as longs.
 *
 * <p>Every address is handled in IPv6 form, IPv4 as {@code ::ffff:a.b.c.d}, so an IPv4
 * CIDR matches both IPv4 and IPv4-mapped IPv6 addresses. A plain IPv6 CIDR (one that is
 * not itself inside {@code ::ffff:0:0/96}) never matches an IPv4 address, even
 * {@code ::/0}: as in Istio, address families do not mix.
 */
final class CidrSet {

    /** Top 64 bits and bottom 64 bits of the mapped prefix {@code ::ffff:0:0/96}. */
    private static final long MAPPED_LO = 0x0000_ffff_0000_0000L;

    // Per CIDR i: net at [4i], [4i+1], mask at [4i+2], [4i+3].
    private final long[] nets;
    // Per CIDR: true for plain IPv6 CIDRs, which must not match mapped IPv4 addresses.
    private final boolean[] v6Only;

    private CidrSet(long[] nets, boolean[] v6Only) {
        this.nets = nets;
        this.v6Only = v6Only;
    }

    /**
     * Returns {@code null} for an empty list: an empty field is not checked at all.
     *
     * @throws IllegalArgumentException for an address that is not 4 or 16 bytes, or a
     *         prefix length longer than the address
     */
    static CidrSet compile(List<Address> addresses, String field) {
        if (addresses.isEmpty()) {
            return null;
        }
        long[] nets = new long[addresses.size() * 4];
        boolean[] v6Only = new boolean[addresses.size()];
        for (int i = 0; i < addresses.size(); i++) {
            Address a = addresses.get(i);
            byte[] bytes = a.getAddress().toByteArray();
            int length = a.getLength(); // uint32: a huge value arrives negative
            int prefix;
            if (bytes.length == 4) {
                if (length < 0 || length > 32) {
                    throw new IllegalArgumentException(field + ": /" + Integer.toUnsignedString(length)
                            + " (expected: 0-32 for IPv4)");
                }
                prefix = 96 + length;
            } else if (bytes.length == 16) {
                if (length < 0 || length > 128) {
                    throw new IllegalArgumentException(field + ": /" + Integer.toUnsignedString(length)
                            + " (expected: 0-128 for IPv6)");
                }
                prefix = length;
            } else {
                throw new IllegalArgumentException(field + ": address of " + bytes.length
                        + " bytes (expected: 4 or 16)");
            }
            long hi = hi(bytes);
            long lo = lo(bytes);
            // Java shifts longs modulo 64, so a shift by 64 (prefix 0) must be special-cased.
            long maskHi = prefix >= 64 ? -1L : prefix == 0 ? 0 : -1L << (64 - prefix);
            long maskLo = prefix <= 64 ? 0 : -1L << (128 - prefix);
            // Host bits are cleared rather than rejected: 10.0.0.5/24 means 10.0.0.0/24.
            nets[4 * i] = hi & maskHi;
            nets[4 * i + 1] = lo & maskLo;
            nets[4 * i + 2] = maskHi;
            nets[4 * i + 3] = maskLo;
            // A mapped CIDR of /96 or longer is an IPv4 CIDR written in IPv6.
            v6Only[i] = !(prefix >= 96 && isMapped(hi, lo));
        }
        return new CidrSet(nets, v6Only);
    }

    boolean contains(long hi, long lo) {
        boolean mapped = isMapped(hi, lo);
        for (int i = 0; i < v6Only.length; i++) {
            if ((hi & nets[4 * i + 2]) == nets[4 * i] && (lo & nets[4 * i + 3]) == nets[4 * i + 1]
                    && !(mapped && v6Only[i])) {
                return true;
            }
        }
        return false;
    }

    /** The top 64 bits of a 4- or 16-byte address in IPv6 form. */
    static long hi(byte[] b) {
        return b.length == 4 ? 0 : bits(b, 0);
    }

    /** The bottom 64 bits of a 4- or 16-byte address in IPv6 form. */
    static long lo(byte[] b) {
        if (b.length == 4) {
            return MAPPED_LO | (bits4(b) & 0xffff_ffffL);
        }
        return bits(b, 8);
    }

    private static boolean isMapped(long hi, long lo) {
        return hi == 0 && (lo & 0xffff_ffff_0000_0000L) == MAPPED_LO;
    }

    private static long bits(byte[] b, int from) {
        long v = 0;
        for (int i = from; i < from + 8; i++) {
            v = v << 8 | (b[i] & 0xff);
        }
        return v;
    }

    private static int bits4(byte[] b) {
        return (b[0] & 0xff) << 24 | (b[1] & 0xff) << 16 | (b[2] & 0xff) << 8 | (b[3] & 0xff);
    }
}
