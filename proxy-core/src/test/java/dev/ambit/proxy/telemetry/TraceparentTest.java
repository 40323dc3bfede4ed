package dev.ambit.proxy.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

class TraceparentTest {

    @Test
    void isAVersion00UnsampledContext() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            String t = Traceparent.random();
            assertThat(t).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
            seen.add(t);
        }
        assertThat(seen).hasSize(100);
    }

    @Test
    void padsAndNeverUsesAllZeroIds() {
        // Trace id: (0, 0) is drawn first and skipped; the span id 0 is skipped too.
        long[] draws = {0, 0, 0, 1, 0, 0xabcL};
        RandomGenerator scripted = new RandomGenerator() {
            int next;

            @Override
            public long nextLong() {
                return draws[next++];
            }
        };
        assertThat(Traceparent.random(scripted))
                .isEqualTo("00-00000000000000000000000000000001-0000000000000abc-00");
    }

    @Test
    void traceIdOfAHeaderOrNullWhenAbsentOrMalformed() {
        assertThat(Traceparent.traceId("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"))
                .isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(Traceparent.traceId(null)).isNull();
        assertThat(Traceparent.traceId("00-00000000000000000000000000000000-00f067aa0ba902b7-01")).isNull();
        assertThat(Traceparent.traceId("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7")).isNull();
        assertThat(Traceparent.traceId("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).isNull();
        String random = Traceparent.random();
        assertThat(Traceparent.traceId(random)).isEqualTo(random.substring(3, 35));
    }
}
