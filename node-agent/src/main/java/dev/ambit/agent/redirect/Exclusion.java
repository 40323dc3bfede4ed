package dev.ambit.agent.redirect;

import static java.util.Objects.requireNonNull;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An outbound destination that capture leaves alone: a CIDR (every port) or one
 * address and port.
 */
public record Exclusion(Inet4Address address, int prefixLength, int port) {

    public Exclusion {
        requireNonNull(address, "address");
        if (prefixLength < 0 || prefixLength > 32) {
            throw new IllegalArgumentException("prefixLength: " + prefixLength + " (expected: 0-32)");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 0-65535, 0 for every port)");
        }
        if (port != 0 && prefixLength != 32) {
            throw new IllegalArgumentException("port " + port + " with prefix /" + prefixLength
                    + ": a port can only be excluded for a single address (/32)");
        }
    }

    /** {@code "10.96.0.0/12"} (every port), {@code "10.0.0.5"} or {@code "10.0.0.5:8080"}. */
    public static Exclusion parse(String spec) {
        requireNonNull(spec, "spec");
        try {
            int slash = spec.indexOf('/');
            int colon = spec.indexOf(':');
            if (slash >= 0) {
                return new Exclusion(ipv4(spec.substring(0, slash)), Integer.parseInt(spec.substring(slash + 1)), 0);
            }
            if (colon >= 0) {
                return new Exclusion(ipv4(spec.substring(0, colon)), 32, Integer.parseInt(spec.substring(colon + 1)));
            }
            return new Exclusion(ipv4(spec), 32, 0);
        } catch (NumberFormatException | UnknownHostException e) {
            throw new IllegalArgumentException("exclusion: " + spec
                    + " (expected: IPv4 CIDR like 10.96.0.0/12, an address, or address:port)", e);
        }
    }

    private static Inet4Address ipv4(String literal) throws UnknownHostException {
        if (!literal.matches("[0-9.]+")) {
            throw new UnknownHostException(literal);
        }
        if (InetAddress.getByName(literal) instanceof Inet4Address a) {
            return a;
        }
        throw new UnknownHostException(literal);
    }
}
