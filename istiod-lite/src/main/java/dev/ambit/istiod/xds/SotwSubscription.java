package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.xds.XdsDebugView.AckState;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What one state-of-the-world stream asked for and was sent, for one type URL, following
 * the SotW xDS rules (gRFC A27 for gRPC clients):
 *
 * <ul>
 *   <li>every request carries the complete list of names the client wants; an empty
 *       list on the first Listener or Cluster request is the legacy wildcard (and stays
 *       so while the lists stay empty), {@code *} the explicit one;</li>
 *   <li>every response carries every requested resource that exists, under one
 *       {@code version_info} (a hash of the names and versions sent) and a fresh nonce;
 *       for Listener and Cluster a name left out means "does not exist";</li>
 *   <li>an ACK echoes the response's version and nonce, a NACK carries
 *       {@code error_detail} (and the last accepted version); a request answering an
 *       older nonce is stale and ignored, since a newer response is on its way.</li>
 * </ul>
 *
 * <p>Not thread-safe: the owning stream touches it from its serial executor, and reads
 * it for the debug view under its lock.
 */
final class SotwSubscription {

    private final String typeUrl;
    private boolean wildcard;
    private boolean started;
    private final SortedSet<String> names = new TreeSet<>();
    /** The subscription changed: the next response is due even at an unchanged version. */
    private boolean answerDue;

    private String lastVersion = "";
    private String lastNonce = "";
    /** Name → version of the last response; what the client holds unless it NACKed. */
    private SortedMap<String, String> lastSent = Collections.emptySortedMap();
    private String acceptedVersion = "";
    private AckState ackState = AckState.NONE;
    private String lastNackNonce = "";
    private String lastNackMessage = "";
    private long responses;

    SotwSubscription(String typeUrl) {
        this.typeUrl = requireNonNull(typeUrl, "typeUrl");
    }

    /** Wildcard may be implied by an empty list only for these types (the SotW protocol's rule). */
    private boolean emptyMeansWildcard() {
        return typeUrl.equals(TypeUrls.LISTENER) || typeUrl.equals(TypeUrls.CLUSTER);
    }

    /**
     * Applies the names of a (non-stale) request: the full list the client wants now.
     *
     * @return true when the subscription changed (or this is the first request), so the
     *         client must be answered
     */
    boolean request(List<String> requested) {
        boolean explicitWildcard = requested.contains(Subscription.WILDCARD);
        SortedSet<String> next = new TreeSet<>(requested);
        next.remove(Subscription.WILDCARD);
        boolean nextWildcard = explicitWildcard
                || (next.isEmpty() && emptyMeansWildcard() && (!started || wildcard));
        boolean changed = !started || nextWildcard != wildcard || !next.equals(names);
        started = true;
        wildcard = nextWildcard;
        names.clear();
        names.addAll(next);
        answerDue |= changed;
        return changed;
    }

    /**
     * The response this subscription is owed from {@code snapshot}: every requested
     * resource that exists. Null when nothing is owed: the subscription is unchanged and
     * the resources sent last are still the same.
     */
    Response response(XdsSnapshot snapshot) {
        if (!started) {
            return null;
        }
        SortedMap<String, XdsResource> current = snapshot.resources(typeUrl);
        List<XdsResource> resources;
        if (wildcard) {
            resources = snapshot.resourceList(typeUrl);
        } else {
            resources = new ArrayList<>(names.size());
            for (String name : names) {
                XdsResource r = current.get(name);
                if (r != null) {
                    resources.add(r);
                }
            }
        }
        String version = XdsSnapshot.typeVersion(resources);
        if (!answerDue && version.equals(lastVersion)) {
            return null;
        }
        return new Response(List.copyOf(resources), version, !answerDue && responses > 0);
    }

    /** Records that {@code response} went out with {@code nonce}. */
    void sent(Response response, String nonce) {
        SortedMap<String, String> held = new TreeMap<>();
        for (XdsResource r : response.resources()) {
            held.put(r.name(), r.version());
        }
        lastSent = Collections.unmodifiableSortedMap(held);
        lastVersion = response.version();
        lastNonce = nonce;
        answerDue = false;
        ackState = AckState.PENDING;
        responses++;
    }

    /** True when {@code nonce} is that of the last response: only then does an ACK or NACK count. */
    boolean isCurrent(String nonce) {
        return !lastNonce.isEmpty() && lastNonce.equals(nonce);
    }

    /** The client applied the last response; it reports {@code version}. */
    void acked(String version) {
        ackState = AckState.ACKED;
        acceptedVersion = version;
    }

    /**
     * The client rejected the last response and keeps what it had. The same version is
     * not sent again (it would be rejected again); the next change of the model is.
     */
    void nacked(String message) {
        ackState = AckState.NACKED;
        lastNackNonce = lastNonce;
        lastNackMessage = message;
    }

    String typeUrl() {
        return typeUrl;
    }

    /** The version the client last ACKed; empty if none. */
    String acceptedVersion() {
        return acceptedVersion;
    }

    XdsDebugView.SubscriptionView view() {
        return new XdsDebugView.SubscriptionView(typeUrl, wildcard, List.copyOf(names), lastNonce, ackState,
                lastNackNonce, lastNackMessage, responses, lastSent);
    }

    /**
     * One state-of-the-world response's content.
     *
     * @param resources every requested resource that exists, in name order
     * @param version the {@code version_info}: a hash of their names and versions
     * @param push true when sent because the model changed (not to answer a request)
     */
    record Response(List<XdsResource> resources, String version, boolean push) {}
}
