package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.xds.XdsDebugView.AckState;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What one stream asked for and was sent, for one type URL, following the incremental
 * xDS rules: a wildcard ("*", or nothing named in the first request) and/or explicit
 * names; what the client holds (name → version) so that only differences are sent;
 * names the client must hear about on the next response even if unchanged.
 *
 * <p>Not thread-safe: the owning stream touches it from its serial executor, and reads
 * it for the debug view under its lock.
 */
final class Subscription {

    static final String WILDCARD = "*";

    private final String typeUrl;
    private boolean wildcard;
    private final SortedSet<String> names = new TreeSet<>();
    /**
     * What the client holds: sent and not removed since (or declared on reconnect).
     * Hashed, not sorted: a full diff looks up every resource of the snapshot here.
     */
    private final Map<String, String> sent = new HashMap<>();
    /** Names to answer on the next response even at an unchanged version (or as removed). */
    private final Set<String> mustAnswer = new TreeSet<>();
    /** The client re-subscribed to "*": send everything again. */
    private boolean resendAll;
    /** The first request of the type gets an answer even when there is nothing in it. */
    private boolean initialResponseDue = true;
    /** Generation of the snapshot the client was last brought up to, to tell pushes from answers. */
    private long syncedGeneration;
    /**
     * Generation of the snapshot whose resources of this type {@link #sent} holds exactly,
     * name for name and version for version; 0 when unknown. Only a wildcard subscription
     * ends up there (it is sent everything), and only one that is, after an answer, has
     * nothing owed but the snapshot's changes. While it holds, the next generation's diff is
     * that generation's {@link XdsSnapshot.Changes}.
     */
    private long mirroredGeneration;
    /** {@link System#nanoTime()} of the oldest model update not yet sent; 0 when none. */
    private long pushDueSinceNanos;

    private String lastNonce = "";
    private AckState ackState = AckState.NONE;
    private String lastNackNonce = "";
    private String lastNackMessage = "";
    private long responses;

    Subscription(String typeUrl) {
        this.typeUrl = requireNonNull(typeUrl, "typeUrl");
    }

    /**
     * Applies the first request of this type on a stream. Names in
     * {@code initialVersions} that the subscription covers are taken as held by the
     * client at those versions, so they are only sent if they changed, and reported
     * removed if they no longer exist.
     */
    void start(List<String> subscribe, Map<String, String> initialVersions) {
        mirroredGeneration = 0;
        // Incremental xDS: a first request that names nothing subscribes to everything.
        if (subscribe.isEmpty()) {
            wildcard = true;
        }
        for (String name : subscribe) {
            if (WILDCARD.equals(name)) {
                wildcard = true;
            } else {
                names.add(name);
            }
        }
        initialVersions.forEach((name, version) -> {
            if (covers(name) && !version.isEmpty()) {
                sent.put(name, version);
            }
        });
        for (String name : names) {
            if (!sent.containsKey(name)) {
                // Answered either with the resource or as removed, so the client need not
                // wait out a timeout to learn that the name does not exist.
                mustAnswer.add(name);
            }
        }
    }

    /** Applies a later request's subscription changes. */
    void change(List<String> subscribe, List<String> unsubscribe) {
        if (!subscribe.isEmpty() || !unsubscribe.isEmpty()) {
            // What is owed now also depends on the new subscription: the next diff is a
            // full one. (A plain ACK or NACK changes nothing and keeps the fast path.)
            mirroredGeneration = 0;
        }
        for (String name : subscribe) {
            if (WILDCARD.equals(name)) {
                wildcard = true;
                // A client may subscribe to what it seemingly has; it may have dropped it.
                resendAll = true;
            } else {
                names.add(name);
                mustAnswer.add(name);
            }
        }
        for (String name : unsubscribe) {
            if (WILDCARD.equals(name)) {
                wildcard = false;
                resendAll = false;
                sent.keySet().retainAll(names);
                mustAnswer.retainAll(names);
            } else if (names.remove(name)) {
                // Names never subscribed are ignored: the protocol allows such phantoms.
                if (wildcard) {
                    // The client cannot tell whether the wildcard still covers the name:
                    // answer with the resource, or as removed if it does not exist.
                    mustAnswer.add(name);
                } else {
                    // No answer needed: the client drops what it unsubscribed from.
                    sent.remove(name);
                    mustAnswer.remove(name);
                }
            }
        }
    }

    private boolean covers(String name) {
        return wildcard || names.contains(name);
    }

    /**
     * What the client must be told to match {@code snapshot}: changed or new resources
     * it is subscribed to, and names it holds (or asked for) that do not exist. Null when
     * there is nothing to tell, except for the first response of the type, which is
     * always sent so the client knows it is in sync.
     */
    Delta diff(XdsSnapshot snapshot) {
        return fullDiff(snapshot);
    }

