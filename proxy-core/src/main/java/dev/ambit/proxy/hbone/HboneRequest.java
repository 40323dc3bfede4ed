package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Locale;

/**
 * One HBONE tunnel request: the {@code CONNECT} target and the context headers Istio's
 * peers send with it. The same type is built by {@link HboneClient} callers (what to send)
 * and by {@link HboneServer} (what was received).
 *
 * <p>{@code destination} is always an IP literal and a port: HBONE never carries names, so
 * nothing here resolves DNS. The header values are kept as received (or as given); absent
 * headers are {@code null}.
 *
 * @param destination the {@code :authority}, an {@code ip:port}, never a name
 * @param forwarded the raw {@code Forwarded} header (RFC 7239), or {@code null}
 * @param baggage the raw {@code baggage} header (W3C Baggage), or {@code null}
 * @param traceparent the raw {@code traceparent} header (W3C Trace Context), or {@code null}
 */
public record HboneRequest(InetSocketAddress destination, String forwarded, String baggage, String traceparent) {

    public HboneRequest {
        requireNonNull(destination, "destination");
        if (destination.isUnresolved()) {
            throw new IllegalArgumentException("destination: " + destination + " (expected: an IP address and port)");
        }
        if (destination.getPort() == 0) {
            throw new IllegalArgumentException("destination: " + destination + " (expected: port > 0)");
        }
    }

    /** A request to {@code destination} without context headers. */
    public static HboneRequest of(InetSocketAddress destination) {
        return new HboneRequest(destination, null, null, null);
    }

    /** Starts a request to {@code destination}. */
    public static Builder builder(InetSocketAddress destination) {
        return new Builder(destination);
    }

    /** The {@code :authority} value: {@code ip:port}, IPv6 in brackets. */
    public String authority() {
        return authorityOf(destination);
    }

    /**
     * The client address named by the first {@code for=} parameter of {@code Forwarded}, as
     * written there without quotes and brackets (an IP literal, or an obfuscated identifier
     * such as {@code unknown}); {@code null} if there is none.
     */
    public String forwardedFor() {
        return forwarded == null ? null : Forwarded.firstFor(forwarded);
    }

    static String authorityOf(InetSocketAddress address) {
        // RFC 5952 text (compressed IPv6), so both ends and the logs agree on one spelling.
        return NetUtil.toSocketAddressString(NetUtil.toAddressString(address.getAddress()), address.getPort())
                .toLowerCase(Locale.ROOT);
    }

    /**
     * Parses an {@code :authority} that must be {@code ipv4:port} or {@code [ipv6]:port},
     * port 1 to 65535; {@code null} if it is anything else (host names included).
     */
    static InetSocketAddress parseAuthority(CharSequence authority) {
        if (authority == null) {
            return null;
        }
        String s = authority.toString();
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1 || s.length() - colon - 1 > 5) {
            return null;
        }
        String host = s.substring(0, colon);
        if (host.startsWith("[")) {
            if (!host.endsWith("]")) {
                return null;
            }
            host = host.substring(1, host.length() - 1);
            if (!NetUtil.isValidIpV6Address(host)) {
                return null;
            }
        } else if (!NetUtil.isValidIpV4Address(host)) {
            // An unbracketed IPv6 address lands here too: "::1:80" is ambiguous, so refused.
            return null;
        }
        int port = 0;
        for (int i = colon + 1; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return null;
            }
            port = port * 10 + (c - '0');
        }
        if (port < 1 || port > 65535) {
            return null;
        }
        // A validated literal: createInetAddressFromIpAddressString never resolves.
        InetAddress ip = NetUtil.createInetAddressFromIpAddressString(host);
        return ip == null ? null : new InetSocketAddress(ip, port);
    }

    /** Builds an {@link HboneRequest}. */
    public static final class Builder {
        private final InetSocketAddress destination;
        private String forwarded;
        private String baggage;
        private String traceparent;

        private Builder(InetSocketAddress destination) {
            this.destination = requireNonNull(destination, "destination");
        }

        /** Sets {@code Forwarded: for=<client>} in RFC 7239 form (IPv6 quoted and bracketed). */
        public Builder forwardedFor(InetAddress client) {
            forwarded = Forwarded.forClient(requireNonNull(client, "client"));
            return this;
        }

        /** Sets the raw {@code Forwarded} header. */
        public Builder forwarded(String forwarded) {
            this.forwarded = requireNonNull(forwarded, "forwarded");
            return this;
        }

        public Builder baggage(String baggage) {
            this.baggage = requireNonNull(baggage, "baggage");
            return this;
        }

        public Builder traceparent(String traceparent) {
            this.traceparent = requireNonNull(traceparent, "traceparent");
            return this;
        }

        public HboneRequest build() {
            return new HboneRequest(destination, forwarded, baggage, traceparent);
        }
    }

    /** RFC 7239 {@code Forwarded}: only what HBONE uses. */
    static final class Forwarded {
        private Forwarded() {}

        static String forClient(InetAddress client) {
            String ip = NetUtil.toAddressString(client);
            // RFC 7239 §6: an IPv6 node name is bracketed, and then must be a quoted-string.
            return client instanceof java.net.Inet6Address ? "for=\"[" + ip + "]\"" : "for=" + ip;
        }

        static String firstFor(String header) {
            // Elements are separated by ',', pairs by ';'. Quoted strings here never hold
            // those separators in practice (IPs and ports), so a plain split is enough.
            for (String element : header.split(",")) {
                for (String pair : element.split(";")) {
                    String p = pair.strip();
                    if (p.length() > 4 && p.regionMatches(true, 0, "for=", 0, 4)) {
                        String v = p.substring(4);
                        if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                            v = v.substring(1, v.length() - 1);
                        }
                        if (v.startsWith("[")) {
                            int end = v.indexOf(']');
                            v = end < 0 ? v.substring(1) : v.substring(1, end);
                        } else {
                            int colon = v.indexOf(':');
                            if (colon >= 0 && v.indexOf(':', colon + 1) < 0) {
                                v = v.substring(0, colon); // "1.2.3.4:5678" names a port too
                            }
                        }
                        return v;
                    }
                }
            }
            return null;
        }
    }
}
