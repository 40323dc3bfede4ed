package dev.ambit.waypoint.http;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * One of Envoy's access-log command operators ({@code %NAME%}, {@code %NAME(ARG)%},
 * {@code %NAME(ARG):Z%}), parsed once: {@link #value} gives a {@link String}, a {@link Long}
 * (the operators Envoy types as numbers in JSON) or {@code null} when the proxy has no value.
 * {@code :Z} truncates a string value to Z characters. An operator Envoy does not know is
 * rejected, as Envoy rejects it; one Envoy knows that this proxy cannot produce is rejected too,
 * naming it, rather than logged as {@code -} forever. Immutable.
 */
final class CommandOperator {

    /** Envoy's operators this proxy does not implement (rejected as unsupported, not as unknown). */
    static final Set<String> UNSUPPORTED = Set.of("TRAILER", "RESPONSE_TRAILER", "REQUEST_DURATION",
            "REQUEST_TX_DURATION", "RESPONSE_DURATION", "RESPONSE_TX_DURATION", "DOWNSTREAM_HANDSHAKE_DURATION",
            "ROUNDTRIP_DURATION", "RESPONSE_FLAGS_LONG", "DYNAMIC_METADATA", "CLUSTER_METADATA",
            "UPSTREAM_METADATA", "FILTER_STATE", "UPSTREAM_FILTER_STATE", "CEL", "METADATA", "REQ_WITHOUT_QUERY",
            "REQUEST_HEADERS_BYTES", "RESPONSE_HEADERS_BYTES", "RESPONSE_TRAILERS_BYTES", "UPSTREAM_WIRE_BYTES_SENT",
            "UPSTREAM_WIRE_BYTES_RECEIVED", "UPSTREAM_HEADER_BYTES_SENT", "UPSTREAM_HEADER_BYTES_RECEIVED",
            "DOWNSTREAM_WIRE_BYTES_SENT", "DOWNSTREAM_WIRE_BYTES_RECEIVED", "DOWNSTREAM_HEADER_BYTES_SENT",
            "DOWNSTREAM_HEADER_BYTES_RECEIVED", "UPSTREAM_CONNECTION_ID", "CONNECTION_ID", "STREAM_ID",
            "DOWNSTREAM_TLS_VERSION", "DOWNSTREAM_TLS_CIPHER", "DOWNSTREAM_TLS_SESSION_ID",
            "DOWNSTREAM_PEER_SUBJECT", "DOWNSTREAM_PEER_ISSUER", "DOWNSTREAM_PEER_CERT",
            "DOWNSTREAM_PEER_FINGERPRINT_256", "DOWNSTREAM_PEER_FINGERPRINT_1", "DOWNSTREAM_PEER_SERIAL",
            "DOWNSTREAM_LOCAL_SUBJECT", "UPSTREAM_PEER_SUBJECT", "UPSTREAM_PEER_ISSUER", "UPSTREAM_TLS_VERSION",
            "UPSTREAM_TLS_CIPHER", "UPSTREAM_TLS_SESSION_ID", "UPSTREAM_PEER_CERT", "VIRTUAL_CLUSTER_NAME",
            "GRPC_STATUS", "GRPC_STATUS_NUMBER", "LOCAL_REPLY_BODY", "ACCESS_LOG_TYPE", "UNIQUE_ID",
            "UPSTREAM_TRANSPORT_FAILURE_REASON_LONG", "DOWNSTREAM_TRANSPORT_FAILURE_REASON", "PATH",
            "QUERY_PARAM", "CUSTOM_FLAGS", "UPSTREAM_REMOTE_ADDRESS", "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
            "UPSTREAM_REMOTE_PORT", "UPSTREAM_LOCAL_PORT", "UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
            "DOWNSTREAM_DIRECT_LOCAL_ADDRESS", "DOWNSTREAM_DIRECT_LOCAL_ADDRESS_WITHOUT_PORT",
            "DOWNSTREAM_DIRECT_LOCAL_PORT", "DOWNSTREAM_DIRECT_REMOTE_PORT", "SYS_TIME", "EMIT_TIME",
            "COMMON_DURATION", "UPSTREAM_DNS_SAN", "DOWNSTREAM_PEER_DNS_SAN", "DOWNSTREAM_LOCAL_DNS_SAN",
            "UPSTREAM_PEER_DNS_SAN", "UPSTREAM_LOCAL_URI_SAN", "DOWNSTREAM_LOCAL_URI_SAN", "DOWNSTREAM_PEER_CERT_V_START",
            "DOWNSTREAM_PEER_CERT_V_END", "UPSTREAM_PEER_CERT_V_START", "UPSTREAM_PEER_CERT_V_END",
            "UPSTREAM_PROTOCOL", "UPSTREAM_CLUSTER_METADATA");

    /** The operators without an argument, by name. */
    private static final Map<String, Function<AccessLogData, Object>> PLAIN = Map.ofEntries(
            Map.entry("RESPONSE_CODE", d -> (long) d.responseCode),
            Map.entry("RESPONSE_FLAGS", d -> d.responseFlags),
            Map.entry("RESPONSE_CODE_DETAILS", d -> d.responseCodeDetails),
            Map.entry("CONNECTION_TERMINATION_DETAILS", d -> d.connectionTerminationDetails),
            Map.entry("UPSTREAM_TRANSPORT_FAILURE_REASON", d -> d.upstreamTransportFailureReason),
            Map.entry("BYTES_RECEIVED", d -> d.bytesReceived),
            Map.entry("BYTES_SENT", d -> d.bytesSent),
            Map.entry("DURATION", d -> TimeUnit.NANOSECONDS.toMillis(d.durationNanos)),
            Map.entry("PROTOCOL", d -> d.protocol),
            Map.entry("ROUTE_NAME", d -> d.routeName),
            Map.entry("UPSTREAM_HOST", d -> address(d.upstreamHost)),
            Map.entry("UPSTREAM_CLUSTER", d -> d.upstreamCluster),
            Map.entry("UPSTREAM_CLUSTER_RAW", d -> d.upstreamCluster),
            Map.entry("UPSTREAM_LOCAL_ADDRESS", d -> address(d.upstreamLocalAddress)),
            Map.entry("UPSTREAM_REQUEST_ATTEMPT_COUNT", d -> (long) d.attempts),
            Map.entry("DOWNSTREAM_REMOTE_ADDRESS", d -> address(d.downstreamRemoteAddress)),
            Map.entry("DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", d -> host(d.downstreamRemoteAddress)),
            Map.entry("DOWNSTREAM_REMOTE_PORT", d -> port(d.downstreamRemoteAddress)),
            // No proxy protocol in front of this proxy: the direct peer is the remote address.
            Map.entry("DOWNSTREAM_DIRECT_REMOTE_ADDRESS", d -> address(d.downstreamRemoteAddress)),
            Map.entry("DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", d -> host(d.downstreamRemoteAddress)),
            Map.entry("DOWNSTREAM_LOCAL_ADDRESS", d -> address(d.downstreamLocalAddress)),
            Map.entry("DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", d -> host(d.downstreamLocalAddress)),
            Map.entry("DOWNSTREAM_LOCAL_PORT", d -> port(d.downstreamLocalAddress)),
            Map.entry("DOWNSTREAM_PEER_URI_SAN", d -> d.downstreamPeerUriSan),
            Map.entry("UPSTREAM_PEER_URI_SAN", d -> d.upstreamPeerUriSan),
            Map.entry("REQUESTED_SERVER_NAME", d -> d.requestedServerName),
            Map.entry("HOSTNAME", d -> Host.NAME),
            Map.entry("TRACE_ID", d -> traceId(d.traceparent)));

    private final String text;
    private final Function<AccessLogData, Object> value;
    private final int maxLength;

    private CommandOperator(String text, Function<AccessLogData, Object> value, int maxLength) {
        this.text = text;
        this.value = value;
        this.maxLength = maxLength;
    }

    /**
     * The operator {@code name} with its argument ({@code null} when none) and {@code :Z}
     * ({@code -1} when none).
     *
     * @throws IllegalArgumentException an unknown or unsupported operator, or a bad argument
     */
    static CommandOperator of(String name, String arg, int maxLength) {
        String text = "%" + name + (arg == null ? "" : "(" + arg + ")") + (maxLength < 0 ? "" : ":" + maxLength) + "%";
        Function<AccessLogData, Object> f = PLAIN.get(name);
        if (f != null) {
            if (arg != null) {
                throw new IllegalArgumentException(text + ": " + name + " takes no argument");
            }
            return new CommandOperator(text, f, maxLength);
        }
        switch (name) {
            case "REQ", "REQUEST_HEADER", "RESP", "RESPONSE_HEADER" -> {
                boolean request = name.startsWith("REQ");
                if (arg == null || arg.isEmpty()) {
                    throw new IllegalArgumentException(text + ": " + name + " needs a header, e.g. " + name
                            + "(USER-AGENT)");
                }
                int q = arg.indexOf('?');
                String first = (q < 0 ? arg : arg.substring(0, q)).toLowerCase(Locale.ROOT);
                String alternative = q < 0 ? null : arg.substring(q + 1).toLowerCase(Locale.ROOT);
                if (first.isEmpty() || (alternative != null && (alternative.isEmpty() || alternative.indexOf('?') >= 0))) {
                    throw new IllegalArgumentException(text + ": \"" + arg + "\" (expected: HEADER or HEADER?ALTERNATIVE)");
                }
                return new CommandOperator(text, d -> {
                    String v = header(d, request, first);
                    return v == null && alternative != null ? header(d, request, alternative) : v;
                }, maxLength);
            }
            case "START_TIME" -> {
                Strftime format = Strftime.of(arg == null || arg.isEmpty() ? Strftime.ENVOY_DEFAULT : arg);
                return new CommandOperator(text, d -> format.format(d.start), maxLength);
            }
            case "ENVIRONMENT" -> {
                if (arg == null || arg.isEmpty()) {
                    throw new IllegalArgumentException(text + ": ENVIRONMENT needs a variable name");
                }
                String v = System.getenv(arg); // read once: the environment does not change
                return new CommandOperator(text, d -> v, maxLength);
            }
            default -> {
                if (UNSUPPORTED.contains(name)) {
                    throw new IllegalArgumentException(text + ": command operator " + name
                            + " is not supported by this proxy");
                }
                throw new IllegalArgumentException(text + ": unknown command operator " + name);
            }
        }
    }

    /** The value ({@link String}, {@link Long} or {@code null}), truncated to {@code :Z}. */
    Object value(AccessLogData d) {
        Object v = value.apply(d);
        if (maxLength >= 0 && v instanceof String s && s.length() > maxLength) {
            return s.substring(0, maxLength);
        }
        return v;
    }

    @Override
    public String toString() {
        return text;
    }

    private static String header(AccessLogData d, boolean request, String name) {
        if (name.startsWith(":")) {
            return switch (name) {
                case ":method" -> request ? d.method : null;
                case ":path" -> request ? d.path : null;
                case ":authority" -> request ? d.authority : null;
                case ":scheme" -> request ? d.scheme : null;
                case ":status" -> request || d.responseCode == 0 ? null : Integer.toString(d.responseCode);
                default -> null;
            };
        }
        HttpHeaders h = request ? d.requestHeaders : d.responseHeaders;
        if (request && name.equals("host")) {
            return d.authority; // HTTP/1.1's Host is HTTP/2's :authority
        }
        return h.get(name);
    }

    private static String address(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? null : NetUtil.toSocketAddressString(a);
    }

    private static String host(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? null : NetUtil.toAddressString(a.getAddress());
    }

    private static Object port(InetSocketAddress a) {
        return a == null ? null : (Object) (long) a.getPort();
    }

    private static String traceId(String traceparent) {
        // 00-<32 hex trace id>-<16 hex span id>-<flags>
        if (traceparent == null || traceparent.length() < 55 || traceparent.charAt(2) != '-') {
            return null;
        }
        return traceparent.substring(3, 35);
    }

    /** This machine's host name, resolved once ({@code %HOSTNAME%}). */
    private static final class Host {
        static final String NAME = resolve();

        private static String resolve() {
            String env = System.getenv("HOSTNAME");
            if (env != null && !env.isEmpty()) {
                return env;
            }
            try {
                return java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                return null;
            }
        }
    }

    /**
     * {@code START_TIME}'s format: strftime's specifiers Envoy documents ({@code %Y %m %d %H %M
     * %S %z %s %j %a %b %e %F %T %%}, fractions {@code %f} / {@code %1f}-{@code %9f} and
     * {@code %E3S}-style seconds with decimals), in UTC; other text as written.
     */
    static final class Strftime {
        /** Envoy's default: ISO 8601 in UTC with milliseconds. */
        static final String ENVOY_DEFAULT = "%Y-%m-%dT%H:%M:%E3SZ";

        private final String pattern;

        private Strftime(String pattern) {
            this.pattern = pattern;
        }

        static Strftime of(String pattern) {
            return new Strftime(pattern);
        }

        String format(Instant t) {
            ZonedDateTime z = t.atZone(ZoneOffset.UTC);
            StringBuilder b = new StringBuilder(pattern.length() + 16);
            for (int i = 0; i < pattern.length(); i++) {
                char c = pattern.charAt(i);
                if (c != '%' || i + 1 == pattern.length()) {
                    b.append(c);
                    continue;
                }
                char s = pattern.charAt(++i);
                switch (s) {
                    case 'Y' -> b.append(z.getYear());
                    case 'm' -> pad(b, z.getMonthValue(), 2);
                    case 'd' -> pad(b, z.getDayOfMonth(), 2);
                    case 'e' -> b.append(z.getDayOfMonth() < 10 ? " " : "").append(z.getDayOfMonth());
                    case 'H' -> pad(b, z.getHour(), 2);
                    case 'M' -> pad(b, z.getMinute(), 2);
                    case 'S' -> pad(b, z.getSecond(), 2);
                    case 'j' -> pad(b, z.getDayOfYear(), 3);
                    case 'z' -> b.append("+0000");
                    case 'Z' -> b.append("UTC");
                    case 's' -> b.append(t.getEpochSecond());
                    case 'a' -> b.append(z.getDayOfWeek().getDisplayName(java.time.format.TextStyle.SHORT, Locale.ROOT));
                    case 'b' -> b.append(z.getMonth().getDisplayName(java.time.format.TextStyle.SHORT, Locale.ROOT));
                    case 'F' -> b.append(z.getYear()).append('-').append(two(z.getMonthValue())).append('-')
                            .append(two(z.getDayOfMonth()));
                    case 'T' -> b.append(two(z.getHour())).append(':').append(two(z.getMinute())).append(':')
                            .append(two(z.getSecond()));
                    case 'f' -> fraction(b, t.getNano(), 9);
                    case '%' -> b.append('%');
                    default -> {
                        if (s >= '1' && s <= '9' && i + 1 < pattern.length() && pattern.charAt(i + 1) == 'f') {
                            fraction(b, t.getNano(), s - '0');
                            i++;
                        } else if (s == 'E' && i + 2 < pattern.length() && Character.isDigit(pattern.charAt(i + 1))
                                && pattern.charAt(i + 2) == 'S') {
                            pad(b, z.getSecond(), 2);
                            int digits = pattern.charAt(i + 1) - '0';
                            if (digits > 0) {
                                b.append('.');
                                fraction(b, t.getNano(), digits);
                            }
                            i += 2;
                        } else {
                            b.append('%').append(s);
                        }
                    }
                }
            }
            return b.toString();
        }

        private static String two(int v) {
            return v < 10 ? "0" + v : Integer.toString(v);
        }

        private static void pad(StringBuilder b, int v, int width) {
            String s = Integer.toString(v);
            b.append("0".repeat(Math.max(0, width - s.length()))).append(s);
        }

        private static void fraction(StringBuilder b, int nanos, int digits) {
            String s = Integer.toString(nanos);
            s = "0".repeat(9 - s.length()) + s;
            b.append(s, 0, Math.min(9, digits));
        }
    }
}
