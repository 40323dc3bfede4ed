package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.common.json.JsonWriter;
import io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The format of one {@code envoy.access_loggers.file} entry (its {@code log_format}, Envoy's
 * {@code SubstitutionFormatString}), compiled once: a format string ({@code text_format_source}
 * inline, or {@code text_format}) or a format dictionary ({@code json_format}, nested objects
 * allowed) of Envoy's command operators ({@link CommandOperator}; {@code %%} is a literal {@code %}). As
 * Envoy renders them: in text
 * a value the proxy lacks is {@code -}; in JSON a value that is exactly one operator keeps its
 * type (numbers stay numbers) and a missing one is {@code null}; {@code omit_empty_values} turns
 * those into nothing (text) or drops the key (JSON); keys keep their order unless
 * {@code json_format_options.sort_properties}. An entry without {@code log_format} has no
 * {@code AccessLogFormat}: the proxy writes its own JSON line. Immutable, thread-safe.
 */
public final class AccessLogFormat {

    /** {@code %NAME%}, {@code %NAME(ARG)%}, with an optional {@code :Z} before the closing {@code %}. */
    private static final Pattern COMMAND = Pattern.compile("%([A-Z][A-Z0-9_]*)(?:\\(([^)]*)\\))?(?::([0-9]+))?%");

    /** A parsed template: literal strings and operators in order. */
    private record Template(List<Object> parts) {
        boolean singleOperator() {
            return parts.size() == 1 && parts.get(0) instanceof CommandOperator;
        }
    }

    private final Template text; // text format, else null
    private final Map<String, Object> json; // key → Template or nested Map; null for text
    private final boolean omitEmpty;

    private AccessLogFormat(Template text, Map<String, Object> json, boolean omitEmpty) {
        this.text = text;
        this.json = json;
        this.omitEmpty = omitEmpty;
    }

    /**
     * {@code log}'s format, or {@code null} when it sets no {@code log_format}.
     *
     * @throws IllegalArgumentException naming the field and the operator that Envoy would reject
     *         (the message starts with the field path below {@code log})
     */
    public static AccessLogFormat of(FileAccessLog log) {
        requireNonNull(log, "log");
        if (!log.hasLogFormat()) {
            return null;
        }
        SubstitutionFormatString f = log.getLogFormat();
        boolean omit = f.getOmitEmptyValues();
        switch (f.getFormatCase()) {
            case TEXT_FORMAT -> {
                return new AccessLogFormat(template(f.getTextFormat(), "log_format.text_format"), null, omit);
            }
            case TEXT_FORMAT_SOURCE -> {
                if (!f.getTextFormatSource().hasInlineString()) {
                    throw new IllegalArgumentException("log_format.text_format_source: "
                            + f.getTextFormatSource().getSpecifierCase() + " (expected: inline_string)");
                }
                return new AccessLogFormat(template(f.getTextFormatSource().getInlineString(),
                        "log_format.text_format_source.inline_string"), null, omit);
            }
            case JSON_FORMAT -> {
                if (f.getJsonFormat().getFieldsCount() == 0) {
                    throw new IllegalArgumentException("log_format.json_format: empty (expected: at least one key)");
                }
                boolean sort = f.getJsonFormatOptions().getSortProperties();
                return new AccessLogFormat(null, dictionary(f.getJsonFormat(), "log_format.json_format", sort), omit);
            }
            default -> throw new IllegalArgumentException("log_format: no format (expected: text_format_source or "
                    + "json_format)");
        }
    }

    /** The format's line for one request, without a line break (the logger ends each line). */
    public String render(AccessLogData d) {
        if (text != null) {
            StringBuilder b = new StringBuilder(128);
            for (Object p : text.parts()) {
                if (p instanceof CommandOperator op) {
                    Object v = op.value(d);
                    b.append(v == null ? (omitEmpty ? "" : "-") : v.toString());
                } else {
                    b.append((String) p);
                }
            }
            // A format string ends with its own newline (Istio appends one); the logger adds the line break.
            int end = b.length();
            if (end > 0 && b.charAt(end - 1) == '\n') {
                b.setLength(end - 1);
            }
            return b.toString();
        }
        JsonWriter w = new JsonWriter();
        object(w, json, d);
        return w.toString();
    }

