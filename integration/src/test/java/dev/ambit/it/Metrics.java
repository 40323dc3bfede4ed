package dev.ambit.it;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A node agent's Prometheus text ({@code :15020/metrics}), parsed into samples. */
record Metrics(List<Sample> samples, String text) {

    private static final Pattern LINE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})?\\s+(\\S+)$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    record Sample(String name, Map<String, String> labels, double value) {

        String label(String key) {
            return labels.getOrDefault(key, "");
        }
    }

    static Metrics parse(String text) {
        List<Sample> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = LINE.matcher(line.strip());
            if (!m.matches()) {
                continue;
            }
            Map<String, String> labels = new LinkedHashMap<>();
            if (m.group(3) != null) {
                Matcher l = LABEL.matcher(m.group(3));
                while (l.find()) {
                    labels.put(l.group(1), l.group(2).replace("\\\"", "\"").replace("\\\\", "\\"));
                }
            }
            double v;
            try {
                v = Double.parseDouble(m.group(4));
            } catch (NumberFormatException e) {
                continue;
            }
            out.add(new Sample(m.group(1), labels, v));
        }
        return new Metrics(List.copyOf(out), text);
    }

    List<Sample> named(String name) {
        return samples.stream().filter(s -> s.name().equals(name)).toList();
    }

    /** The sum over {@code name}'s samples matching {@code filter}; 0 when there are none. */
    double sum(String name, Predicate<Sample> filter) {
        return named(name).stream().filter(filter).mapToDouble(Sample::value).sum();
    }

    /** The value of an unlabelled metric, or -1 when it is absent. */
    double value(String name) {
        return named(name).stream().filter(s -> s.labels().isEmpty()).mapToDouble(Sample::value).findFirst().orElse(-1);
    }
}
