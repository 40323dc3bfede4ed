package dev.ambit.common.expr;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;

/**
 * An attribute expression as Istio's Telemetry API writes them (metrics {@code tagOverrides}
 * values, {@code accessLogging.filter.expression}): the subset of CEL the proxies evaluate.
 * <ul>
 *   <li>literals: strings in single or double quotes (backslash escapes), integers, decimals,
 *       {@code true}, {@code false}, {@code null}, lists {@code [a, b]};</li>
 *   <li>attributes of {@link Attributes#KNOWN} ({@code request.method}, {@code response.code},
 *       {@code upstream_peer.workload}, ...), maps indexed by {@code ['key']}
 *       ({@code request.headers['x-user']});</li>
 *   <li>operators by precedence: {@code |} (Istio's fallback: the right side when the left has no
 *       value), {@code ? :}, {@code ||}, {@code &&}, {@code == != < <= > >= in}, {@code + -},
 *       {@code * / %}, unary {@code ! -};</li>
 *   <li>functions {@code has(attr)}, {@code size(x)}, {@code string(x)}, {@code int(x)} and methods
 *       {@code startsWith}, {@code endsWith}, {@code contains}, {@code matches} (Java regex),
 *       {@code lowerAscii}, {@code upperAscii}, {@code size}.</li>
 * </ul>
 * {@link #parse} refuses anything else, naming the text and the position. Evaluation never
 * throws: an attribute without value or a type error gives no value ({@link #evaluate} null),
 * which a filter reads as false and a metric label as {@code unknown}, as Istio's stats
 * plugin does. Immutable and thread-safe.
 */
public final class Expression {

    private final String text;
    private final Eval.Node root;

    private Expression(String text, Eval.Node root) {
        this.text = text;
        this.root = root;
    }

    /**
     * Parses {@code text}; {@code where} (a field path such as {@code spec.accessLogging[0].filter.expression})
     * begins the message of the {@link IllegalArgumentException} thrown for what is not supported.
     */
    public static Expression parse(String text, String where) {
        requireNonNull(text, "text");
        requireNonNull(where, "where");
        Syntax.Parser p = new Syntax.Parser(text, where);
        Eval.Node n = p.expression();
        if (!p.atEnd()) {
            throw p.unexpected();
        }
        return new Expression(text, n);
    }

    /** The text parsed. */
    public String text() {
        return text;
    }

    /** The value for {@code attributes}: String, Long, Double, Boolean, a List or Map; null when it has none. */
    public Object evaluate(Attributes attributes) {
        requireNonNull(attributes, "attributes");
        try {
            return root.eval(attributes);
        } catch (Eval.NoValue e) {
            return null;
        }
    }

    /** Whether the value for {@code attributes} is {@code true} (no value and non-booleans are false). */
    public boolean test(Attributes attributes) {
        return Boolean.TRUE.equals(evaluate(attributes));
    }

    /** The value as a label string ({@code 200}, {@code true}, the string itself); null when it has none. */
    public String evaluateString(Attributes attributes) {
        Object v = evaluate(attributes);
        return v == null || v instanceof Map || v instanceof List ? null : Eval.str(v);
    }

    @Override
    public String toString() {
        return text;
    }
}
