package dev.ambit.ctl.analyze;

import static java.util.Objects.requireNonNull;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One analysis message about one object.
 *
 * @param type     code, name and level
 * @param kind     the object's kind ({@code VirtualService}), or "" when no object could be named
 * @param namespace "" for cluster-scoped objects
 * @param name     the object's name
 * @param origin   where it was read (a file, {@code kubernetes}), or ""
 * @param field    the field at fault ({@code spec.http[0].route[0].destination.host}), or ""
 * @param message  what is wrong, in Istio's wording where Istio has the code
 * @param fix      what to do about it
 */
public record Finding(MessageType type, String kind, String namespace, String name, String origin, String field,
                      String message, String fix) implements Comparable<Finding> {

    public Finding {
        requireNonNull(type, "type");
        requireNonNull(kind, "kind");
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        requireNonNull(origin, "origin");
        requireNonNull(field, "field");
        requireNonNull(message, "message");
        requireNonNull(fix, "fix");
    }

    /** {@code VirtualService shop/reviews} as istioctl names resources, or "" without an object. */
    public String resource() {
        if (kind.isEmpty()) {
            return "";
        }
        return kind + " " + (namespace.isEmpty() ? name : namespace + "/" + name);
    }

    /**
     * istioctl's line, {@code Error [IST0101] (VirtualService shop/reviews vs.yaml) <message>},
     * followed by the field and the fix.
     */
    public String line() {
        StringBuilder s = new StringBuilder(type.level().display()).append(" [").append(type.code()).append("]");
        String res = resource();
        if (!res.isEmpty() || !origin.isEmpty()) {
            s.append(" (").append(res);
            if (!origin.isEmpty()) {
                s.append(res.isEmpty() ? "" : " ").append(origin);
            }
            s.append(')');
        }
        s.append(' ');
        if (!field.isEmpty()) {
            s.append(field).append(": ");
        }
        s.append(message);
        if (!fix.isEmpty()) {
            s.append(message.endsWith(".") ? "" : ".").append(" Fix: ").append(fix);
        }
        return s.toString();
    }

    /** The JSON/YAML form: istioctl's keys (code, level, origin, reference, message, documentationUrl) plus ours. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("code", type.code());
        m.put("name", type.name());
        m.put("level", type.level().display());
        if (!kind.isEmpty()) {
            m.put("origin", resource());
        }
        if (!origin.isEmpty()) {
            m.put("reference", origin);
        }
        if (!field.isEmpty()) {
            m.put("field", field);
        }
        m.put("message", message);
        if (!fix.isEmpty()) {
            m.put("fix", fix);
        }
        if (!type.documentationUrl().isEmpty()) {
            m.put("documentationUrl", type.documentationUrl());
        }
        return m;
    }

    @Override
    public int compareTo(Finding o) {
        int c = o.type.level().compareTo(type.level()); // errors first
        if (c == 0) c = kind.compareTo(o.kind);
        if (c == 0) c = namespace.compareTo(o.namespace);
        if (c == 0) c = name.compareTo(o.name);
        if (c == 0) c = type.code().compareTo(o.type.code());
        if (c == 0) c = field.compareTo(o.field);
        return c != 0 ? c : message.compareTo(o.message);
    }
}
