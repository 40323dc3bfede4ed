package dev.ambit.common.metrics;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleSupplier;

/** A value that goes up and down, set directly or read from a supplier when scraped. */
public final class Gauge {

    private final AtomicLong bits = new AtomicLong(Double.doubleToLongBits(0));
    private volatile DoubleSupplier supplier;

    Gauge() {}

    public void set(double v) {
        bits.set(Double.doubleToLongBits(v));
    }

    public void inc() {
        add(1);
    }

    public void dec() {
        add(-1);
    }

    public void add(double delta) {
        bits.getAndUpdate(b -> Double.doubleToLongBits(Double.longBitsToDouble(b) + delta));
    }

    /** From now on the value is whatever {@code source} returns at scrape time. */
    public void bind(DoubleSupplier source) {
        this.supplier = source;
    }

    public double get() {
        DoubleSupplier s = supplier;
        return s != null ? s.getAsDouble() : Double.longBitsToDouble(bits.get());
    }

    /** Gauge family: one gauge per label-value combination. */
    public static final class Family extends MetricsRegistry.Family<Gauge> {
        Family(String name, String help, String[] labelNames) {
            super(name, help, "gauge", labelNames);
        }

        @Override
        Gauge newChild() {
            return new Gauge();
        }

        /** Drops the child for these label values (a client that went away). */
        public void remove(String... values) {
            children.remove(java.util.List.of(values));
        }

        @Override
        void writeChild(StringBuilder out, java.util.List<String> labelValues, Gauge child) {
            out.append(name).append(labelText(labelValues, null, null)).append(' ').append(MetricsRegistry.format(child.get())).append('\n');
        }
    }
}
