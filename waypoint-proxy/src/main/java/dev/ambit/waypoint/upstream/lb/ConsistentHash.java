package dev.ambit.waypoint.upstream.lb;

import dev.ambit.waypoint.upstream.UpstreamEndpoint;
import io.netty.util.NetUtil;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * A consistent-hash lookup structure built over one set of endpoints (the healthy ones of a
 * cluster, or all in panic): {@link RingHash} or {@link Maglev}. Immutable and thread-safe;
 * rebuilt by the picker when the set changes.
 */
public sealed interface ConsistentHash permits RingHash, Maglev {

    /** The endpoints it was built over, in the order given. */
    List<UpstreamEndpoint> hosts();

    /**
     * The index in {@link #hosts} of the endpoint for {@code hash}; when {@code avoid} rejects
     * it (a retry's previous host), the next choice the structure offers, as Envoy's
     * {@code chooseHost(hash, attempt)}; -1 only when every host is avoided.
     */
    int pick(long hash, IntPredicate avoid);

    /** The key Envoy hashes for a host: its address as {@code ip:port}. */
    static String key(UpstreamEndpoint e) {
        return NetUtil.toSocketAddressString(e.address());
    }
}
