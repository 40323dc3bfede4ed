package dev.ambit.istiod.xds;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Message;
import com.google.protobuf.UnsafeByteOperations;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.model.MeshResources;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An immutable, versioned set of xDS resources: per type URL, name → {@link XdsResource}.
 *
 * <p>Each resource's version is a hash of its deterministic protobuf serialization (map
 * fields sorted by key), so recomputing the model from the same input gives the same
 * versions and a client that already holds a resource is not sent it again. Each type
 * also has a version of its own, a hash of its names and resource versions, which goes
 * into {@code system_version_info} for debugging.
 *
 * <p>Build one from the model with {@link #of(MeshResources)} (or, after a change of the
 * model, with {@link #of(MeshResources, XdsSnapshot)}, which reuses what did not change),
 * or from arbitrary messages with {@link #builder()}. {@link #changesFrom(XdsSnapshot,
 * String)} tells what differs between two snapshots.
 */
public final class XdsSnapshot {

    private static final XdsSnapshot EMPTY = new Builder().build();

    private final Map<String, SortedMap<String, XdsResource>> resources;
    private final Map<String, String> typeVersions;
    /** Cache for {@link #resourceList(String)}. */
    private final Map<String, List<XdsResource>> resourceLists = new ConcurrentHashMap<>();

    private XdsSnapshot(Map<String, SortedMap<String, XdsResource>> resources) {
        this.resources = resources;
        Map<String, String> versions = new LinkedHashMap<>();
        resources.forEach((type, byName) -> versions.put(type, typeVersion(byName.values())));
        this.typeVersions = Collections.unmodifiableMap(versions);
    }

    /** A snapshot with no types and no resources. */
    public static XdsSnapshot empty() {
        return EMPTY;
    }

    /**
     * The Address and Authorization resources of the model, both types present even
     * when empty (an empty type is a valid answer: "nothing of this kind exists").
     */
    public static XdsSnapshot of(MeshResources mesh) {
        return of(mesh, EMPTY);
    }

    /**
     * Like {@link #of(MeshResources)}, reusing {@code previous}'s {@link XdsResource}
     * wherever a resource serializes to the same bytes: the result is equal to what
     * {@link #of(MeshResources)} gives, but unchanged resources keep their very objects.
     *
     * <p>A change of the model usually touches a handful of its thousands of resources;
     * this skips hashing the rest and building their {@link XdsResource}s, lets what was
     * built for their responses (the shared {@link XdsResource#wire()}, its memoized
     * size) live on, and makes {@link #changesFrom(XdsSnapshot, String)} cheap. (Comparing
     * messages with {@code equals} instead of serializing them would need the previous
     * model's messages kept alive, about 10 MiB for 11k resources, to save a few ms.)
     */
    public static XdsSnapshot of(MeshResources mesh, XdsSnapshot previous) {
        requireNonNull(mesh, "mesh");
        requireNonNull(previous, "previous");
        Builder builder = builder().reusing(previous);
        for (String typeUrl : new String[] {TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION}) {
            builder.addType(typeUrl);
            mesh.resources(typeUrl).forEach((name, message) -> builder.add(typeUrl, name, message));
        }
        return builder.build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The type URLs this snapshot has, in the order they were added. */
    public Set<String> typeUrls() {
        return resources.keySet();
    }

    /** Resources of one type by name; empty for a type this snapshot does not have. */
    public SortedMap<String, XdsResource> resources(String typeUrl) {
        requireNonNull(typeUrl, "typeUrl");
        SortedMap<String, XdsResource> byName = resources.get(typeUrl);
        return byName != null ? byName : Collections.emptySortedMap();
    }

    /**
     * {@link #resources(String)}'s values as a list, in name order; built once per type
     * and snapshot, since every new wildcard client is sent all of them.
     */
    public List<XdsResource> resourceList(String typeUrl) {
        requireNonNull(typeUrl, "typeUrl");
        return resourceLists.computeIfAbsent(typeUrl, t -> List.copyOf(resources(t).values()));
    }

    /** Name → version of one type; empty for a type this snapshot does not have. */
    public SortedMap<String, String> versions(String typeUrl) {
        SortedMap<String, String> versions = new TreeMap<>();
        resources(typeUrl).forEach((name, r) -> versions.put(name, r.version()));
        return Collections.unmodifiableSortedMap(versions);
    }

    /**
     * The version of a whole type: equal for equal name → version maps. The version of
     * an absent type is that of an empty one.
     */
    public String version(String typeUrl) {
        requireNonNull(typeUrl, "typeUrl");
        String version = typeVersions.get(typeUrl);
        return version != null ? version : typeVersion(List.of());
    }

    /**
     * What a client holding {@code previous}'s resources of {@code typeUrl} lacks to hold
     * this snapshot's: names whose version is new or different here, and names that
     * {@code previous} has and this snapshot does not. An absent type counts as empty.
     *
     * <p>Computed by walking both name-sorted maps side by side, once per snapshot, so
     * that clients in sync with {@code previous} need not each compare every resource.
     */
    public Changes changesFrom(XdsSnapshot previous, String typeUrl) {
        requireNonNull(previous, "previous");
        Iterator<XdsResource> before = previous.resources(typeUrl).values().iterator();
        Iterator<XdsResource> after = resources(typeUrl).values().iterator();
        List<String> changed = new ArrayList<>();
        List<String> removed = new ArrayList<>();
        XdsResource b = next(before);
        XdsResource a = next(after);
        while (a != null || b != null) {
            int order = a == null ? 1 : b == null ? -1 : a.name().compareTo(b.name());
            if (order < 0) {
                changed.add(a.name());
                a = next(after);
            } else if (order > 0) {
                removed.add(b.name());
                b = next(before);
            } else {
                // Reused resources are the same object; only rebuilt ones need the compare.
                if (a != b && !a.version().equals(b.version())) {
                    changed.add(a.name());
                }
                a = next(after);
                b = next(before);
            }
        }
        return new Changes(List.copyOf(changed), List.copyOf(removed));
    }

    private static XdsResource next(Iterator<XdsResource> it) {
        return it.hasNext() ? it.next() : null;
    }

    /** True when both snapshots have the same types with the same resource versions. */
    public boolean sameContent(XdsSnapshot other) {
        requireNonNull(other, "other");
        return typeVersions.equals(other.typeVersions);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("XdsSnapshot{");
        resources.forEach((type, byName) -> s.append(type).append('=').append(byName.size())
                .append("@").append(typeVersions.get(type)).append(", "));
        if (!resources.isEmpty()) {
            s.setLength(s.length() - 2);
        }
        return s.append('}').toString();
    }

    /** Hash of a message's deterministic serialization, 16 hex digits (64 bits). */
    static String resourceVersion(Message message) {
        return hash(serialize(message));
    }

    private static byte[] serialize(Message message) {
        byte[] bytes = new byte[message.getSerializedSize()];
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        // Map fields otherwise serialize in insertion order, which differs between two
        // computations of the same model and would change the version for nothing.
        out.useDeterministicSerialization();
        try {
            message.writeTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException("serializing " + message.getDescriptorForType().getFullName(), e);
        }
        out.checkNoSpaceLeft();
        return bytes;
    }

    /** Hash of resources' names and versions, in the order given (name order for a type's). */
    static String typeVersion(Iterable<XdsResource> resources) {
        MessageDigest digest = sha256();
        for (XdsResource r : resources) {
            // NUL and newline cannot occur in a version, and separate name from version so
            // that ("ab", "c") and ("a", "bc") hash differently.
            digest.update(r.name().getBytes(UTF_8));
            digest.update((byte) 0);
            digest.update(r.version().getBytes(UTF_8));
            digest.update((byte) '\n');
        }
        return HexFormat.of().formatHex(digest.digest(), 0, 8);
    }

    private static String hash(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes), 0, 8);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK (every JDK must provide it)", e);
        }
    }

    /**
     * The difference from one snapshot to another for one type: what
     * {@link #changesFrom(XdsSnapshot, String)} returns.
     *
     * @param changed names new or at a new version, in name order
     * @param removed names no longer present, in name order
     */
    public record Changes(List<String> changed, List<String> removed) {

        public Changes {
            changed = List.copyOf(changed);
            removed = List.copyOf(removed);
        }

        public boolean isEmpty() {
            return changed.isEmpty() && removed.isEmpty();
        }
    }

    /** Collects resources by type URL and name; {@link #build()} computes the versions. */
    public static final class Builder {

        private final Map<String, SortedMap<String, XdsResource>> resources = new LinkedHashMap<>();
        /** Null when not reusing: {@link #EMPTY} itself is built with a builder. */
        private XdsSnapshot reused;

        private Builder() {}

        /**
         * Takes from {@code previous}, instead of building anew, each resource added later
         * with the same type, name and serialized bytes. Only an optimization: the
         * snapshot built is equal either way.
         */
        public Builder reusing(XdsSnapshot previous) {
            this.reused = requireNonNull(previous, "previous");
            return this;
        }

        /** Declares a type, so that the snapshot has it even with no resources. */
        public Builder addType(String typeUrl) {
            checkTypeUrl(typeUrl);
            resources.computeIfAbsent(typeUrl, t -> new TreeMap<>());
            return this;
        }

        /**
         * Adds one resource. The message's type must be the one the type URL names:
         * {@code type.googleapis.com/istio.workload.Address} takes {@code Address}.
         */
        public Builder add(String typeUrl, String name, Message resource) {
            checkTypeUrl(typeUrl);
            requireNonNull(name, "name");
            requireNonNull(resource, "resource");
            if (name.isEmpty()) {
                throw new IllegalArgumentException("resource name of " + typeUrl + ": empty (expected: non-empty)");
            }
            if ("*".equals(name)) {
                throw new IllegalArgumentException("resource name of " + typeUrl
                        + ": * (expected: not *, it means 'every resource' in a subscription)");
            }
            String messageType = resource.getDescriptorForType().getFullName();
            if (!typeUrl.equals(TypeUrls.of(resource.getDescriptorForType()))) {
                throw new IllegalArgumentException("resource " + name + " of " + typeUrl + ": " + messageType
                        + " (expected: " + TypeUrls.messageName(typeUrl) + ")");
            }
            SortedMap<String, XdsResource> byName = resources.computeIfAbsent(typeUrl, t -> new TreeMap<>());
            if (byName.containsKey(name)) {
                throw new IllegalArgumentException("resource " + name + " of " + typeUrl
                        + ": added twice (expected: unique names within a type)");
            }
            byte[] bytes = serialize(resource);
            XdsResource old = reused == null ? null : reused.resources(typeUrl).get(name);
            // Equal bytes mean an equal version, so the old resource is this one already,
            // wire entry included; comparing costs less than hashing and building anew.
            if (old != null && old.resource().getValue().equals(UnsafeByteOperations.unsafeWrap(bytes))) {
                byName.put(name, old);
                return this;
            }
            // Packed from the same deterministic bytes that were hashed, so what a client
            // receives is exactly what the version describes.
            Any packed = Any.newBuilder()
                    .setTypeUrl(typeUrl)
                    .setValue(UnsafeByteOperations.unsafeWrap(bytes))
                    .build();
            byName.put(name, new XdsResource(name, hash(bytes), packed));
            return this;
        }

        public XdsSnapshot build() {
            Map<String, SortedMap<String, XdsResource>> copy = new LinkedHashMap<>();
            resources.forEach((type, byName) ->
                    copy.put(type, Collections.unmodifiableSortedMap(new TreeMap<>(byName))));
            return new XdsSnapshot(Collections.unmodifiableMap(copy));
        }

        private static void checkTypeUrl(String typeUrl) {
            requireNonNull(typeUrl, "typeUrl");
            if (!typeUrl.startsWith(TypeUrls.PREFIX) || typeUrl.length() == TypeUrls.PREFIX.length()) {
                throw new IllegalArgumentException("type URL: " + typeUrl
                        + " (expected: type.googleapis.com/<message full name>)");
            }
        }
    }
}
