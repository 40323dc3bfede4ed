package dev.ambit.istiod.model;

import java.util.Map;

/** Label selector matching (equality only, as Istio's matchLabels and Service selectors). */
public final class Selectors {

    private Selectors() {}

    /** True when every selector entry is in {@code labels}; an empty selector matches everything. */
    public static boolean matches(Map<String, String> selector, Map<String, String> labels) {
        if (selector == null || selector.isEmpty()) {
            return true;
        }
        if (labels == null) {
            return false;
        }
        for (var e : selector.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }
}
