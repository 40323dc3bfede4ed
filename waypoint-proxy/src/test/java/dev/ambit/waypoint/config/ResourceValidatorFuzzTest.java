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
}
