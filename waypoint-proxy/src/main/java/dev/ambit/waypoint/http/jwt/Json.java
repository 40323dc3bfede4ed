package dev.ambit.waypoint.http.jwt;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON objects as a protobuf {@code Struct} holds them (what Envoy's dynamic metadata holds):
 * String, Double, Boolean, null, List and Map. Parsed with protobuf's JSON parser, so the
 * waypoint needs no JSON library of its own.
 */
final class Json {

    private static final JsonFormat.Parser PARSER = JsonFormat.parser();

    private Json() {}

    /** The JSON object in {@code text} as an unmodifiable map; throws if it is not one. */
    static Map<String, Object> parseObject(String text) throws InvalidProtocolBufferException {
        String t = text.strip();
        if (!t.startsWith("{")) {
            throw new InvalidProtocolBufferException("not a JSON object");
        }
        Struct.Builder b = Struct.newBuilder();
        PARSER.merge(t, b);
        return toMap(b.build());
    }

    static Map<String, Object> toMap(Struct s) {
        Map<String, Object> m = new LinkedHashMap<>();
        s.getFieldsMap().forEach((k, v) -> m.put(k, toJava(v)));
        return Collections.unmodifiableMap(m);
    }

    static Object toJava(Value v) {
        return switch (v.getKindCase()) {
            case STRING_VALUE -> v.getStringValue();
            case NUMBER_VALUE -> v.getNumberValue();
            case BOOL_VALUE -> v.getBoolValue();
            case STRUCT_VALUE -> toMap(v.getStructValue());
            case LIST_VALUE -> toList(v.getListValue());
            default -> null;
        };
    }

    private static List<Object> toList(ListValue l) {
        List<Object> out = new ArrayList<>(l.getValuesCount());
        for (Value v : l.getValuesList()) {
            out.add(toJava(v));
        }
        return Collections.unmodifiableList(out);
    }

    /** A claim's value as a header carries it: strings as is, whole numbers without ".0", booleans; else null. */
    static String scalar(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Double d) {
            return d == Math.rint(d) && !d.isInfinite() && Math.abs(d) < 1e18 ? Long.toString(d.longValue())
                    : d.toString();
        }
        if (v instanceof Boolean b) {
            return b.toString();
        }
        return null;
    }
}
