package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.JsonFormatOptions;
import io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import java.net.InetSocketAddress;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Envoy's command operators as the waypoint's and gateway's file access log renders them (issue 19). */
class AccessLogFormatTest {

    /** Istio's default text format (MeshConfig {@code accessLogEncoding: TEXT} without a format). */
    static final String ISTIO_TEXT = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
            + "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
            + "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
            + "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
            + "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% "
            + "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
            + "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

    static AccessLogData data() {
        DefaultHttpHeaders req = new DefaultHttpHeaders();
        req.add("User-Agent", "curl/8.5.0").add("x-request-id", "r-1").add("x-envoy-original-path", "/orig");
        DefaultHttpHeaders resp = new DefaultHttpHeaders();
        resp.add("x-envoy-upstream-service-time", "3").add("content-type", "text/plain");
        return AccessLogData.builder()
                .start(Instant.parse("2026-12-07T17:01:02.345678901Z"))
                .request("GET", "/status/418?x=1", "httpbin.default:8000", "http")
                .requestHeaders(req)
                .responseHeaders(resp)
                .protocol("HTTP/1.1")
                .response(418, "-", "via_upstream")
                .bytes(12, 135)
                .durationNanos(7_900_000)
                .upstream(new InetSocketAddress("10.0.0.9", 80), "outbound|8000||httpbin.default.svc.cluster.local", 2)
                .routeName("default")
                .downstream(new InetSocketAddress("10.0.0.5", 40000), new InetSocketAddress("10.96.0.7", 8000))
                .uriSans("spiffe://cluster.local/ns/default/sa/sleep", "spiffe://cluster.local/ns/default/sa/httpbin")
                .traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    }

    static FileAccessLog text(String format) {
        return FileAccessLog.newBuilder().setPath("/dev/stdout").setLogFormat(SubstitutionFormatString.newBuilder()
                .setTextFormatSource(DataSource.newBuilder().setInlineString(format))).build();
    }

    static String render(String format) {
        return AccessLogFormat.of(text(format)).render(data());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiterString = "=>", quoteCharacter = '\'', textBlock = """
            %START_TIME%                              => 2026-12-07T17:01:02.345Z
            %START_TIME(%Y/%m/%d %H:%M:%S.%3f %s)%    => 2026/12/07 17:01:02.345 1796662862
            %START_TIME(%F %T %E6S %9f)%              => 2026-12-07 17:01:02 02.345678 345678901
            %REQ(:METHOD)% %REQ(:PATH)% %REQ(:AUTHORITY)% %REQ(:SCHEME)% => GET /status/418?x=1 httpbin.default:8000 http
            %REQ(USER-AGENT)%                         => curl/8.5.0
            %REQUEST_HEADER(user-agent)%              => curl/8.5.0
            %REQ(HOST)%                               => httpbin.default:8000
            %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%        => /orig
            %REQ(X-MISSING?:PATH)%                    => /status/418?x=1
            %REQ(X-MISSING)%                          => -
            %REQ(USER-AGENT):4%                       => curl
            %REQ(:PATH):7%                            => /status
            %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%     => 3
            %RESPONSE_HEADER(content-type)%           => text/plain
            %RESP(:STATUS)%                           => 418
            %RESP(X-MISSING)%                         => -
            %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% => 418 - via_upstream
            %CONNECTION_TERMINATION_DETAILS% %UPSTREAM_TRANSPORT_FAILURE_REASON% => - -
            %BYTES_RECEIVED% %BYTES_SENT% %DURATION%  => 12 135 7
            %UPSTREAM_HOST% %UPSTREAM_CLUSTER%        => 10.0.0.9:80 outbound|8000||httpbin.default.svc.cluster.local
            %UPSTREAM_CLUSTER_RAW%                    => outbound|8000||httpbin.default.svc.cluster.local
            %UPSTREAM_LOCAL_ADDRESS%                  => -
            %UPSTREAM_REQUEST_ATTEMPT_COUNT%          => 2
            %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT% => 10.0.0.5:40000 10.0.0.5 40000
            %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT% => 10.96.0.7:8000 10.96.0.7 8000
            %DOWNSTREAM_PEER_URI_SAN%                 => spiffe://cluster.local/ns/default/sa/sleep
            %UPSTREAM_PEER_URI_SAN%                   => spiffe://cluster.local/ns/default/sa/httpbin
            %REQUESTED_SERVER_NAME%                   => -
            %PROTOCOL% %ROUTE_NAME%                   => HTTP/1.1 default
            %TRACE_ID%                                => 0af7651916cd43dd8448eb211c80319c
            '100 %% literal'                          => 100 % literal
            """)
    void operators(String format, String expected) {
        assertThat(render(format)).isEqualTo(expected);
    }

