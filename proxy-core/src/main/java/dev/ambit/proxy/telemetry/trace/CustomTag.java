package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaders;

/**
 * One of Envoy's {@code custom_tags} (Istio's Telemetry {@code tracing[].customTags}): a literal,
 * an environment variable of the proxy (read once, when the config is compiled, as Envoy reads
 * it at start), or a request header, each with a default for when it is absent.
 *
 * @param tag the span tag's name
 * @param kind where the value comes from
 * @param source the literal value, the variable's name or the header's name
 * @param defaultValue used when the variable or header is absent ("" = no tag)
 */
public record CustomTag(String tag, Kind kind, String source, String defaultValue) {

    /** Where a custom tag's value comes from. */
    public enum Kind { LITERAL, ENVIRONMENT, REQUEST_HEADER }

    public CustomTag {
        requireNonNull(tag, "tag");
        requireNonNull(kind, "kind");
        requireNonNull(source, "source");
        defaultValue = defaultValue == null ? "" : defaultValue;
        if (tag.isEmpty()) {
            throw new IllegalArgumentException("tag: empty (expected: a tag name)");
        }
        if (kind == Kind.ENVIRONMENT) {
            // Resolved now: a variable does not change while the proxy runs.
            String v = System.getenv(source);
            kind = Kind.LITERAL;
            source = v != null ? v : defaultValue;
        }
    }

    public static CustomTag literal(String tag, String value) {
        return new CustomTag(tag, Kind.LITERAL, value, "");
    }

    public static CustomTag environment(String tag, String name, String defaultValue) {
        return new CustomTag(tag, Kind.ENVIRONMENT, name, defaultValue);
    }

    public static CustomTag requestHeader(String tag, String name, String defaultValue) {
        return new CustomTag(tag, Kind.REQUEST_HEADER, name, defaultValue);
    }

    /** The tag's value for a request with {@code headers}; empty when there is none. */
    public String value(HttpHeaders headers) {
        if (kind == Kind.REQUEST_HEADER) {
            String v = headers.get(source);
            return v != null ? v : defaultValue;
        }
        return source;
    }
}
