package dev.ambit.common.metrics;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;

/** Observations counted into fixed upper-bound buckets, with their sum and count. */
public final class Histogram {

    /** Seconds, from 0.5 ms to 10 s: push latencies, handshakes, requests. */
    public static final double[] LATENCY_SECONDS = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
    };

    private final double[] bounds;
    private final AtomicLongArray counts;
    private final DoubleAdder sum = new DoubleAdder();

    Histogram(double[] bounds) {
        this.bounds = bounds;
        this.counts = new AtomicLongArray(bounds.length + 1);
    }

    public void observe(double v) {
        int i = Arrays.binarySearch(bounds, v);
        int bucket = i >= 0 ? i : -i - 1;
        counts.incrementAndGet(bucket);
        sum.add(v);
    }

    public long count() {
        long n = 0;
        for (int i = 0; i < counts.length(); i++) {
            n += counts.get(i);
        }
        return n;
    }

    public double sum() {
        return sum.sum();
    }

    /** Histogram family: one histogram per label-value combination, same buckets. */
    public static final class Family extends MetricsRegistry.Family<Histogram> {
        private final double[] bounds;

        Family(String name, String help, double[] buckets, String[] labelNames) {
            super(name, help, "histogram", labelNames);
            if (buckets.length == 0) {
                throw new IllegalArgumentException("buckets of " + name + ": none (expected: at least one)");
            }
            for (int i = 1; i < buckets.length; i++) {
                if (buckets[i] <= buckets[i - 1]) {
                    throw new IllegalArgumentException("buckets of " + name + ": " + Arrays.toString(buckets)
                            + " (expected: strictly increasing)");
                }
            }
            this.bounds = buckets.clone();
        }

        @Override
        Histogram newChild() {
            return new Histogram(bounds);
        }

        @Override
        void writeChild(StringBuilder out, List<String> values, Histogram h) {
            String labels = labelText(values, null, null);
            long cumulative = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cumulative += h.counts.get(i);
                String le = i < bounds.length ? MetricsRegistry.format(bounds[i]) : "+Inf";
                out.append(name).append("_bucket").append(labelText(values, "le", le)).append(' ')
                        .append(cumulative).append('\n');
            }
            out.append(name).append("_sum").append(labels).append(' ').append(MetricsRegistry.format(h.sum()))
                    .append('\n');
            out.append(name).append("_count").append(labels).append(' ').append(cumulative).append('\n');
        }

    }
}
