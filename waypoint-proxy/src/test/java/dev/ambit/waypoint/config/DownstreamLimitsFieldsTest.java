package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import org.junit.jupiter.api.Test;

/** The HttpConnectionManager's limit fields the waypoint honours (http.Limits) are accepted; others still NACK. */
class DownstreamLimitsFieldsTest {

    static HttpConnectionManager limited() {
        return Resources.hcm(Resources.HTTP_CHAIN).toBuilder()
                .setMaxRequestHeadersKb(UInt32Value.of(32))
                .setRequestHeadersTimeout(Duration.newBuilder().setSeconds(10))
                .setRequestTimeout(Duration.newBuilder().setSeconds(60))
                .setStreamIdleTimeout(Duration.newBuilder().setSeconds(120))
                .setCommonHttpProtocolOptions(HttpProtocolOptions.newBuilder()
                        .setIdleTimeout(Duration.newBuilder().setSeconds(600))
                        .setMaxConnectionDuration(Duration.newBuilder().setSeconds(3600))
                        .setMaxHeadersCount(UInt32Value.of(50))
                        .setHeadersWithUnderscoresAction(HttpProtocolOptions.HeadersWithUnderscoresAction.REJECT_REQUEST))
                .setHttp2ProtocolOptions(Http2ProtocolOptions.newBuilder()
                        .setMaxConcurrentStreams(UInt32Value.of(100))
                        .setInitialStreamWindowSize(UInt32Value.of(1 << 20))
                        .setInitialConnectionWindowSize(UInt32Value.of(1 << 22))
                        .setMaxOutboundControlFrames(UInt32Value.of(500))
                        .setMaxConsecutiveInboundFramesWithEmptyPayload(UInt32Value.of(2)))
                .build();
    }

    private static Listener with(HttpConnectionManager hcm) {
        Listener l = Resources.listener();
        var chain = l.getFilterChains(0).toBuilder().setFilters(0, Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager").setTypedConfig(Any.pack(hcm)));
        return l.toBuilder().setFilterChains(0, chain).build();
    }

    @Test
    void limitFieldsAreHonouredSoAccepted() {
        assertThat(ResourceValidator.validate("waypoint", with(limited()))).isEmpty();
    }

    @Test
    void aLimitTheWaypointDoesNotImplementIsStillNacked() {
        HttpConnectionManager hcm = limited().toBuilder().setHttp2ProtocolOptions(limited().getHttp2ProtocolOptions()
                .toBuilder().setMaxInboundPriorityFramesPerStream(UInt32Value.of(10))).build();
        assertThat(ResourceValidator.validate("waypoint", with(hcm)))
                .anyMatch(p -> p.contains("max_inbound_priority_frames_per_stream"));
    }
}
