package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link WaypointStatus}: validation and conditions, without an API server. */
class WaypointStatusTest {

    private static final Instant T0 = Instant.parse("2026-12-06T10:00:00Z");
    private static final Instant T1 = Instant.parse("2026-12-06T11:00:00Z");

    private static Gateway gateway(long generation, int... ports) {
        GatewayBuilder b = new GatewayBuilder().withNewMetadata().withName("wp").withNamespace("ns")
                .withGeneration(generation).endMetadata()
                .withNewSpec().withGatewayClassName("istio-waypoint").endSpec();
        for (int i = 0; i < ports.length; i++) {
            b.editSpec().addNewListener().withName("l" + i).withPort(ports[i])
                    .withProtocol(ports[i] == 15008 ? "HBONE" : "HTTP").endListener().endSpec();
        }
        return b.build();
    }

    private static Condition condition(GatewayStatus s, String type) {
        return s.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }

    @Test
    void oneInvalidListenerBesideTheHboneOneIsReportedButTheGatewayIsAccepted() {
        WaypointStatus.Validation v = WaypointStatus.validate(gateway(1, 15008, 80));

        assertThat(v.accepted()).isTrue();
        assertThat(v.reason()).isEqualTo("ListenersNotValid");
        assertThat(v.message()).contains("spec.listeners[1] (l1): port 80, protocol HTTP");
        assertThat(v.invalidListeners()).containsOnlyKeys(1);
    }

    @Test
    void noListenerAtAllIsNotAccepted() {
        WaypointStatus.Validation v = WaypointStatus.validate(gateway(1));

        assertThat(v.accepted()).isFalse();
        assertThat(v.message()).startsWith("spec.listeners: no listener with port 15008 and protocol HBONE");
    }

    @Test
    void transitionTimeChangesOnlyWithTheConditionsStatus() {
        Gateway gw = gateway(3, 15008);
        WaypointStatus.Validation v = WaypointStatus.validate(gw);
        var pending = new WaypointStatus.Observed(List.of("10.0.0.1"), 0, 1, null);
        GatewayStatus first = WaypointStatus.compute(gw, v, pending, List.of(), "cluster.local", T0);
        assertThat(condition(first, "Programmed").getReason()).isEqualTo("Pending");
        assertThat(condition(first, "Programmed").getMessage())
                .isEqualTo("Deployment ns/wp has no available replica yet (0 of 1 available)");
        assertThat(condition(first, "Accepted").getObservedGeneration()).isEqualTo(3L);

        gw.setStatus(first);
        var ready = new WaypointStatus.Observed(List.of("10.0.0.1"), 1, 1, null);
        GatewayStatus second = WaypointStatus.compute(gw, v, ready, List.of(), "cluster.local", T1);

        assertThat(condition(second, "Accepted").getLastTransitionTime()).isEqualTo("2026-12-06T10:00:00Z");
        assertThat(condition(second, "Programmed").getLastTransitionTime()).isEqualTo("2026-12-06T11:00:00Z");
        assertThat(WaypointStatus.same(first, second)).isFalse();
        gw.setStatus(second);
        assertThat(WaypointStatus.same(second, WaypointStatus.compute(gw, v, ready, List.of(), "cluster.local",
                T1.plusSeconds(60)))).as("recomputed later: nothing to write").isTrue();
    }

    @Test
    void aWriteFailureIsTheProgrammedMessage() {
        Gateway gw = gateway(1, 15008);
        GatewayStatus s = WaypointStatus.compute(gw, WaypointStatus.validate(gw),
                WaypointStatus.Observed.failed("cannot create or update Deployment ns/wp: HTTP 403 forbidden"),
                List.of(), "cluster.local", T0);

        assertThat(condition(s, "Programmed").getStatus()).isEqualTo("False");
        assertThat(condition(s, "Programmed").getMessage()).contains("HTTP 403");
        assertThat(s.getAddresses()).isEmpty();
    }
}
