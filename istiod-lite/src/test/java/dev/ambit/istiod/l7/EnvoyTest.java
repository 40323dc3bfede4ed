package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import org.junit.jupiter.api.Test;

/** Go-style durations and Istio percentages as Envoy values. */
class EnvoyTest {

    @Test
    void durationsInGoSyntax() {
        assertThat(Envoy.duration("1.5s")).isEqualTo(Duration.newBuilder().setSeconds(1).setNanos(500_000_000).build());
        assertThat(Envoy.duration("250ms")).isEqualTo(Duration.newBuilder().setNanos(250_000_000).build());
        assertThat(Envoy.duration("1m30s")).isEqualTo(Duration.newBuilder().setSeconds(90).build());
        assertThat(Envoy.duration("2h")).isEqualTo(Duration.newBuilder().setSeconds(7200).build());
        assertThat(Envoy.duration("10us")).isEqualTo(Duration.newBuilder().setNanos(10_000).build());
        assertThat(Envoy.duration("0s")).isEqualTo(Duration.getDefaultInstance());
        assertThat(Envoy.duration("1.5")).isNull();
        assertThat(Envoy.duration("-1s")).isNull();
        assertThat(Envoy.duration("1 s")).isNull();
        assertThat(Envoy.duration(null)).isNull();
    }

    @Test
    void wholePercentagesInHundredthsFractionsInMillionths() {
        assertThat(Envoy.percent(10)).isEqualTo(FractionalPercent.newBuilder().setNumerator(10)
                .setDenominator(FractionalPercent.DenominatorType.HUNDRED).build());
        assertThat(Envoy.percent(0.5)).isEqualTo(FractionalPercent.newBuilder().setNumerator(5000)
                .setDenominator(FractionalPercent.DenominatorType.MILLION).build());
        assertThat(Envoy.percent(33.3333)).isEqualTo(FractionalPercent.newBuilder().setNumerator(333_333)
                .setDenominator(FractionalPercent.DenominatorType.MILLION).build());
        assertThat(Envoy.percent(100).getNumerator()).isEqualTo(100);
    }
}
