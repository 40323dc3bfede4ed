package dev.ambit.agent.inpod;

import java.net.InetAddress;
import java.nio.file.Files;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The pods reported over CNI ({@link InPodManager#add}), by pod UID: their sandbox and
 * addresses, known before (or without) xDS. A report lasts until DEL, until xDS says the pod
 * is not ambient, or until its network namespace is gone (a DEL that never came). Not
 * thread-safe: owned by {@link InPodManager}'s enrollment thread.
 */
final class AnnouncedPods {

    /** One report. */
    record Announced(PodSandbox sandbox, List<InetAddress> addresses) {}

    private final Map<String, Announced> byUid = new LinkedHashMap<>();

    /** Records a report; another pod under the same name (a re-created pod) replaces the earlier one. */
    void put(PodSandbox sandbox, List<InetAddress> addresses) {
        byUid.values().removeIf(a -> a.sandbox().key().equals(sandbox.key()) && !a.sandbox().uid().equals(sandbox.uid()));
        byUid.put(sandbox.uid(), new Announced(sandbox, List.copyOf(addresses)));
    }

    void remove(String uid) {
        byUid.remove(uid);
    }

    boolean contains(String uid) {
        return byUid.containsKey(uid);
    }

    boolean isEmpty() {
        return byUid.isEmpty();
    }

    Collection<Announced> all() {
        return byUid.values();
    }

    /** Forgets the pods whose network namespace is gone: their sandbox is, so is the report. */
    void forgetGone() {
        byUid.values().removeIf(a -> !Files.exists(a.sandbox().netns()));
    }

    /** Forgets the pods named ({@code namespace/name}) in {@code notAmbient}, except {@code keep}'s. */
    void forgetNotAmbient(Set<String> notAmbient, Predicate<String> keep) {
        byUid.entrySet().removeIf(e -> notAmbient.contains(e.getValue().sandbox().key()) && !keep.test(e.getKey()));
    }

    /** The sandbox reported for pod {@code namespace/name}. */
    Optional<PodSandbox> find(String key) {
        for (Announced a : byUid.values()) {
            if (a.sandbox().key().equals(key)) {
                return Optional.of(a.sandbox());
            }
        }
        return Optional.empty();
    }
}
