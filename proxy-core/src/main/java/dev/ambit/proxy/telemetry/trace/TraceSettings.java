package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * One HttpConnectionManager's {@code tracing} (CONTRACT seam T1), free of Envoy's types.
 *
 * @param samplingPercent {@code random_sampling}: 0-100, the share of new traces sampled
 * @param customTags {@code custom_tags}
 * @param maxPathTagLength {@code max_path_tag_length}: {@code http.url} is cut to it (Envoy's default 256)
 * @param collector where sampled spans go
 * @param serviceName the spans' service ({@code service.name}; Zipkin's local endpoint)
 */
public record TraceSettings(double samplingPercent, List<CustomTag> customTags, int maxPathTagLength,
                            Collector collector, String serviceName) {

    /** Envoy's {@code max_path_tag_length} when unset. */
    public static final int DEFAULT_MAX_PATH_TAG_LENGTH = 256;

    public TraceSettings {
        if (!(samplingPercent >= 0 && samplingPercent <= 100)) {
            throw new IllegalArgumentException("random_sampling: " + samplingPercent + " (expected: 0-100)");
        }
        customTags = List.copyOf(requireNonNull(customTags, "customTags"));
        if (maxPathTagLength <= 0) {
            throw new IllegalArgumentException("max_path_tag_length: " + maxPathTagLength + " (expected: > 0)");
        }
        requireNonNull(collector, "collector");
        requireNonNull(serviceName, "serviceName");
    }
}
