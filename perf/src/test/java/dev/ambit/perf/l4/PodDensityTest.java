package dev.ambit.perf.l4;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class PodDensityTest {

    @Test
    void theFigureIsTheLeastSquaresSlope() {
        // 120 MiB with one pod, 12 MiB more per 100 pods, with noise of +-1 MiB around the line
        List<double[]> points = List.of(new double[] {0, 121}, new double[] {100, 131}, new double[] {200, 145},
                new double[] {400, 168});
        assertThat(PodDensity.slope(points) * 1000).isBetween(115.0, 125.0);
    }

    @Test
    void oneStepHasNoSlope() {
        assertThat(PodDensity.slope(List.of(new double[] {100, 130}))).isNaN();
    }
}
