package dev.ambit.istiod.config;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An immutable view of every accepted object, by kind, as one source last saw them.
 * Both sources (YAML folder, Kubernetes) produce these; the model only reads them.
 * Objects are the fabric8 model classes of {@link Kind#type()} and must not be mutated.
 */
public final class ConfigSnapshot {

    private final Map<Kind, Map<ObjectRef, HasMetadata>> byKind;
    private final List<FailClosed> failClosed;
    private final Map<ObjectRef, String> origins;

    private ConfigSnapshot(Map<Kind, Map<ObjectRef, HasMetadata>> byKind, List<FailClosed> failClosed,
                           Map<ObjectRef, String> origins) {
        this.byKind = byKind;
        this.failClosed = failClosed;
        this.origins = origins;
    }

    /**
     * Where an accepted object came from (its file in folder mode, {@code kubernetes}
     * otherwise), for messages about it; empty when the source did not say.
     */
    public Optional<String> origin(ObjectRef ref) {
        return Optional.ofNullable(origins.get(ref));
    }

    /**
     * The rejected security objects and what stands in for each, ordered by object. The
     * model enforces them; they are not in {@link #list} or {@link #objects}.
     */
    public List<FailClosed> failClosed() {
        return failClosed;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** All objects of a kind, ordered by namespace then name. */
    public <T extends HasMetadata> List<T> list(Kind kind, Class<T> type) {
        checkType(kind, type);
        return byKind.getOrDefault(kind, Map.of()).values().stream().map(type::cast).toList();
    }

    /** Objects of a kind in one namespace, ordered by name. */
    public <T extends HasMetadata> List<T> list(Kind kind, String namespace, Class<T> type) {
        checkType(kind, type);
        return byKind.getOrDefault(kind, Map.of()).entrySet().stream()
                .filter(e -> e.getKey().namespace().equals(namespace))
                .map(e -> type.cast(e.getValue()))
                .toList();
    }

    public <T extends HasMetadata> Optional<T> get(Kind kind, String namespace, String name, Class<T> type) {
        checkType(kind, type);
        return Optional.ofNullable(byKind.getOrDefault(kind, Map.of())
                .get(ObjectRef.of(kind, kind.namespaced() ? namespace : "", name))).map(type::cast);
    }

    public Collection<HasMetadata> all(Kind kind) {
        return Collections.unmodifiableCollection(byKind.getOrDefault(kind, Map.of()).values());
    }

    /** Every object with its reference, ordered by kind, namespace, name. */
    public Map<ObjectRef, HasMetadata> objects() {
        Map<ObjectRef, HasMetadata> all = new TreeMap<>();
        byKind.values().forEach(all::putAll);
        return Collections.unmodifiableMap(all);
    }

    public int size() {
        return byKind.values().stream().mapToInt(Map::size).sum();
    }

    private static void checkType(Kind kind, Class<?> type) {
        if (!type.isAssignableFrom(kind.type())) {
            throw new IllegalArgumentException("type: " + type.getName() + " (expected: " + kind.type().getName()
                    + " for " + kind + ")");
        }
    }

    @Override
    public String toString() {
        return "ConfigSnapshot{" + size() + " objects, " + failClosed.size() + " failed closed}";
    }

    /** Collects objects; a later put for the same reference replaces the earlier one. */
    public static final class Builder {
        private final Map<Kind, Map<ObjectRef, HasMetadata>> byKind = new EnumMap<>(Kind.class);
        private final List<FailClosed> failClosed = new java.util.ArrayList<>();
        private final Map<ObjectRef, String> origins = new java.util.HashMap<>();

        private Builder() {}

        /** Adds a rejected security object's stand-in. */
        public Builder failClosed(FailClosed stand) {
            failClosed.add(requireNonNull(stand, "stand"));
            return this;
        }

        public Builder put(Kind kind, HasMetadata object) {
            requireNonNull(kind, "kind");
            requireNonNull(object, "object");
            if (!kind.type().isInstance(object)) {
                throw new IllegalArgumentException("object: " + object.getClass().getName() + " (expected: "
                        + kind.type().getName() + ")");
            }
            ObjectRef ref = refOf(kind, object);
            byKind.computeIfAbsent(kind, k -> new TreeMap<>()).put(ref, object);
            origins.remove(ref);
            return this;
        }

        /** {@link #put(Kind, HasMetadata)}, remembering where the object came from ({@link #origin}). */
        public Builder put(Kind kind, HasMetadata object, String origin) {
            put(kind, object);
            origins.put(refOf(kind, object), requireNonNull(origin, "origin"));
            return this;
        }

        public Builder remove(ObjectRef ref) {
            Map<ObjectRef, HasMetadata> m = byKind.get(ref.kind());
            if (m != null) {
                m.remove(ref);
            }
            origins.remove(ref);
            return this;
        }

        public ConfigSnapshot build() {
            Map<Kind, Map<ObjectRef, HasMetadata>> copy = new EnumMap<>(Kind.class);
            byKind.forEach((k, v) -> copy.put(k, Collections.unmodifiableMap(new TreeMap<>(v))));
            return new ConfigSnapshot(copy, failClosed.stream().sorted().distinct().toList(), Map.copyOf(origins));
        }
    }

    /** The reference of an object of this kind. */
    public static ObjectRef refOf(Kind kind, HasMetadata object) {
        var meta = requireNonNull(object.getMetadata(), "metadata");
        return ObjectRef.of(kind, kind.namespaced() ? meta.getNamespace() : "", meta.getName());
    }
}
