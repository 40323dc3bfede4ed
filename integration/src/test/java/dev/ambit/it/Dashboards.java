package dev.ambit.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Grafana dashboards of the repository's {@code dashboards/} folder as the Prometheus
 * addon's check reads them: every panel query's PromQL ({@code targets[].expr}, rows' nested
 * panels included) with Grafana's variables replaced the way Grafana would expand them for
 * "All" and a 1-minute rate window, and the metric names each one selects.
 */
final class Dashboards {

    /** One panel query. */
    record Query(String dashboard, String panel, String expr) {

        @Override
        public String toString() {
            return dashboard + " / " + panel + ": " + expr;
        }
    }

    private static final Pattern INTERVAL_VARIABLE = Pattern.compile("\\$__(rate_interval|interval|range)\\b");
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{?[a-zA-Z_][a-zA-Z0-9_]*}?");
    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`");
    private static final Pattern GROUPING =
            Pattern.compile("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)");
    private static final Pattern IDENTIFIER = Pattern.compile("(?<![a-zA-Z0-9_:.])[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "bool", "offset", "by", "without", "on",
            "ignoring", "group_left", "group_right", "inf", "nan", "atan2", "start", "end");

    private Dashboards() {
    }

    /** The dashboard files of {@code dir}, sorted. */
    static List<Path> files(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every panel query of dashboard {@code file}, variables expanded ({@link #expand}). */
    static List<Query> queries(Path file) {
        JsonNode root;
        try {
            root = LocalMesh.JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new AssertionError("dashboard " + file + " is not JSON: " + e.getMessage(), e);
        }
        String title = root.path("title").asText(file.getFileName().toString());
        List<Query> out = new ArrayList<>();
        collect(title, root.path("panels"), out);
        return out;
    }

    private static void collect(String dashboard, JsonNode panels, List<Query> out) {
        for (JsonNode panel : panels) {
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText("");
                if (!expr.isBlank()) {
                    out.add(new Query(dashboard, panel.path("title").asText(), expand(expr)));
                }
            }
            collect(dashboard, panel.path("panels"), out); // a collapsed row keeps its panels inside
        }
    }

    /**
     * {@code expr} as Grafana sends it with every template variable on "All" (its {@code .*}) and
     * a one-minute {@code $__rate_interval}.
     */
    static String expand(String expr) {
        String s = INTERVAL_VARIABLE.matcher(expr).replaceAll("1m");
        return VARIABLE.matcher(s).replaceAll(Matcher.quoteReplacement(".*"));
    }

    /**
     * The metric names {@code expr} selects: identifiers outside strings, label matchers,
     * ranges and grouping clauses that are neither functions (followed by '(') nor keywords.
     */
    static Set<String> metricNames(String expr) {
        String s = STRING.matcher(expr).replaceAll("\"\"");
        s = removeBracketed(s, '{', '}');
        s = removeBracketed(s, '[', ']');
        s = GROUPING.matcher(s).replaceAll(" ");
        Set<String> names = new TreeSet<>();
        Matcher m = IDENTIFIER.matcher(s);
        while (m.find()) {
            String id = m.group();
            int next = m.end();
            while (next < s.length() && Character.isWhitespace(s.charAt(next))) {
                next++;
            }
            boolean function = next < s.length() && s.charAt(next) == '(';
            if (!function && !KEYWORDS.contains(id.toLowerCase(java.util.Locale.ROOT))) {
                names.add(id);
            }
        }
        return names;
    }

    private static String removeBracketed(String s, char open, char close) {
        StringBuilder b = new StringBuilder(s.length());
        int depth = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == open) {
                depth++;
            } else if (c == close && depth > 0) {
                depth--;
            } else if (depth == 0) {
                b.append(c);
            }
        }
        return b.toString();
    }
}
