package dev.ambit.waypoint.upstream.lb;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.upstream.UpstreamEndpoint;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * Envoy's {@code RING_HASH} ring (ketama-style): every host gets a share of the ring's points
 * proportional to its weight; the ring has at least {@code minRingSize} points (scaled so the
 * lightest host gets at least one) and at most {@code maxRingSize}. A point's position is
 * {@code xxHash64("<ip>:<port>_<i>")} with seed 0, Envoy's default {@code hash_function: XX_HASH}
 * and host key. A request's hash goes to the first point at or after it, wrapping around; a
 * host to avoid is passed over by walking the ring forward.
 */
public final class RingHash implements ConsistentHash {

    private final List<UpstreamEndpoint> hosts;
    private final long[] points;   // sorted hashes
    private final int[] owners;    // host index of each point

    private RingHash(List<UpstreamEndpoint> hosts, long[] points, int[] owners) {
        this.hosts = hosts;
        this.points = points;
        this.owners = owners;
    }

    /** Builds the ring over {@code hosts} (at least one). */
    public static RingHash build(List<UpstreamEndpoint> hosts, long minRingSize, long maxRingSize) {
        requireNonNull(hosts, "hosts");
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("hosts: empty (expected: at least one)");
        }
        if (minRingSize < 1 || maxRingSize < minRingSize) {
            throw new IllegalArgumentException("ring size: " + minRingSize + ".." + maxRingSize
                    + " (expected: 1 <= minimum <= maximum)");
        }
        double total = 0;
        for (UpstreamEndpoint h : hosts) {
            total += h.weight();
        }
        double minNormalized = Double.MAX_VALUE;
        for (UpstreamEndpoint h : hosts) {
            minNormalized = Math.min(minNormalized, h.weight() / total);
        }
        // As Envoy: enough points that the lightest host gets ceil(its share of the minimum), capped.
        double scale = Math.min(Math.ceil(minNormalized * minRingSize) / minNormalized, (double) maxRingSize);
        int size = (int) Math.min(Integer.MAX_VALUE - 8, (long) Math.ceil(scale));
        long[] hashes = new long[size + hosts.size()];
        int[] owner = new int[hashes.length];
        int n = 0;
        double current = 0;
        double target = 0;
        for (int i = 0; i < hosts.size(); i++) {
            UpstreamEndpoint h = hosts.get(i);
            String key = ConsistentHash.key(h);
            target += scale * (h.weight() / total);
            for (int j = 0; current < target && n < hashes.length; j++) {
                hashes[n] = XxHash64.hash(key + "_" + j);
                owner[n] = i;
                n++;
                current++;
            }
        }
        // Sort points by unsigned hash, keeping each point's owner.
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        long[] hs = hashes;
        Arrays.sort(order, (a, b) -> Long.compareUnsigned(hs[a], hs[b]));
        long[] points = new long[n];
        int[] owners = new int[n];
        for (int i = 0; i < n; i++) {
            points[i] = hashes[order[i]];
            owners[i] = owner[order[i]];
        }
        return new RingHash(List.copyOf(hosts), points, owners);
    }

    @Override
    public List<UpstreamEndpoint> hosts() {
        return hosts;
    }

    /** Number of points on the ring. */
    public int size() {
        return points.length;
    }

    @Override
    public int pick(long hash, IntPredicate avoid) {
        int start = firstAtOrAfter(hash);
        for (int k = 0; k < points.length; k++) {
            int host = owners[(start + k) % points.length];
            if (!avoid.test(host)) {
                return host;
            }
        }
        return -1;
    }

    private int firstAtOrAfter(long hash) {
        int lo = 0;
        int hi = points.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(points[mid], hash) < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo == points.length ? 0 : lo;
    }
}
