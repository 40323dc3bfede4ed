package dev.ambit.waypoint.upstream.lb;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.upstream.UpstreamEndpoint;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * Envoy's {@code MAGLEV} lookup table (Google's Maglev paper, weighted as Envoy does): each host
 * has a permutation of the table's slots, {@code offset = xxHash64(key, 0) mod M} and
 * {@code skip = xxHash64(key, 1) mod (M - 1) + 1} with key {@code "<ip>:<port>"}; in rounds,
 * hosts take their next free preferred slot, a host of weight {@code w} in a round only when
 * its accumulated share allows ({@code w / max weight} of the rounds). A request goes to
 * {@code table[hash mod M]}; a host to avoid is passed over by re-hashing with the attempt
 * number (as Envoy's retries), then by walking the table.
 */
public final class Maglev implements ConsistentHash {

    private final List<UpstreamEndpoint> hosts;
    private final int[] table;

    private Maglev(List<UpstreamEndpoint> hosts, int[] table) {
        this.hosts = hosts;
        this.table = table;
    }

    /** Builds the table of {@code size} slots (a prime, as Envoy requires) over {@code hosts} (at least one). */
    public static Maglev build(List<UpstreamEndpoint> hosts, long size) {
        requireNonNull(hosts, "hosts");
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("hosts: empty (expected: at least one)");
        }
        if (size < 2 || size > 5_000_011) {
            throw new IllegalArgumentException("size: " + size + " (expected: a prime up to 5000011)");
        }
        int m = (int) size;
        int n = hosts.size();
        long[] offset = new long[n];
        long[] skip = new long[n];
        long[] next = new long[n];
        double[] weight = new double[n];
        double[] target = new double[n];
        double max = 0;
        for (int i = 0; i < n; i++) {
            String key = ConsistentHash.key(hosts.get(i));
            offset[i] = Long.remainderUnsigned(XxHash64.hash(key, 0), m);
            skip[i] = Long.remainderUnsigned(XxHash64.hash(key, 1), m - 1) + 1;
            weight[i] = hosts.get(i).weight();
            max = Math.max(max, weight[i]);
        }
        int[] table = new int[m];
        Arrays.fill(table, -1);
        int filled = 0;
        for (long round = 1; filled < m; round++) {
            for (int i = 0; i < n && filled < m; i++) {
                if (round * weight[i] < target[i]) {
                    continue;
                }
                target[i] += max;
                int c = (int) ((offset[i] + skip[i] * next[i]) % m);
                while (table[c] >= 0) {
                    next[i]++;
                    c = (int) ((offset[i] + skip[i] * next[i]) % m);
                }
                table[c] = i;
                next[i]++;
                filled++;
            }
        }
        return new Maglev(List.copyOf(hosts), table);
    }

    @Override
    public List<UpstreamEndpoint> hosts() {
        return hosts;
    }

    /** The table's size. */
    public int size() {
        return table.length;
    }

    /** Slots owned by host {@code index} (for tests and the dump). */
    public int slots(int index) {
        int k = 0;
        for (int t : table) {
            if (t == index) {
                k++;
            }
        }
        return k;
    }

    @Override
    public int pick(long hash, IntPredicate avoid) {
        int host = table[(int) Long.remainderUnsigned(hash, table.length)];
        for (int attempt = 1; avoid.test(host) && attempt <= hosts.size() * 4; attempt++) {
            host = table[(int) Long.remainderUnsigned(rehash(hash, attempt), table.length)];
        }
        if (!avoid.test(host)) {
            return host;
        }
        int start = (int) Long.remainderUnsigned(hash, table.length);
        for (int k = 1; k < table.length; k++) {
            int h = table[(start + k) % table.length];
            if (!avoid.test(h)) {
                return h;
            }
        }
        return -1;
    }

    private static long rehash(long hash, int attempt) {
        byte[] b = new byte[12];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hash >>> (8 * i));
        }
        for (int i = 0; i < 4; i++) {
            b[8 + i] = (byte) (attempt >>> (8 * i));
        }
        return XxHash64.hash(b, 0);
    }
}
