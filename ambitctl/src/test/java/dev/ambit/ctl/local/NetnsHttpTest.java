package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class NetnsHttpTest {

    @Test
    void parsesContentLengthAndChunkedBodies() throws Exception {
        NetnsHttp.Response plain = NetnsHttp.parse(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
        assertThat(plain).isEqualTo(new NetnsHttp.Response(200, "ok"));
        NetnsHttp.Response chunked = NetnsHttp.parse(("HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked"
                + "\r\n\r\n4\r\nnot \r\n5\r\nready\r\n0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        assertThat(chunked).isEqualTo(new NetnsHttp.Response(503, "not ready"));
        assertThatThrownBy(() -> NetnsHttp.parse("garbage".getBytes(StandardCharsets.US_ASCII)))
                .hasMessageContaining("not an HTTP response");
    }
}
