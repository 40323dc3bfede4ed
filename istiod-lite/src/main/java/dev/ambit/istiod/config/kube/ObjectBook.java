package dev.ambit.istiod.config.kube;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectDecoder;
import dev.ambit.istiod.config.ObjectRef;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link KubernetesSource} has read, by what became of each object: accepted (its last
 * good version), rejected (with its errors), failing closed (a rejected security object), and
 * the resourceVersion last decoded, so the informers' replays are not decoded again. It decodes
 * objects, counts and logs rejections, and builds the snapshot and error list to deliver.
 *
 * <p>Not thread-safe: the source calls it with its lock held, so decoding and committing one
 * version cannot interleave with an older one.
 */
final class ObjectBook {

    private static final Logger log = LoggerFactory.getLogger(KubernetesSource.class);
    private static final String ORIGIN = KubernetesSource.ORIGIN;

    private final ObjectDecoder decoder = new ObjectDecoder();
    private final KubernetesSerialization serialization;
    private final Function<Kind, String> apiVersions;
    private final Counter.Family rejectedTotal;

    private final Map<ObjectRef, HasMetadata> accepted = new HashMap<>();
    private final Map<ObjectRef, List<ConfigError>> rejected = new HashMap<>();
    /** Rejected security objects: they never keep a last good version, they fail closed. */
    private final Map<ObjectRef, FailClosed> failClosed = new HashMap<>();
    /** The resourceVersion last decoded per object, so replays of the same version are skipped. */
    private final Map<ObjectRef, String> seenVersions = new HashMap<>();

    /**
     * {@code apiVersions} gives the apiVersion a kind is read at (for list items that leave it
     * to the list); {@code rejectedTotal} is counted once per rejection with
     * {@code source, kind}.
     */
    ObjectBook(KubernetesSerialization serialization, Function<Kind, String> apiVersions,
            Counter.Family rejectedTotal) {
        this.serialization = requireNonNull(serialization, "serialization");
        this.apiVersions = requireNonNull(apiVersions, "apiVersions");
        this.rejectedTotal = requireNonNull(rejectedTotal, "rejectedTotal");
    }

    /**
     * Brings one object up to date with {@code current}, the informer's present version of it
     * ({@code null} once deleted). Returns whether there may be something new to deliver:
     * false for a replay of the version already decoded or the deletion of an unknown object.
     */
    boolean apply(Kind kind, ObjectRef ref, HasMetadata current) {
        if (current == null) {
            boolean changed = accepted.remove(ref) != null | rejected.remove(ref) != null
                    | failClosed.remove(ref) != null;
            seenVersions.remove(ref);
            return changed;
        }
        String version = current.getMetadata().getResourceVersion();
        if (version != null && version.equals(seenVersions.get(ref))) {
            return false;
        }
        seenVersions.put(ref, version);
        ObjectDecoder.Result result = decode(kind, ref, current);
        if (result.ok()) {
            accepted.put(ref, result.object());
            failClosed.remove(ref);
            if (rejected.remove(ref) != null) {
                log.info("config {} is valid again: accepted", ref);
            }
        } else {
            List<ConfigError> previous = rejected.put(ref, result.errors());
            String consequence;
            if (FailClosed.isSecurity(kind)) {
                // Never the last good version: a restart would not have it, and the served
                // policy must not depend on when istiod-lite started.
                FailClosed stand = result.failClosed() != null ? result.failClosed()
                        : FailClosed.wholeNamespace(ref, ORIGIN, result.errors());
                accepted.remove(ref);
                failClosed.put(ref, stand);
                consequence = " (" + stand.describe() + ")";
            } else {
                consequence = accepted.containsKey(ref) ? " (keeping its last accepted version)" : "";
            }
            // Same errors again (a status-only update): already counted and logged.
            if (!result.errors().equals(previous)) {
                rejectedTotal.labels(ORIGIN, kind.kind()).inc();
                result.errors().forEach(e -> log.warn("rejected config: {}{}", e.message(), consequence));
            }
        }
        return true;
    }

    /** Forgets objects of {@code kind} not in {@code keep}; returns whether an accepted or rejected one went. */
    boolean retainOnly(Kind kind, Set<ObjectRef> keep) {
        Set<ObjectRef> gone = new HashSet<>();
        for (Map<ObjectRef, ?> m : List.of(accepted, rejected, seenVersions, failClosed)) {
            m.keySet().stream().filter(ref -> ref.kind() == kind && !keep.contains(ref)).forEach(gone::add);
        }
        boolean changed = false;
        for (ObjectRef ref : gone) {
            changed |= accepted.remove(ref) != null | rejected.remove(ref) != null;
            seenVersions.remove(ref);
        }
        return changed;
    }

    /** The accepted objects and the fail-closed stands, as one snapshot. */
    ConfigSnapshot snapshot() {
        ConfigSnapshot.Builder builder = ConfigSnapshot.builder();
        accepted.forEach((ref, object) -> builder.put(ref.kind(), object, ORIGIN));
        failClosed.values().forEach(builder::failClosed);
        return builder.build();
    }

    /** Every rejected object's errors, ordered by object. */
    List<ConfigError> errors() {
        return new TreeMap<>(rejected).values().stream().flatMap(List::stream).toList();
    }

    @SuppressWarnings("unchecked")
    private ObjectDecoder.Result decode(Kind kind, ObjectRef ref, HasMetadata current) {
        try {
            if (KubernetesSource.BUILT_IN.contains(kind)) {
                List<ConfigError> errors = decoder.check(ORIGIN, kind, current);
                return new ObjectDecoder.Result(kind, errors.isEmpty() ? current : null, errors);
            }
            Map<String, Object> document = serialization.convertValue(current, Map.class);
            // Items of a list may leave apiVersion and kind to the list.
            document.putIfAbsent("apiVersion", apiVersions.apply(kind));
            document.putIfAbsent("kind", kind.kind());
            ObjectDecoder.Result result = decoder.decode(ORIGIN, document, ref.namespace());
            if (result.kind() != kind) {
                return new ObjectDecoder.Result(kind, null, List.of(new ConfigError(ORIGIN, ref, "kind",
                        "\"" + document.get("kind") + "\" served as " + kind.qualifiedName()
                                + " (expected: " + kind.kind() + ")")));
            }
            return result;
        } catch (RuntimeException e) {
            log.warn("cannot decode {}", ref, e);
            return new ObjectDecoder.Result(kind, null, List.of(new ConfigError(ORIGIN, ref, "",
                    "cannot decode: " + e + " (a bug in Ambit: please report it with the object)")));
        }
    }
}