    private void object(JsonWriter w, Map<String, Object> dict, AccessLogData d) {
        w.open('{');
        for (Map.Entry<String, Object> e : dict.entrySet()) {
            if (e.getValue() instanceof Template t) {
                Object v = value(t, d);
                if (v == null && omitEmpty) {
                    continue;
                }
                w.key(e.getKey());
                switch (v) {
                    case null -> w.value((String) null);
                    case Long l -> w.value(l.longValue());
                    default -> w.value(v.toString());
                }
            } else {
                @SuppressWarnings("unchecked")
                Map<String, Object> nested = (Map<String, Object>) e.getValue();
                w.key(e.getKey());
                object(w, nested, d);
            }
        }
        w.close('}');
    }

    /** A JSON value: an operator alone keeps its type; a mixed string renders a missing operator as {@code -}. */
    private Object value(Template t, AccessLogData d) {
        if (t.singleOperator()) {
            return ((CommandOperator) t.parts().get(0)).value(d);
        }
        StringBuilder b = new StringBuilder();
        for (Object p : t.parts()) {
            if (p instanceof CommandOperator op) {
                Object v = op.value(d);
                b.append(v == null ? (omitEmpty ? "" : "-") : v.toString());
            } else {
                b.append((String) p);
            }
        }
        return b.toString();
    }

    private static Map<String, Object> dictionary(Struct s, String path, boolean sort) {
        Map<String, Object> out = sort ? new TreeMap<>() : new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Value> e : s.getFieldsMap().entrySet()) {
            String at = path + "[\"" + e.getKey() + "\"]";
            Value v = e.getValue();
            switch (v.getKindCase()) {
                case STRING_VALUE -> out.put(e.getKey(), template(v.getStringValue(), at));
                case STRUCT_VALUE -> out.put(e.getKey(), dictionary(v.getStructValue(), at, sort));
                default -> throw new IllegalArgumentException(at + ": " + v.getKindCase()
                        + " (expected: a string of command operators, or a nested object)");
            }
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    /** Literal text and operators; a {@code %} that starts no operator is rejected, as Envoy rejects it. */
    private static Template template(String format, String path) {
        List<Object> parts = new ArrayList<>();
        Matcher m = COMMAND.matcher(format);
        int at = 0;
        while (at < format.length()) {
            int pct = format.indexOf('%', at);
            if (pct < 0) {
                parts.add(format.substring(at));
                break;
            }
            if (pct > at) {
                parts.add(format.substring(at, pct));
            }
            if (pct + 1 < format.length() && format.charAt(pct + 1) == '%') {
                parts.add("%"); // %% is a literal %, as Envoy reads it
                at = pct + 2;
                continue;
            }
            if (!m.region(pct, format.length()).lookingAt()) {
                int end = format.indexOf('%', pct + 1);
                String near = end < 0 ? format.substring(pct) : format.substring(pct, end + 1);
                throw new IllegalArgumentException(path + ": no valid command operator at position " + pct + " ("
                        + near + "; expected: %OPERATOR%, %OPERATOR(ARG)% or %OPERATOR(ARG):LENGTH%)");
            }
            int max = -1;
            if (m.group(3) != null) {
                try {
                    max = Integer.parseInt(m.group(3));
                } catch (NumberFormatException e) {
                    max = Integer.MAX_VALUE;
                }
            }
            try {
                parts.add(CommandOperator.of(m.group(1), m.group(2), max));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(path + ": " + e.getMessage(), e);
            }
            at = m.end();
        }
        return new Template(List.copyOf(parts));
    }
}
