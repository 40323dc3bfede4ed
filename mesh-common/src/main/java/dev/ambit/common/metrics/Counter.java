package dev.ambit.common.metrics;

import java.util.concurrent.atomic.DoubleAdder;

/** A monotonically increasing value. */
public final class Counter {

    private final DoubleAdder value = new DoubleAdder();

    Counter() {}

    public void inc() {
        value.add(1);
    }

    public void inc(double amount) {
        if (amount < 0) {
            throw new IllegalArgumentException("amount: " + amount + " (expected: >= 0, counters only go up)");
        }
        value.add(amount);
    }

    public double get() {
        return value.sum();
    }

    /** Counter family: one counter per label-value combination. */
    public static final class Family extends MetricsRegistry.Family<Counter> {
        Family(String name, String help, String[] labelNames) {
            super(name, help, "counter", labelNames);
        }

        @Override
        Counter newChild() {
            return new Counter();
        }

        @Override
        void writeChild(StringBuilder out, java.util.List<String> labelValues, Counter child) {
            out.append(name).append(labelText(labelValues, null, null)).append(' ').append(MetricsRegistry.format(child.get())).append('\n');
        }
    }
}
