package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import org.junit.jupiter.api.Test;

class LimitsTest {

    @Test
    void envoysDefaultsWhenTheHttpConnectionManagerSetsNothing() {
        Limits l = Limits.of(HttpConnectionManager.getDefaultInstance(), 1 << 20);
        assertThat(l.maxRequestHeadersBytes()).isEqualTo(60 * 1024);
        assertThat(l.maxHeadersCount()).isEqualTo(100);
        assertThat(l.underscores()).isEqualTo(HttpProtocolOptions.HeadersWithUnderscoresAction.ALLOW);
        assertThat(l.streamIdleTimeout()).isEqualTo(java.time.Duration.ofMinutes(5));
        assertThat(l.idleTimeout()).isEqualTo(java.time.Duration.ofHours(1));
        assertThat(l.requestHeadersTimeout()).isZero();
        assertThat(l.requestTimeout()).isZero();
        assertThat(l.maxConnectionDuration()).isZero();
        assertThat(l.maxConcurrentStreams()).isEqualTo(Integer.MAX_VALUE);
        assertThat(l.maxOutboundControlFrames()).isEqualTo(1000);
        assertThat(l.maxConsecutiveEmptyFrames()).isEqualTo(1);
    }

    @Test
    void whatTheHttpConnectionManagerSetsWinsAndZeroTurnsATimeoutOff() {
        Limits l = Limits.of(HttpConnectionManager.newBuilder().setMaxRequestHeadersKb(UInt32Value.of(8))
                .setStreamIdleTimeout(Duration.getDefaultInstance())
                .setCommonHttpProtocolOptions(HttpProtocolOptions.newBuilder().setMaxHeadersCount(UInt32Value.of(7))
                        .setIdleTimeout(Duration.newBuilder().setSeconds(9)))
                .setHttp2ProtocolOptions(Http2ProtocolOptions.newBuilder().setMaxConcurrentStreams(UInt32Value.of(3))
                        .setInitialStreamWindowSize(UInt32Value.of(1)))
                .build(), 64);
        assertThat(l.maxRequestHeadersBytes()).isEqualTo(8 * 1024);
        assertThat(l.maxHeadersCount()).isEqualTo(7);
        assertThat(l.streamIdleTimeout()).isZero();
        assertThat(l.idleTimeout()).isEqualTo(java.time.Duration.ofSeconds(9));
        assertThat(l.maxConcurrentStreams()).isEqualTo(3);
        assertThat(l.initialStreamWindowSize()).isEqualTo(65_535); // Envoy's lower bound
        assertThat(l.maxRequestBytes()).isEqualTo(64);
    }
}
