package dev.ambit.common.metrics;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.DoubleSupplier;
import java.util.regex.Pattern;

/**
 * Metrics of one process, exposed in the Prometheus text format (version 0.0.4).
 *
 * <p>Families are registered once by name; registering the same name again with the
 * same type and labels returns the existing family, so subsystems can register
 * independently. Children per label combination are created on first use and kept.
 */
public final class MetricsRegistry {

    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

    private final Map<String, Family<?>> families = new ConcurrentSkipListMap<>();

    public static MetricsRegistry create() {
        return new MetricsRegistry();
    }

    private MetricsRegistry() {}

    public Counter.Family counter(String name, String help, String... labelNames) {
        return register(name, help, "counter", labelNames, Counter.Family.class,
                () -> new Counter.Family(name, help, labelNames));
    }

    public Gauge.Family gauge(String name, String help, String... labelNames) {
        return register(name, help, "gauge", labelNames, Gauge.Family.class,
                () -> new Gauge.Family(name, help, labelNames));
    }

    /** A gauge whose single value is read when scraped. */
    public void gauge(String name, String help, DoubleSupplier value) {
        requireNonNull(value, "value");
        gauge(name, help).labels().bind(value);
    }

    public Histogram.Family histogram(String name, String help, double[] buckets, String... labelNames) {
        return register(name, help, "histogram", labelNames, Histogram.Family.class,
                () -> new Histogram.Family(name, help, buckets, labelNames));
    }

    private <F extends Family<?>> F register(String name, String help, String type, String[] labelNames,
                                             Class<F> familyType, java.util.function.Supplier<F> factory) {
        requireNonNull(name, "name");
        requireNonNull(help, "help");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("metric name: " + name + " (expected: [a-zA-Z_:][a-zA-Z0-9_:]*)");
        }
        for (String label : labelNames) {
            if (!LABEL.matcher(label).matches() || label.startsWith("__")) {
                throw new IllegalArgumentException("label name: " + label + " of " + name
                        + " (expected: [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
            }
        }
        Family<?> existing = families.computeIfAbsent(name, n -> factory.get());
        if (!familyType.isInstance(existing) || !List.of(existing.labelNames).equals(List.of(labelNames))) {
            throw new IllegalArgumentException("metric " + name + " is already registered as " + existing.type
                    + List.of(existing.labelNames) + " (asked: " + type + List.of(labelNames) + ")");
        }
        return familyType.cast(existing);
    }

    /** The whole registry in the Prometheus text exposition format. */
    public String scrape() {
        StringBuilder out = new StringBuilder(4096);
        for (Family<?> family : families.values()) {
            family.write(out);
        }
        return out.toString();
    }

    /** The current value of one child, for tests and debug output; 0 when never touched. */
    public double value(String name, String... labelValues) {
        Family<?> family = families.get(name);
        if (family == null) {
            return 0;
        }
        Object child = family.children.get(List.of(labelValues));
        return switch (child) {
            case Counter c -> c.get();
            case Gauge g -> g.get();
            case Histogram h -> h.count();
            case null, default -> 0;
        };
    }

    /** A metric name with its label names and one child per label-value combination. */
    abstract static sealed class Family<C> permits Counter.Family, Gauge.Family, Histogram.Family {
        final String name;
        final String help;
        final String type;
        final String[] labelNames;
        final Map<List<String>, C> children = new ConcurrentHashMap<>();

        Family(String name, String help, String type, String[] labelNames) {
            this.name = name;
            this.help = help;
            this.type = type;
            this.labelNames = labelNames.clone();
        }

        public C labels(String... values) {
            if (values.length != labelNames.length) {
                throw new IllegalArgumentException(name + ": " + values.length + " label values for "
                        + List.of(labelNames) + " (expected: " + labelNames.length + ")");
            }
            for (String v : values) {
                requireNonNull(v, "label value of " + name);
            }
            return children.computeIfAbsent(List.of(values), k -> newChild());
        }

        /**
         * The child with {@code values} for the family's labels plus {@code extraNames} =
         * {@code extraValues} after them: labels a configuration adds to some children only
         * (Istio's Telemetry API {@code tagOverrides}, issue 19). Extra names are label names
         * the family does not have.
         */
        public C labels(String[] values, String[] extraNames, String[] extraValues) {
            if (extraNames.length == 0) {
                return labels(values);
            }
            if (values.length != labelNames.length || extraNames.length != extraValues.length) {
                throw new IllegalArgumentException(name + ": " + values.length + " label values and "
                        + extraNames.length + " extra names for " + extraValues.length + " extra values (expected: "
                        + labelNames.length + " and as many extra values as names)");
            }
            List<String> key = new ArrayList<>(values.length + 2 * extraNames.length);
            for (String v : values) {
                key.add(requireNonNull(v, "label value of " + name));
            }
            for (int i = 0; i < extraNames.length; i++) {
                String n = extraNames[i];
                if (!LABEL.matcher(n).matches() || n.startsWith("__") || List.of(labelNames).contains(n)) {
                    throw new IllegalArgumentException("extra label name: " + n + " of " + name + " (expected: "
                            + "[a-zA-Z_][a-zA-Z0-9_]*, not one of " + List.of(labelNames) + ")");
                }
                key.add(n);
                key.add(requireNonNull(extraValues[i], "label value of " + name));
            }
            return children.computeIfAbsent(List.copyOf(key), k -> newChild());
        }

        abstract C newChild();

        abstract void writeChild(StringBuilder out, List<String> labelValues, C child);

        final void write(StringBuilder out) {
            out.append("# HELP ").append(name).append(' ').append(escapeHelp(help)).append('\n');
            out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
            List<Map.Entry<List<String>, C>> sorted = new ArrayList<>(children.entrySet());
            sorted.sort((a, b) -> String.join("\u0000", a.getKey()).compareTo(String.join("\u0000", b.getKey())));
            for (Map.Entry<List<String>, C> e : sorted) {
                writeChild(out, e.getKey(), e.getValue());
            }
        }

        final String labelText(List<String> values, String extraName, String extraValue) {
            if (values.isEmpty() && extraName == null) {
                return "";
            }
            StringBuilder s = new StringBuilder("{");
            int own = Math.min(values.size(), labelNames.length);
            for (int i = 0; i < own; i++) {
                if (i > 0) {
                    s.append(',');
                }
                s.append(labelNames[i]).append("=\"").append(escapeLabel(values.get(i))).append('"');
            }
            // Extra labels of labels(values, extraNames, extraValues): name, value pairs after the family's.
            for (int i = own; i + 1 < values.size(); i += 2) {
                s.append(',').append(values.get(i)).append("=\"").append(escapeLabel(values.get(i + 1))).append('"');
            }
            if (extraName != null) {
                if (!values.isEmpty()) {
                    s.append(',');
                }
                s.append(extraName).append("=\"").append(extraValue).append('"');
            }
            return s.append('}').toString();
        }
    }

    static String format(double v) {
        if (v == Math.rint(v) && !Double.isInfinite(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        if (v == Double.POSITIVE_INFINITY) {
            return "+Inf";
        }
        // Plain decimals ("0.0005", not "5.0E-4"): same value, easier to read and grep.
        return java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }

    private static String escapeHelp(String s) {
        return s.replace("\\", "\\\\").replace("\n", "\\n");
    }

    private static String escapeLabel(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
