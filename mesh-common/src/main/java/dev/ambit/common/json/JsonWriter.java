package dev.ambit.common.json;

import java.util.Collection;
import java.util.Map;

/**
 * A minimal streaming JSON writer for debug and admin endpoints: objects, arrays,
 * strings, numbers, booleans, and already-rendered JSON (protobuf's JSON form). Keys and
 * values are written in call order, so output is stable and diffs read well. Commas are
 * placed automatically; nesting is the caller's to balance.
 */
public final class JsonWriter {

    private final StringBuilder out = new StringBuilder(1024);
    private boolean needComma;

    /** Starts an object ('{') or array ('['). */
    public JsonWriter open(char bracket) {
        comma();
        out.append(bracket);
        needComma = false;
        return this;
    }

    /** Ends an object ('}') or array (']'). */
    public JsonWriter close(char bracket) {
        out.append(bracket);
        needComma = true;
        return this;
    }

    public JsonWriter key(String key) {
        comma();
        quote(out, key);
        out.append(':');
        needComma = false;
        return this;
    }

    /** A string, or {@code null}. */
    public JsonWriter value(String v) {
        comma();
        if (v == null) {
            out.append("null");
        } else {
            quote(out, v);
        }
        needComma = true;
        return this;
    }

    public JsonWriter value(long v) {
        comma();
        out.append(v);
        needComma = true;
        return this;
    }

    public JsonWriter value(boolean v) {
        comma();
        out.append(v);
        needComma = true;
        return this;
    }

    /** A value that is already JSON (for example {@code JsonFormat.printer().print(message)}). */
    public JsonWriter raw(String json) {
        comma();
        out.append(json);
        needComma = true;
        return this;
    }

    public JsonWriter list(Collection<String> values) {
        open('[');
        for (String v : values) {
            value(v);
        }
        return close(']');
    }

    public JsonWriter map(Map<String, String> values) {
        open('{');
        values.forEach((k, v) -> key(k).value(v));
        return close('}');
    }

    /** {@code s} as a JSON string literal. */
    public static String quote(String s) {
        StringBuilder q = new StringBuilder(s.length() + 2);
        quote(q, s);
        return q.toString();
    }

    private void comma() {
        if (needComma) {
            out.append(',');
        }
    }

    private static void quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    @Override
    public String toString() {
        return out.toString();
    }
}
