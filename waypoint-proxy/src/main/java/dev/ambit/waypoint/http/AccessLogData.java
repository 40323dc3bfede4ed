package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetSocketAddress;
import java.time.Instant;

/**
 * What Envoy's access-log command operators read of one finished request ({@link AccessLogFormat}):
 * plain values copied from the exchange when the request ends, so the formatter needs neither the
 * exchange nor the connection. A value left unset is one the proxy does not have (rendered
 * {@code -} in text, {@code null} in JSON, as Envoy renders it). Not thread-safe; one per line.
 */
public final class AccessLogData {

    Instant start = Instant.EPOCH;
    HttpHeaders requestHeaders = EmptyHttpHeaders.INSTANCE;
    HttpHeaders responseHeaders = EmptyHttpHeaders.INSTANCE;
    String method;
    String path;
    String authority;
    String scheme;
    String protocol;
    int responseCode;
    String responseFlags = "-";
    String responseCodeDetails;
    String connectionTerminationDetails;
    String upstreamTransportFailureReason;
    long bytesReceived;
    long bytesSent;
    long durationNanos;
    InetSocketAddress upstreamHost;
    InetSocketAddress upstreamLocalAddress;
    String upstreamCluster;
    int attempts;
    String routeName;
    InetSocketAddress downstreamRemoteAddress;
    InetSocketAddress downstreamLocalAddress;
    String downstreamPeerUriSan;
    String upstreamPeerUriSan;
    String requestedServerName;
    String traceparent;

    private AccessLogData() {}

    public static AccessLogData builder() {
        return new AccessLogData();
    }

    public AccessLogData start(Instant start) {
        this.start = requireNonNull(start, "start");
        return this;
    }

    /** The request's headers as forwarded ({@code :method}, {@code :path}, {@code :authority} come from {@link #request}). */
    public AccessLogData requestHeaders(HttpHeaders headers) {
        this.requestHeaders = headers == null ? EmptyHttpHeaders.INSTANCE : headers;
        return this;
    }

    public AccessLogData responseHeaders(HttpHeaders headers) {
        this.responseHeaders = headers == null ? EmptyHttpHeaders.INSTANCE : headers;
        return this;
    }

    /** The request line: Envoy's {@code :method}, {@code :path}, {@code :authority}, {@code :scheme}. */
    public AccessLogData request(String method, String path, String authority, String scheme) {
        this.method = method;
        this.path = path;
        this.authority = authority;
        this.scheme = scheme;
        return this;
    }

    public AccessLogData protocol(String protocol) {
        this.protocol = protocol;
        return this;
    }

    /** Status sent (0: none was), flags in Envoy's short form ({@code -} when none), details. */
    public AccessLogData response(int code, String flags, String details) {
        this.responseCode = code;
        this.responseFlags = flags == null || flags.isEmpty() ? "-" : flags;
        this.responseCodeDetails = details;
        return this;
    }

    public AccessLogData connectionTerminationDetails(String details) {
        this.connectionTerminationDetails = details;
        return this;
    }

    public AccessLogData upstreamTransportFailureReason(String reason) {
        this.upstreamTransportFailureReason = reason;
        return this;
    }

    /** Body bytes received from the client and sent to it. */
    public AccessLogData bytes(long received, long sent) {
        this.bytesReceived = received;
        this.bytesSent = sent;
        return this;
    }

    public AccessLogData durationNanos(long nanos) {
        this.durationNanos = nanos;
        return this;
    }

    public AccessLogData upstream(InetSocketAddress host, String cluster, int attempts) {
        this.upstreamHost = host;
        this.upstreamCluster = cluster;
        this.attempts = attempts;
        return this;
    }

    public AccessLogData upstreamLocalAddress(InetSocketAddress address) {
        this.upstreamLocalAddress = address;
        return this;
    }

    public AccessLogData routeName(String routeName) {
        this.routeName = routeName;
        return this;
    }

    public AccessLogData downstream(InetSocketAddress remote, InetSocketAddress local) {
        this.downstreamRemoteAddress = remote;
        this.downstreamLocalAddress = local;
        return this;
    }

    /** The URI SANs of the peers' certificates: the client's (proven peer) and the upstream's. */
    public AccessLogData uriSans(String downstreamPeer, String upstreamPeer) {
        this.downstreamPeerUriSan = downstreamPeer;
        this.upstreamPeerUriSan = upstreamPeer;
        return this;
    }

    public AccessLogData requestedServerName(String sni) {
        this.requestedServerName = sni;
        return this;
    }

    /** The W3C {@code traceparent} of the request, for {@code %TRACE_ID%}. */
    public AccessLogData traceparent(String traceparent) {
        this.traceparent = traceparent;
        return this;
    }
}