    /**
     * Like {@link #diff(XdsSnapshot)} for {@code snapshot} of generation
     * {@code generation}, with the same result, without comparing every resource in the
     * common cases of a wildcard subscription: when the client holds exactly generation
     * {@code generation - 1} and owes nothing else, the result is
     * {@code changesFromPrevious} (that generation → this one); when it holds this
     * generation already, it is null; when it holds nothing, it is everything, as the
     * snapshot's shared {@link XdsSnapshot#resourceList(String)}. Otherwise (behind by more,
     * named subscriptions, pending answers, a re-subscription, a reconnect with
     * {@code initial_resource_versions}) every resource is compared.
     *
     * @param changesFromPrevious what differs from generation {@code generation - 1}, or
     *        null when unknown
     */
    Delta diff(XdsSnapshot snapshot, long generation, XdsSnapshot.Changes changesFromPrevious) {
        boolean owesOnlyChanges = wildcard && !resendAll && mustAnswer.isEmpty() && !initialResponseDue;
        if (owesOnlyChanges && mirroredGeneration != 0 && mirroredGeneration == generation) {
            // Already holds this very snapshot (another type's request brought us here).
            return null;
        }
        if (wildcard && sent.isEmpty() && mustAnswer.isEmpty()) {
            // A new wildcard client holds nothing: it gets everything, in the list the
            // snapshot keeps for this, shared by all such clients.
            List<XdsResource> all = snapshot.resourceList(typeUrl);
            return all.isEmpty() && !initialResponseDue ? null : new Delta(all, List.of(), initialResponseDue);
        }
        if (owesOnlyChanges && changesFromPrevious != null && mirroredGeneration != 0
                && mirroredGeneration == generation - 1) {
            if (changesFromPrevious.isEmpty()) {
                return null;
            }
            SortedMap<String, XdsResource> current = snapshot.resources(typeUrl);
            List<XdsResource> changed = new ArrayList<>(changesFromPrevious.changed().size());
            for (String name : changesFromPrevious.changed()) {
                changed.add(current.get(name));
            }
            return new Delta(List.copyOf(changed), changesFromPrevious.removed(), false);
        }
        return fullDiff(snapshot);
    }

    private Delta fullDiff(XdsSnapshot snapshot) {
        SortedMap<String, XdsResource> current = snapshot.resources(typeUrl);
        List<XdsResource> changed = new ArrayList<>();
        if (wildcard) {
            for (XdsResource r : current.values()) {
                if (needsSending(r)) {
                    changed.add(r);
                }
            }
        } else {
            for (String name : names) {
                XdsResource r = current.get(name);
                if (r != null && needsSending(r)) {
                    changed.add(r);
                }
            }
        }
        SortedSet<String> removed = new TreeSet<>();
        for (String name : sent.keySet()) {
            if (!current.containsKey(name)) {
                removed.add(name);
            }
        }
        for (String name : mustAnswer) {
            if (!current.containsKey(name)) {
                removed.add(name);
            }
        }
        if (changed.isEmpty() && removed.isEmpty() && !initialResponseDue) {
            return null;
        }
        return new Delta(List.copyOf(changed), List.copyOf(removed), initialResponseDue);
    }

    private boolean needsSending(XdsResource r) {
        return resendAll || mustAnswer.contains(r.name()) || !r.version().equals(sent.get(r.name()));
    }

    /** Nothing to send for {@code generation}: the client is up to date with it. */
    void synced(long generation) {
        syncedGeneration = Math.max(syncedGeneration, generation);
        // Nothing to send means nothing owed: what the client holds is that snapshot.
        mirroredGeneration = wildcard ? generation : 0;
        pushDueSinceNanos = 0;
    }

    /**
     * A model update made at {@code updateNanos} has something for this client; the
     * oldest such update is what the push latency is measured from.
     */
    void pushDue(long updateNanos) {
        if (pushDueSinceNanos == 0) {
            pushDueSinceNanos = updateNanos;
        }
    }

    /**
     * Records that {@code delta}, computed from snapshot {@code generation}, went out with
     * {@code nonce}: the client now holds it.
     *
     * @return the {@link System#nanoTime()} of the model update this response delivers, or
     *         0 when it answers a request rather than pushing an update
     */
    long sent(Delta delta, String nonce, long generation) {
        for (XdsResource r : delta.resources()) {
            sent.put(r.name(), r.version());
        }
        for (String name : delta.removed()) {
            sent.remove(name);
        }
        mustAnswer.clear();
        resendAll = false;
        initialResponseDue = false;
        lastNonce = nonce;
        ackState = AckState.PENDING;
        responses++;
        syncedGeneration = Math.max(syncedGeneration, generation);
        // A wildcard diff covers every resource and every held name, so after it the client
        // holds exactly that snapshot's resources; a named one does not say that.
        mirroredGeneration = wildcard ? generation : 0;
        long dueSince = pushDueSinceNanos;
        pushDueSinceNanos = 0;
        return dueSince;
    }

    /** True when {@code nonce} is that of the last response: only then does an ACK or NACK count. */
    boolean isCurrent(String nonce) {
        return !lastNonce.isEmpty() && lastNonce.equals(nonce);
    }

    void acked() {
        ackState = AckState.ACKED;
    }

    /**
     * The client rejected the last response. What it was sent stays recorded as sent:
     * resending the same versions would be rejected again, so the next change is what
     * gets sent.
     */
    void nacked(String message) {
        ackState = AckState.NACKED;
        lastNackNonce = lastNonce;
        lastNackMessage = message;
    }

    String typeUrl() {
        return typeUrl;
    }

    long syncedGeneration() {
        return syncedGeneration;
    }

    /** The generation the client holds exactly, or 0; for tests. */
    long mirroredGeneration() {
        return mirroredGeneration;
    }

    XdsDebugView.SubscriptionView view() {
        return new XdsDebugView.SubscriptionView(typeUrl, wildcard, List.copyOf(names), lastNonce, ackState,
                lastNackNonce, lastNackMessage, responses, Collections.unmodifiableSortedMap(new TreeMap<>(sent)));
    }

    /**
     * One response's worth of changes.
     *
     * @param resources resources to send, by name order
     * @param removed names to put in {@code removed_resources}
     * @param initial the first response of the type on the stream
     */
    record Delta(List<XdsResource> resources, List<String> removed, boolean initial) {}
}
