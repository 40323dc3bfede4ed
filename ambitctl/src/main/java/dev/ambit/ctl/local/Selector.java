package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A label selector as {@code kubectl -l} takes it: comma-separated {@code key=value},
 * {@code key==value}, {@code key!=value}, {@code key} (exists) and {@code !key} (absent).
 * Set-based forms ({@code in}, {@code notin}) are not supported.
 */
public final class Selector {

    private enum Op { EQ, NE, EXISTS, ABSENT }

    private record Term(String key, Op op, String value) {}

    private static final Selector ALL = new Selector(List.of());

    private final List<Term> terms;

    private Selector(List<Term> terms) {
        this.terms = terms;
    }

    /** Matches everything. */
    public static Selector all() {
        return ALL;
    }

    /**
     * Parses {@code spec}; null or blank matches everything.
     *
     * @throws IllegalArgumentException naming the term that does not parse
     */
    public static Selector parse(String spec) {
        if (spec == null || spec.isBlank()) {
            return ALL;
        }
        List<Term> terms = new ArrayList<>();
        for (String raw : spec.split(",")) {
            String t = raw.strip();
            if (t.isEmpty()) {
                throw new IllegalArgumentException("selector: " + spec + " has an empty term (expected: key=value,...)");
            }
            if (t.contains(" in ") || t.contains(" notin ") || t.contains("(")) {
                throw new IllegalArgumentException("selector: " + t + ": set-based selectors are not supported"
                        + " (expected: key=value, key!=value, key or !key)");
            }
            Term term;
            int ne = t.indexOf("!=");
            int eq = t.indexOf('=');
            if (ne > 0) {
                term = new Term(t.substring(0, ne).strip(), Op.NE, t.substring(ne + 2).strip());
            } else if (eq > 0) {
                String value = t.startsWith("==", eq) ? t.substring(eq + 2) : t.substring(eq + 1);
                term = new Term(t.substring(0, eq).strip(), Op.EQ, value.strip());
            } else if (t.startsWith("!")) {
                term = new Term(t.substring(1).strip(), Op.ABSENT, "");
            } else if (eq < 0) {
                term = new Term(t, Op.EXISTS, "");
            } else {
                throw new IllegalArgumentException("selector: " + t + " (expected: key=value, key!=value, key or !key)");
            }
            if (term.key().isEmpty()) {
                throw new IllegalArgumentException("selector: " + t + ": missing key");
            }
            terms.add(term);
        }
        return new Selector(List.copyOf(terms));
    }

    /** Whether an object with {@code labels} is selected. */
    public boolean matches(Map<String, String> labels) {
        requireNonNull(labels, "labels");
        for (Term t : terms) {
            String v = labels.get(t.key());
            boolean ok = switch (t.op()) {
                case EQ -> t.value().equals(v);
                case NE -> !t.value().equals(v);
                case EXISTS -> v != null;
                case ABSENT -> v == null;
            };
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** Whether a Service's {@code spec.selector} picks a pod with {@code labels} (an empty one picks none). */
    public static boolean serviceSelects(Map<String, String> selector, Map<String, String> labels) {
        if (selector.isEmpty()) {
            return false;
        }
        return selector.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
    }
}
