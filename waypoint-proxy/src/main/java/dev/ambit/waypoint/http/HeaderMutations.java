package dev.ambit.waypoint.http;

import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import java.util.Locale;

/**
 * Envoy's {@code *_headers_to_add} / {@code *_headers_to_remove} of one level (route
 * configuration, virtual host, route): removals first, then additions, each with its
 * {@code append_action} ({@code APPEND_IF_EXISTS_OR_ADD}, Istio's {@code add};
 * {@code OVERWRITE_IF_EXISTS_OR_ADD}, Istio's {@code set}; {@code ADD_IF_ABSENT};
 * {@code OVERWRITE_IF_EXISTS}); the deprecated {@code append} flag when set wins as Envoy
 * reads it. Values are literal (no {@code %VAR%} formatting).
 */
record HeaderMutations(List<HeaderValueOption> add, List<String> remove) {

    static final HeaderMutations NONE = new HeaderMutations(List.of(), List.of());

    static HeaderMutations of(List<HeaderValueOption> add, List<String> remove) {
        if (add.isEmpty() && remove.isEmpty()) {
            return NONE;
        }
        return new HeaderMutations(List.copyOf(add), remove.stream().map(s -> s.toLowerCase(Locale.ROOT)).toList());
    }

    void apply(HttpHeaders headers) {
        for (String name : remove) {
            headers.remove(name);
        }
        for (HeaderValueOption o : add) {
            String name = o.getHeader().getKey();
            String value = o.getHeader().getValue();
            HeaderValueOption.HeaderAppendAction action = o.getAppendAction();
            if (o.hasAppend()) {
                action = o.getAppend().getValue() ? HeaderValueOption.HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD
                        : HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;
            }
            switch (action) {
                case OVERWRITE_IF_EXISTS_OR_ADD -> headers.set(name, value);
                case ADD_IF_ABSENT -> {
                    if (!headers.contains(name)) {
                        headers.add(name, value);
                    }
                }
                case OVERWRITE_IF_EXISTS -> {
                    if (headers.contains(name)) {
                        headers.set(name, value);
                    }
                }
                default -> headers.add(name, value);
            }
        }
    }
}
