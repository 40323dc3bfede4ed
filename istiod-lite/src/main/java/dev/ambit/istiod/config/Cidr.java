package dev.ambit.istiod.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/** An IP prefix: address bytes and length. {@code 10.0.0.1} is {@code 10.0.0.1/32}. */
public record Cidr(byte[] address, int length) {

    private static final Pattern V4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Pattern V6 = Pattern.compile("[0-9a-fA-F:.]+");

    /** Parses an address or CIDR without DNS lookups, or returns {@code null}. */
    public static Cidr parse(String text) {
        String addr = text;
        int len = -1;
        int slash = text.indexOf('/');
        if (slash >= 0) {
            addr = text.substring(0, slash);
            try {
                len = Integer.parseInt(text.substring(slash + 1));
            } catch (NumberFormatException e) {
                return null;
            }
        }
        boolean v4 = V4.matcher(addr).matches();
        if (!v4 && !(addr.contains(":") && V6.matcher(addr).matches())) {
            return null; // never let InetAddress resolve a host name
        }
        byte[] bytes;
        if (v4) {
            String[] octets = addr.split("\\.");
            bytes = new byte[4];
            for (int i = 0; i < 4; i++) {
                int o = Integer.parseInt(octets[i]);
                if (o > 255) {
                    return null;
                }
                bytes[i] = (byte) o;
            }
        } else {
            try {
                bytes = InetAddress.getByName(addr).getAddress();
            } catch (UnknownHostException e) {
                return null;
            }
        }
        int max = bytes.length * 8;
        if (len == -1) {
            len = max;
        }
        if (len < 0 || len > max) {
            return null;
        }
        return new Cidr(bytes, len);
    }
}
