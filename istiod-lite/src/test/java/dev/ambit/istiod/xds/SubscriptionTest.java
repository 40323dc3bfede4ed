package dev.ambit.istiod.xds;

import static dev.ambit.istiod.xds.TestMesh.uid;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.xds.Subscription.Delta;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The incremental diff of {@link Subscription}: same answers as the full diff, less work. */
class SubscriptionTest {

    private static final String ADDRESS = TypeUrls.ADDRESS;

    @Test
    void wildcardClientInSyncGetsExactlyTheTransitionChanges() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot s1 = mesh.snapshot();
        Subscription sub = wildcard();
        send(sub, sub.diff(s1, 1, null), 1);
        assertThat(sub.mirroredGeneration()).isEqualTo(1);
        // The client's ACK: a later request that changes no subscription.
        sub.change(List.of(), List.of());
        sub.acked();
        assertThat(sub.mirroredGeneration()).isEqualTo(1);

        XdsSnapshot s2 = XdsSnapshot.of(mesh.pod("b", "v2").pod("z", "v1").removePod("a").build(), s1);
        Delta incremental = sub.diff(s2, 2, s2.changesFrom(s1, ADDRESS));
        assertThat(incremental).isEqualTo(sub.diff(s2));
        assertThat(incremental.resources()).extracting(XdsResource::name).containsExactly(uid("b"), uid("z"));
        assertThat(incremental.removed()).containsExactly(uid("a"));
        assertThat(incremental.initial()).isFalse();

        // The transition's changes are what it answers from: given none, it has none to send.
        assertThat(sub.diff(s2, 2, new XdsSnapshot.Changes(List.of(), List.of()))).isNull();

        send(sub, incremental, 2);
        assertThat(sub.mirroredGeneration()).isEqualTo(2);
        assertThat(sub.diff(s2)).isNull();
        assertThat(sub.view().sent()).isEqualTo(s2.versions(ADDRESS));
    }

    @Test
    void clientThatMissedATransitionGetsAFullDiffAndConverges() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot s1 = mesh.snapshot();
        Subscription sub = wildcard();
        send(sub, sub.diff(s1, 1, null), 1);

        // Generation 2 is published while the stream is busy; it next looks at generation 3.
        XdsSnapshot s2 = XdsSnapshot.of(mesh.pod("a", "v2").build(), s1);
        XdsSnapshot s3 = XdsSnapshot.of(mesh.pod("c", "v2").build(), s2);
        Delta delta = sub.diff(s3, 3, s3.changesFrom(s2, ADDRESS));
        assertThat(delta.resources()).extracting(XdsResource::name).containsExactly(uid("a"), uid("c"));
        send(sub, delta, 3);
        assertThat(sub.view().sent()).isEqualTo(s3.versions(ADDRESS));

        // Back in sync: the next transition is applied as such.
        XdsSnapshot s4 = XdsSnapshot.of(mesh.removePod("b").build(), s3);
        Delta next = sub.diff(s4, 4, s4.changesFrom(s3, ADDRESS));
        assertThat(next).isEqualTo(sub.diff(s4));
        assertThat(next.removed()).containsExactly(uid("b"));
    }

    @Test
    void nothingToSendKeepsTheClientInSync() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot s1 = mesh.snapshot();
        Subscription sub = wildcard();
        send(sub, sub.diff(s1, 1, null), 1);

        // Only policies changed: nothing for addresses, and the client holds generation 2.
        XdsSnapshot s2 = XdsSnapshot.of(mesh.removePolicy("deny-admin").build(), s1);
        assertThat(sub.diff(s2, 2, s2.changesFrom(s1, ADDRESS))).isNull();
        sub.synced(2);
        assertThat(sub.mirroredGeneration()).isEqualTo(2);
    }

    @Test
    void subscriptionChangesAndNamedSubscriptionsTakeTheFullDiff() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot s1 = mesh.snapshot();
        Subscription sub = wildcard();
        send(sub, sub.diff(s1, 1, null), 1);

        // Re-subscribing to a held name must answer it although it did not change.
        sub.change(List.of(uid("a")), List.of());
        assertThat(sub.mirroredGeneration()).isZero();
        XdsSnapshot s2 = XdsSnapshot.of(mesh.pod("b", "v2").build(), s1);
        Delta delta = sub.diff(s2, 2, s2.changesFrom(s1, ADDRESS));
        assertThat(delta.resources()).extracting(XdsResource::name).containsExactly(uid("a"), uid("b"));

        Subscription named = new Subscription(ADDRESS);
        named.start(List.of(uid("a")), Map.of());
        send(named, named.diff(s1, 1, null), 1);
        assertThat(named.mirroredGeneration()).isZero();
        XdsSnapshot s3 = XdsSnapshot.of(mesh.pod("a", "v3").build(), s2);
        // Told only of its name, not of everything that changed.
        assertThat(named.diff(s3, 3, s3.changesFrom(s2, ADDRESS)).resources())
                .extracting(XdsResource::name).containsExactly(uid("a"));
    }

    @Test
    void newWildcardClientsShareTheSnapshotsListAndAnUpToDateOneGetsNothing() {
        XdsSnapshot s1 = TestMesh.standard().snapshot();
        Subscription one = wildcard();
        Subscription two = wildcard();
        Delta first = one.diff(s1, 1, null);
        assertThat(first).isEqualTo(one.diff(s1));
        assertThat(first.initial()).isTrue();
        assertThat(first.resources()).isSameAs(two.diff(s1, 1, null).resources())
                .isSameAs(s1.resourceList(ADDRESS)).hasSize(s1.resources(ADDRESS).size());

        send(one, first, 1);
        // E.g. the client's first request of another type makes the stream look again.
        assertThat(one.diff(s1, 1, null)).isNull();

        // A reconnecting client that declares what it holds is compared resource by resource.
        Subscription resumed = new Subscription(ADDRESS);
        resumed.start(List.of(), Map.of(uid("a"), s1.resources(ADDRESS).get(uid("a")).version()));
        Delta resumedDelta = resumed.diff(s1, 1, null);
        assertThat(resumedDelta).isEqualTo(resumed.diff(s1));
        assertThat(resumedDelta.resources()).extracting(XdsResource::name).doesNotContain(uid("a"));
    }

    private static Subscription wildcard() {
        Subscription sub = new Subscription(ADDRESS);
        sub.start(List.of(), Map.of());
        return sub;
    }

    private static void send(Subscription sub, Delta delta, long generation) {
        sub.sent(delta, "nonce-" + generation, generation);
    }
}
