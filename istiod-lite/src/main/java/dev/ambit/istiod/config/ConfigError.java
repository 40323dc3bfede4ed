package dev.ambit.istiod.config;

import static java.util.Objects.requireNonNull;

/**
 * Why one input was rejected.
 *
 * @param origin where it came from: a file path in folder mode, {@code kubernetes} otherwise
 * @param object the object, or {@code null} when the input could not be read far enough
 *               to know (a YAML syntax error)
 * @param field  the path of the offending field ({@code spec.rules[0].from[0].source.ipBlocks[1]}),
 *               or "" when the whole document is at fault
 * @param reason what is wrong and, where possible, what was expected
 */
public record ConfigError(String origin, ObjectRef object, String field, String reason) {

    public ConfigError {
        requireNonNull(origin, "origin");
        requireNonNull(field, "field");
        requireNonNull(reason, "reason");
    }

    /** One line: {@code shop.yaml: AuthorizationPolicy shop/allow: spec.action: unknown value "PERMIT" (...)}. */
    public String message() {
        StringBuilder s = new StringBuilder(origin);
        if (object != null) {
            s.append(": ").append(object);
        }
        if (!field.isEmpty()) {
            s.append(": ").append(field);
        }
        return s.append(": ").append(reason).toString();
    }

    /** The kind label for the rejection metric. */
    public String kindLabel() {
        return object == null ? "unknown" : object.kind().kind();
    }

    @Override
    public String toString() {
        return message();
    }
}