    @Test
    void istioDefaultTextFormatRendersOneLine() {
        assertThat(render(ISTIO_TEXT)).isEqualTo("[2026-12-07T17:01:02.345Z] \"GET /orig HTTP/1.1\" 418 - via_upstream - "
                + "\"-\" 12 135 7 3 \"-\" \"curl/8.5.0\" \"r-1\" \"httpbin.default:8000\" \"10.0.0.9:80\" "
                + "outbound|8000||httpbin.default.svc.cluster.local - 10.96.0.7:8000 10.0.0.5:40000 - default");
    }

    @Test
    void jsonKeepsOperatorTypesAndOrderAndMissingIsNull() {
        Struct labels = Struct.newBuilder()
                .putFields("method", str("%REQ(:METHOD)%"))
                .putFields("code", str("%RESPONSE_CODE%"))
                .putFields("bytes", str("%BYTES_SENT%"))
                .putFields("agent", str("%REQ(USER-AGENT):4%"))
                .putFields("missing", str("%REQ(X-NONE)%"))
                .putFields("mixed", str("%REQ(:METHOD)% %REQ(X-NONE)% %RESPONSE_CODE%"))
                .putFields("peer", Value.newBuilder().setStructValue(Struct.newBuilder()
                        .putFields("san", str("%DOWNSTREAM_PEER_URI_SAN%"))).build())
                .build();
        FileAccessLog log = FileAccessLog.newBuilder().setPath("/dev/stdout").setLogFormat(SubstitutionFormatString
                .newBuilder().setJsonFormat(labels)).build();
        assertThat(AccessLogFormat.of(log).render(data())).isEqualTo("{\"method\":\"GET\",\"code\":418,\"bytes\":135,"
                + "\"agent\":\"curl\",\"missing\":null,\"mixed\":\"GET - 418\","
                + "\"peer\":{\"san\":\"spiffe://cluster.local/ns/default/sa/sleep\"}}");
        FileAccessLog sortedOmitting = log.toBuilder().setLogFormat(log.getLogFormat().toBuilder()
                .setOmitEmptyValues(true).setJsonFormatOptions(JsonFormatOptions.newBuilder().setSortProperties(true)))
                .build();
        assertThat(AccessLogFormat.of(sortedOmitting).render(data())).isEqualTo("{\"agent\":\"curl\",\"bytes\":135,"
                + "\"code\":418,\"method\":\"GET\",\"mixed\":\"GET  418\","
                + "\"peer\":{\"san\":\"spiffe://cluster.local/ns/default/sa/sleep\"}}");
    }

    @Test
    void noLogFormatMeansTheProxysOwnLineAndOmitEmptyLeavesNothingInText() {
        assertThat(AccessLogFormat.of(FileAccessLog.newBuilder().setPath("/dev/stdout").build())).isNull();
        FileAccessLog omit = FileAccessLog.newBuilder().setPath("/dev/stdout").setLogFormat(SubstitutionFormatString
                .newBuilder().setTextFormat("[%REQ(X-NONE)%]").setOmitEmptyValues(true)).build();
        assertThat(AccessLogFormat.of(omit).render(data())).isEqualTo("[]");
    }

    @Test
    void whatEnvoyRejectsIsRejectedNamingTheOperator() {
        assertThatThrownBy(() -> render("%START_TIME% %NOT_AN_OPERATOR%"))
                .hasMessage("log_format.text_format_source.inline_string: %NOT_AN_OPERATOR%: unknown command "
                        + "operator NOT_AN_OPERATOR");
        assertThatThrownBy(() -> render("%DYNAMIC_METADATA(istio.mixer:status)%"))
                .hasMessageContaining("command operator DYNAMIC_METADATA is not supported by this proxy");
        assertThatThrownBy(() -> render("%REQ%")).hasMessageContaining("%REQ%: REQ needs a header");
        assertThatThrownBy(() -> render("%REQ(A?B?C)%")).hasMessageContaining("(expected: HEADER or HEADER?ALTERNATIVE)");
        assertThatThrownBy(() -> render("%DURATION(x)%")).hasMessageContaining("DURATION takes no argument");
        assertThatThrownBy(() -> render("100% done")).hasMessageContaining("no valid command operator at position 3");
        FileAccessLog badJson = FileAccessLog.newBuilder().setPath("/dev/stdout").setLogFormat(SubstitutionFormatString
                .newBuilder().setJsonFormat(Struct.newBuilder().putFields("code", str("%RESPONSE_CODEX%")))).build();
        assertThatThrownBy(() -> AccessLogFormat.of(badJson)).hasMessage("log_format.json_format[\"code\"]: "
                + "%RESPONSE_CODEX%: unknown command operator RESPONSE_CODEX");
    }

    private static Value str(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }
}
