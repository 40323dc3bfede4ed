package dev.ambit.waypoint.config;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** IP literals and prefixes of listener and endpoint addresses, never resolved through DNS. */
final class Cidrs {

    private Cidrs() {}

    /**
     * {@code s} as an address if it is an IPv4 or IPv6 literal, else null. Checked by shape
     * first: {@link InetAddress#getByName} would look a host name up, which a config
     * validation must never do.
     */
    static InetAddress literal(String s) {
        if (s == null || s.isEmpty()) {
            return null;
        }
        boolean v4 = s.matches("\\d{1,3}(\\.\\d{1,3}){3}");
        boolean v6 = s.indexOf(':') >= 0 && s.matches("[0-9A-Fa-f:.]+");
        if (!v4 && !v6) {
            return null;
        }
        if (v4) {
            for (String part : s.split("\\.")) {
                if (Integer.parseInt(part) > 255) {
                    return null;
                }
            }
        }
        try {
            return InetAddress.getByName(s);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** Whether {@code address} is in {@code prefix}/{@code bits} (same family only). */
    static boolean contains(byte[] prefix, int bits, byte[] address) {
        if (prefix.length != address.length) {
            return false;
        }
        int full = bits / 8;
        for (int i = 0; i < full; i++) {
            if (prefix[i] != address[i]) {
                return false;
            }
        }
        int rest = bits % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (prefix[full] & mask) == (address[full] & mask);
    }
}
