package dev.ambit.charts;

import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Checks an object against a CRD's structural {@code openAPIV3Schema} as the API server's
 * validation and pruning would: types, required fields, enums, and fields the schema does
 * not know (which the API server would silently drop, unless the schema preserves unknown
 * fields there). CEL rules ({@code x-kubernetes-validations}) and {@code oneOf} are left out.
 */
final class StructuralSchema {

    private StructuralSchema() {}

    /** Every violation, each as {@code path: problem}; empty when the object is valid. */
    static List<String> validate(Object value, JSONSchemaProps schema) {
        List<String> errors = new ArrayList<>();
        check("", value, schema, errors);
        return errors;
    }

    private static void check(String path, Object value, JSONSchemaProps s, List<String> errors) {
        if (s == null) {
            return;
        }
        if (value == null) {
            if (!Boolean.TRUE.equals(s.getNullable())) {
                errors.add(path + ": null (expected: " + s.getType() + ")");
            }
            return;
        }
        boolean intOrString = Boolean.TRUE.equals(s.getXKubernetesIntOrString());
        String type = s.getType();
        if (intOrString) {
            if (!(value instanceof String) && !(value instanceof Integer) && !(value instanceof Long)) {
                errors.add(path + ": " + value + " (expected: an integer or a string)");
            }
        } else if (type != null) {
            boolean ok = switch (type) {
                case "object" -> value instanceof Map;
                case "array" -> value instanceof List;
                case "string" -> value instanceof String;
                case "boolean" -> value instanceof Boolean;
                case "integer" -> value instanceof Integer || value instanceof Long;
                case "number" -> value instanceof Number;
                default -> true;
            };
            if (!ok) {
                errors.add(path + ": " + value + " (expected: " + type + ")");
                return;
            }
        }
        if (s.getEnum() != null && !s.getEnum().isEmpty()) {
            List<Object> allowed = s.getEnum().stream().map(j -> (Object) Charts.SERIALIZATION.convertValue(j, Object.class)).toList();
            if (!allowed.contains(value)) {
                errors.add(path + ": " + value + " (expected one of: " + allowed + ")");
            }
        }
        if (value instanceof Map<?, ?> map) {
            for (String r : s.getRequired() == null ? List.<String>of() : s.getRequired()) {
                if (!map.containsKey(r)) {
                    errors.add(path + "." + r + ": required");
                }
            }
            Map<String, JSONSchemaProps> props = s.getProperties();
            JSONSchemaProps additional = s.getAdditionalProperties() == null ? null : s.getAdditionalProperties().getSchema();
            boolean preserve = Boolean.TRUE.equals(s.getXKubernetesPreserveUnknownFields());
            for (Map.Entry<?, ?> e : map.entrySet()) {
                String key = String.valueOf(e.getKey());
                String child = path + "." + key;
                if (props != null && props.containsKey(key)) {
                    check(child, e.getValue(), props.get(key), errors);
                } else if (additional != null) {
                    check(child, e.getValue(), additional, errors);
                } else if (!preserve && !(path.isEmpty() && (key.equals("apiVersion") || key.equals("kind")
                        || key.equals("metadata")))) {
                    errors.add(child + ": unknown field (the API server would drop it)");
                }
            }
        } else if (value instanceof List<?> list && s.getItems() != null && s.getItems().getSchema() != null) {
            for (int i = 0; i < list.size(); i++) {
                check(path + "[" + i + "]", list.get(i), s.getItems().getSchema(), errors);
            }
        }
    }
}
