package dev.ambit.istiod.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import dev.ambit.common.config.Limits;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Turns one parsed manifest (a YAML or JSON object as maps and lists) into the typed
 * object for its kind, checked by {@link ObjectValidator}. Both sources use it, so the
 * same input is accepted or rejected for the same reason either way.
 */
public final class ObjectDecoder {

    /**
     * A decoded object, or why it was rejected (never both). A rejected security object
     * also carries its {@link FailClosed} stand-in when its kind and namespace could be read.
     */
    public record Result(Kind kind, HasMetadata object, List<ConfigError> errors, FailClosed failClosed) {
        public Result(Kind kind, HasMetadata object, List<ConfigError> errors) {
            this(kind, object, errors, null);
        }

        public boolean ok() {
            return errors.isEmpty();
        }
    }

    private final ObjectMapper mapper = new ObjectMapper()
            // Wrong types and unknown enum values are errors; unknown fields land in the
            // models' additionalProperties, as the API server would keep them.
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY, false)
            .registerModule(new SimpleModule("ambit-strict-enums").setDeserializerModifier(new StrictEnums()))
            .addMixIn(io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBRingHash.class,
                    PlainRingHash.class); // lb (issue 15)

    /**
     * fabric8 gives DestinationRule's {@code consistentHash.ringHash} message the class of its
     * oneof wrapper, which inherits the hash-algorithm interface's type deduction, so
     * {@code ringHash: {minimumRingSize: 1024}} failed ("2 candidates match"). Read as a plain
     * object, the size lands in the inner object's additionalProperties ({@code l7.LoadBalancers}).
     */
    @com.fasterxml.jackson.annotation.JsonTypeInfo(use = com.fasterxml.jackson.annotation.JsonTypeInfo.Id.NONE)
    private abstract static class PlainRingHash {}

    /**
     * fabric8's Istio enums map unknown strings to {@code null} through their
     * {@code fromValue} creator, which would turn {@code action: PERMIT} into the
     * default action (ALLOW). Unknown values must be errors instead.
     */
    private static final class StrictEnums extends BeanDeserializerModifier {
        @Override
        public JsonDeserializer<?> modifyEnumDeserializer(DeserializationConfig config, JavaType type,
                                                          BeanDescription beanDesc, JsonDeserializer<?> deserializer) {
            return new StdDeserializer<Object>(type) {
                @Override
                public Object deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
                    String text = p.getText();
                    Object value = deserializer.deserialize(p, ctxt);
                    if (value == null && text != null) {
                        throw InvalidFormatException.from(p, "unknown enum value", text, type.getRawClass());
                    }
                    return value;
                }
            };
        }
    }
    private final ObjectValidator validator = new ObjectValidator();

    /**
     * Decodes one document.
     *
     * @param origin    file path or "kubernetes", for messages
     * @param document  the parsed document
     * @param defaultNs namespace for namespaced objects that name none (kubectl's "default")
     * @return the object, or {@code null} object with errors; {@code kind} is {@code null}
     *         for documents that are not a kind Ambit reads (the caller decides whether
     *         that is an error); an Istio or Gateway API document whose group, version or
     *         kind the API server would not know ({@link ApiKinds}) is an error, failing
     *         closed when it looks like a security object ({@link FailClosed#attribute})
     */
    public Result decode(String origin, Map<?, ?> document, String defaultNs) {
        return decode(origin, document, defaultNs, "unnamed");
    }

    /**
     * Decodes one document; a rejected security object that names no usable name fails
     * closed under {@code fallbackName}.
     */
    public Result decode(String origin, Map<?, ?> document, String defaultNs, String fallbackName) {
        Object apiVersion = document.get("apiVersion");
        Object kindName = document.get("kind");
        if (!(apiVersion instanceof String av) || !(kindName instanceof String kn)) {
            return rejected(null, origin, document, defaultNs, fallbackName, List.of(new ConfigError(origin, null, "",
                    "not a Kubernetes object: apiVersion and kind must be strings")));
        }
        Kind kind = Kind.of(av, kn).orElse(null);
        Optional<String> unknown = ApiKinds.problem(av, kn);
        if (unknown.isPresent()) {
            // A misspelt Istio or Gateway API kind, group or version is an error, never a kind
            // skipped as unread: it may have been meant to replace a policy.
            ObjectRef ref = kind == null ? null : refOf(kind, document, defaultNs);
            String what = ref != null ? "" : kn + " " + (document.get("metadata") instanceof Map<?, ?> m
                    ? (m.get("namespace") instanceof String ns ? ns + "/" : "") + m.get("name") : "(no metadata)") + ": ";
            return rejected(kind, origin, document, defaultNs, fallbackName,
                    List.of(new ConfigError(origin, ref, "", what + unknown.get())));
        }
        if (kind == null) {
            return new Result(null, null, List.of());
        }
        ObjectRef ref = refOf(kind, document, defaultNs);
        long size = sizeOf(document);
        if (size > Limits.MAX_OBJECT_BYTES) {
            return rejected(kind, origin, document, defaultNs, fallbackName, List.of(new ConfigError(origin, ref, "",
                    Limits.overLimit("the object", size, Limits.MAX_OBJECT_BYTES,
                            "etcd's default object size; split it into several objects"))));
        }
        if (ref == null) {
            return rejected(kind, origin, document, defaultNs, fallbackName, List.of(new ConfigError(origin, null,
                    "metadata.name", kn + " without metadata.name (expected: a name)")));
        }
        HasMetadata object;
        try {
            object = mapper.convertValue(document, kind.type());
        } catch (IllegalArgumentException e) {
            return rejected(kind, origin, document, defaultNs, fallbackName, List.of(describe(origin, ref, e)));
        }
        // Store every version under the group's model version, so the model sees one type.
        object.setApiVersion(kind.apiVersion());
        if (kind.namespaced() && (object.getMetadata().getNamespace() == null
                || object.getMetadata().getNamespace().isEmpty())) {
            object.getMetadata().setNamespace(defaultNs);
        }
        List<ConfigError> errors = new ArrayList<>();
        validator.validate(kind, object, (field, reason) -> errors.add(new ConfigError(origin, ref, field, reason)));
        return errors.isEmpty() ? new Result(kind, object, List.of())
                : rejected(kind, origin, document, defaultNs, fallbackName, List.copyOf(errors));
    }

    private static Result rejected(Kind kind, String origin, Map<?, ?> document, String defaultNs, String fallbackName,
                                   List<ConfigError> errors) {
        return new Result(kind, null, errors, FailClosed.attribute(origin, document, defaultNs, fallbackName, errors));
    }

    /** The object's size as JSON, the form the API server stores it in (etcd's limit applies to it). */
    private long sizeOf(Map<?, ?> document) {
        try {
            return mapper.writeValueAsBytes(document).length;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            return 0; // not serialisable: conversion below reports what is wrong
        }
    }

    /**
     * Checks an object that arrived already typed (a built-in kind, decoded by the
     * Kubernetes client) by the same rules {@link #decode} applies, so both sources accept
     * and reject the same objects.
     *
     * @param origin "kubernetes", for messages
     * @return the problems found with field paths; empty when the object is acceptable
     */
    public List<ConfigError> check(String origin, Kind kind, HasMetadata object) {
        ObjectRef ref = ConfigSnapshot.refOf(kind, object);
        List<ConfigError> errors = new ArrayList<>();
        validator.validate(kind, object, (field, reason) -> errors.add(new ConfigError(origin, ref, field, reason)));
        return List.copyOf(errors);
    }

    private static ObjectRef refOf(Kind kind, Map<?, ?> document, String defaultNs) {
        if (!(document.get("metadata") instanceof Map<?, ?> meta) || !(meta.get("name") instanceof String name)
                || name.isEmpty()) {
            return null;
        }
        String ns = meta.get("namespace") instanceof String s && !s.isEmpty() ? s : defaultNs;
        return ObjectRef.of(kind, kind.namespaced() ? ns : "", name);
    }

    private static ConfigError describe(String origin, ObjectRef ref, IllegalArgumentException e) {
        if (!(e.getCause() instanceof JsonMappingException jme)) {
            return new ConfigError(origin, ref, "", String.valueOf(e.getMessage()));
        }
        String field = pathOf(jme.getPath());
        String reason;
        if (jme instanceof InvalidFormatException ife && ife.getTargetType() != null && ife.getTargetType().isEnum()) {
            reason = "unknown value \"" + ife.getValue() + "\" (expected one of: "
                    + String.join(", ", Arrays.stream(ife.getTargetType().getEnumConstants())
                    .map(String::valueOf).toList()) + ")";
        } else {
            reason = jme.getOriginalMessage();
            int at = reason.indexOf("\n at [Source");
            if (at >= 0) {
                reason = reason.substring(0, at);
            }
            reason = "wrong type: " + reason.replace("io.fabric8.", "").replace("java.lang.", "");
        }
        return new ConfigError(origin, ref, field, reason);
    }

    static String pathOf(List<JsonMappingException.Reference> path) {
        StringBuilder s = new StringBuilder();
        for (JsonMappingException.Reference r : path) {
            if (r.getFieldName() != null) {
                if (!s.isEmpty()) {
                    s.append('.');
                }
                s.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                s.append('[').append(r.getIndex()).append(']');
            }
        }
        return s.toString();
    }
}
