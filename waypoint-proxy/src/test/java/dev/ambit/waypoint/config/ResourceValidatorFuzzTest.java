package dev.ambit.waypoint.config;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import dev.ambit.waypoint.http.RouteTables;
import java.util.Arrays;

/**
 * Coverage-guided fuzzing (Jazzer) of the xDS resource validator: arbitrary Listener and
 * RouteConfiguration bytes. The validator never throws (it NACKs), and whatever it accepts
 * compiles: a Listener into its filter-chain table (or a duplicate match refused by name, as
 * Envoy refuses it), a RouteConfiguration into a WaypointConfig that routes.
 */
class ResourceValidatorFuzzTest {

    @FuzzTest(maxDuration = "2m")
    void xdsResources(byte[] input) {
        if (input.length == 0) {
            return;
        }
        byte[] bytes = Arrays.copyOfRange(input, 1, input.length);
        try {
            if ((input[0] & 1) == 0) {
                Listener listener = Listener.parseFrom(bytes);
                if (ResourceValidator.validate(listener.getName(), listener).isEmpty()) {
                    try {
                        FilterChainTable.compile(listener);
                    } catch (IllegalArgumentException refusedByName) {
                        if (refusedByName.getMessage() == null || !refusedByName.getMessage().contains("expected")) {
                            throw refusedByName;
                        }
                    }
                }
            } else {
                RouteConfiguration rc = RouteConfiguration.parseFrom(bytes);
                if (ResourceValidator.validate(rc.getName(), rc).isEmpty()) {
                    RouteTables.compile(rc);
                }
            }
        } catch (InvalidProtocolBufferException notAMessage) {
            // Not the wire format of either: the xDS client would have failed to unpack it.
        }
    }

    /** The accepted path, deterministically: the resources istiod-lite sends, through the fuzz target. */
    @org.junit.jupiter.api.Test
    void validResourcesPassTheTarget() {
        xdsResources(withSelector(0, Resources.listener().toByteArray()));
        xdsResources(withSelector(0, with(DownstreamLimitsFieldsTest.limited()).toByteArray()));
        xdsResources(withSelector(1, Resources.route().toByteArray()));
        org.assertj.core.api.Assertions.assertThat(ResourceValidator.validate("waypoint", Resources.listener()))
                .isEmpty();
    }

    private static Listener with(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3
                                         .HttpConnectionManager hcm) {
        Listener l = Resources.listener();
        var chain = l.getFilterChains(0).toBuilder().setFilters(0, io.envoyproxy.envoy.config.listener.v3.Filter
                .newBuilder().setName("envoy.filters.network.http_connection_manager")
                .setTypedConfig(com.google.protobuf.Any.pack(hcm)));
        return l.toBuilder().setFilterChains(0, chain).build();
    }

    private static byte[] withSelector(int selector, byte[] message) {
        byte[] out = new byte[message.length + 1];
        out[0] = (byte) selector;
        System.arraycopy(message, 0, out, 1, message.length);
        return out;
    }
}
