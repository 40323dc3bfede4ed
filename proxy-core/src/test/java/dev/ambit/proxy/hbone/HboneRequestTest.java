package dev.ambit.proxy.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HboneRequestTest {

    @ParameterizedTest
    @CsvSource({
            "10.0.2.5:8080, 10.0.2.5, 8080",
            "127.0.0.1:1, 127.0.0.1, 1",
            "0.0.0.0:65535, 0.0.0.0, 65535",
            "[fd00::5]:8080, fd00::5, 8080",
            "[::ffff:10.0.2.5]:80, 10.0.2.5, 80", // IPv4-mapped: Java maps it to the IPv4 address
    })
    void parsesIpAuthorities(String authority, String ip, int port) throws Exception {
        assertThat(HboneRequest.parseAuthority(authority))
                .isEqualTo(new InetSocketAddress(InetAddress.getByName(ip), port));
    }

    @Test
    void refusesNamesWithoutResolvingThem() {
        // "localhost" would resolve; a parser that resolved would return an address.
        assertThat(HboneRequest.parseAuthority("localhost:80")).isNull();
        assertThat(HboneRequest.parseAuthority(null)).isNull();
    }

    @Test
    void authorityIsCanonical() throws Exception {
        assertThat(HboneRequest.of(new InetSocketAddress(InetAddress.getByName("fd00:0:0::5"), 80)).authority())
                .isEqualTo("[fd00::5]:80");
        assertThat(HboneRequest.of(new InetSocketAddress(InetAddress.getByName("10.0.2.5"), 8080)).authority())
                .isEqualTo("10.0.2.5:8080");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "for=192.0.2.60;proto=http;by=203.0.113.43 | 192.0.2.60",
            "For=\"[2001:db8:cafe::17]:4711\" | 2001:db8:cafe::17",
            "for=\"192.0.2.43:47011\", for=198.51.100.17 | 192.0.2.43",
            "proto=https; for=unknown | unknown",
            "by=10.0.0.1 | ",
    })
    void forwardedForIsTheFirstForParameter(String header, String expected) throws Exception {
        InetSocketAddress dst = new InetSocketAddress(InetAddress.getByName("10.0.2.5"), 80);
        assertThat(new HboneRequest(dst, header, null, null).forwardedFor()).isEqualTo(expected);
    }

    @Test
    void clientHeadersAreAPlainConnect() throws Exception {
        HboneRequest request = HboneRequest.builder(new InetSocketAddress(InetAddress.getByName("10.0.2.5"), 8080))
                .forwardedFor(InetAddress.getByName("10.0.1.7")).baggage("a=b").traceparent("00-x-y-01").build();
        Http2Headers h = HboneClient.headers(request);
        assertThat(h.method()).hasToString("CONNECT");
        assertThat(h.authority()).hasToString("10.0.2.5:8080");
        assertThat(h.scheme()).isNull();
        assertThat(h.path()).isNull();
        assertThat(h.get("forwarded")).hasToString("for=10.0.1.7");
        assertThat(h.get("baggage")).hasToString("a=b");
        assertThat(h.get("traceparent")).hasToString("00-x-y-01");
        assertThat(h.size()).isEqualTo(5);
    }

    @Test
    void validatesDestination() {
        assertThatThrownBy(() -> HboneRequest.of(InetSocketAddress.createUnresolved("backend", 80)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected: an IP address and port");
        assertThatThrownBy(() -> HboneRequest.of(null))
                .isInstanceOf(NullPointerException.class).hasMessage("destination");
    }
}
