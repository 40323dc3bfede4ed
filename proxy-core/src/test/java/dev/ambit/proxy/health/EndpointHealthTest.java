package dev.ambit.proxy.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class EndpointHealthTest {

    private static final EndpointHealth.Key A = key("a", "10.0.0.1");
    private static final EndpointHealth.Key B = key("b", "10.0.0.2");

    /** A clock that only moves when told; starts far from 0 so wrap-around arithmetic is exercised. */
    private final AtomicLong now = new AtomicLong(Long.MAX_VALUE - Duration.ofMinutes(1).toNanos());
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final EndpointHealth health = EndpointHealth.builder()
            .baseEjectionTime(Duration.ofSeconds(5))
            .maxEjectionTime(Duration.ofSeconds(12))
            .nanoTime(now::get)
            .metrics(metrics)
            .build();

    @Test
    void aFailedConnectEjectsForTheBaseTimeThenTheEndpointReturnsOnItsOwn() {
        assertThat(health.isEjected(A)).isFalse();
        assertThat(health.failed(A, "connect")).as("ejected by the first failure").isTrue();
        assertThat(health.isEjected(A)).isTrue();
        assertThat(health.isEjected(B)).as("another endpoint").isFalse();
        assertThat(metrics.value(EndpointHealth.EJECTED)).isEqualTo(1);
        assertThat(metrics.value(EndpointHealth.EJECTIONS, "connect")).isEqualTo(1);

        advance(4_999);
        assertThat(health.isEjected(A)).isTrue();
        // A connection that was already on its way fails too: no second ejection, no longer one.
        assertThat(health.failed(A, "connect")).isFalse();
        assertThat(metrics.value(EndpointHealth.EJECTIONS, "connect")).isEqualTo(1);
        advance(1);
        assertThat(health.isEjected(A)).as("back after 5 s").isFalse();
        assertThat(metrics.value(EndpointHealth.EJECTED)).isZero();
    }

    @Test
    void repeatedEjectionsGrowByTheBaseTimeUpToTheCap() {
        health.failed(A, "connect");
        advance(5_000);
        health.failed(A, "handshake"); // back, and failing again at once: 2 × 5 s
        advance(9_999);
        assertThat(health.isEjected(A)).isTrue();
        advance(1);
        assertThat(health.isEjected(A)).isFalse();
        health.failed(A, "connect"); // 3 × 5 s = 15 s, capped at 12 s
        advance(11_999);
        assertThat(health.isEjected(A)).isTrue();
        advance(1);
        assertThat(health.isEjected(A)).isFalse();
        health.failed(A, "connect"); // still capped
        assertThat(health.statuses().getFirst().ejectedForMillis()).isEqualTo(12_000);
        assertThat(health.statuses().getFirst().ejections()).isEqualTo(4);
        assertThat(metrics.value(EndpointHealth.EJECTIONS, "connect")).isEqualTo(3);
        assertThat(metrics.value(EndpointHealth.EJECTIONS, "handshake")).isEqualTo(1);
    }

    @Test
    void theGrowthDecaysWhileTheEndpointStaysBack() {
        health.failed(A, "connect");
        advance(5_000);
        health.failed(A, "connect"); // second ejection: 10 s
        advance(10_000);
        // Back for two base times (10 s) without failing: the multiplier loses two steps.
        advance(10_000);
        health.failed(A, "connect");
        assertThat(health.statuses().getFirst().ejectedForMillis()).as("a first ejection again").isEqualTo(5_000);
    }

    @Test
    void successEndsARunOfFailuresBelowTheThreshold() {
        EndpointHealth three = EndpointHealth.builder().consecutiveFailures(3).nanoTime(now::get).build();
        assertThat(three.failed(A, "connect")).isFalse();
        assertThat(three.failed(A, "connect")).isFalse();
        three.succeeded(A);
        assertThat(three.failed(A, "connect")).isFalse();
        assertThat(three.failed(A, "connect")).isFalse();
        assertThat(three.isEjected(A)).isFalse();
        assertThat(three.failed(A, "connect")).as("the third in a row").isTrue();
        assertThat(three.isEjected(A)).isTrue();
    }

    @Test
    void everyEndpointEjectedIsReportedSoTheCallerCanPanic() {
        health.failed(A, "connect");
        health.failed(B, "no_answer");
        // The tracker only answers: Outbound then tries the ejected endpoints anyway (panic).
        assertThat(health.isEjected(A)).isTrue();
        assertThat(health.isEjected(B)).isTrue();
        assertThat(health.ejectedCount()).isEqualTo(2);
        assertThat(metrics.value(EndpointHealth.EJECTED)).isEqualTo(2);
    }

    @Test
    void configDumpShowsEachEndpointsState() {
        health.failed(B, "connect");
        health.failed(A, "connect");
        advance(5_000);
        JsonWriter json = new JsonWriter();
        health.writeJson(json);
        assertThat(json.toString()).isEqualTo("["
                + "{\"address\":\"10.0.0.1:8080\",\"workload\":\"a\",\"state\":\"healthy\",\"ejected_for_ms\":0,"
                + "\"consecutive_failures\":0,\"ejections\":1,\"failures\":1,\"last_failure\":\"connect\"},"
                + "{\"address\":\"10.0.0.2:8080\",\"workload\":\"b\",\"state\":\"healthy\",\"ejected_for_ms\":0,"
                + "\"consecutive_failures\":0,\"ejections\":1,\"failures\":1,\"last_failure\":\"connect\"}]");
        health.failed(A, "handshake");
        advance(1_000);
        assertThat(health.statuses().getFirst()).satisfies(s -> {
            assertThat(s.ejected()).isTrue();
            assertThat(s.ejectedForMillis()).isEqualTo(9_000);
            assertThat(s.lastFailure()).isEqualTo("handshake");
        });
    }

    @Test
    void forgetsWorkloadsThatLeft() {
        health.failed(A, "connect");
        health.failed(B, "connect");
        health.retainWorkloads(Set.of("b")::contains);
        assertThat(health.statuses()).extracting(EndpointHealth.Status::key).containsExactly(B);
        assertThat(health.isEjected(A)).isFalse();
    }

    @Test
    void rejectsBadSettings() {
        assertThatThrownBy(() -> EndpointHealth.builder().baseEjectionTime(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("baseEjectionTime: PT0S (expected: > 0)");
        assertThatThrownBy(() -> EndpointHealth.builder().baseEjectionTime(Duration.ofSeconds(10))
                .maxEjectionTime(Duration.ofSeconds(5)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("maxEjectionTime: PT5S (expected: >= baseEjectionTime PT10S)");
        assertThatThrownBy(() -> EndpointHealth.builder().consecutiveFailures(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("consecutiveFailures: 0 (expected: >= 1)");
    }

    private void advance(long millis) {
        now.addAndGet(Duration.ofMillis(millis).toNanos());
    }

    private static EndpointHealth.Key key(String uid, String ip) {
        return new EndpointHealth.Key(uid, new InetSocketAddress(ip, 8080));
    }
}
