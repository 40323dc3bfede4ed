package dev.ambit.testing;

import dev.ambit.common.metrics.MetricsRegistry;

/** Reads a registry's scrape the way a Prometheus query would, for assertions. */
public final class MetricSamples {

    private MetricSamples() {}

    /** The sum of the samples of {@code name} whose labels include every given name/value pair. */
    public static double sum(MetricsRegistry metrics, String name, String... pairs) {
        double sum = 0;
        for (String line : metrics.scrape().split("\n")) {
            if (!line.startsWith(name + "{")) {
                continue;
            }
            boolean all = true;
            for (int i = 0; i < pairs.length; i += 2) {
                all &= line.contains(pairs[i] + "=\"" + pairs[i + 1] + "\"");
            }
            if (all) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }
}
