package dev.ambit.agent;

import java.util.List;

/**
 * The JVM flags the node agent is sized and measured with. Whatever starts an agent
 * ({@code ambitctl local}, the L4 bench, a DaemonSet's container command) puts
 * {@link #OPTIONS} before {@code -jar node-agent.jar}.
 *
 * <p>Why each (figures: agent RSS under the L4 bench's {@code wrk -c16}, README, Benchmark):
 * <ul>
 *   <li>{@code -Xms16m -Xmx64m}: the live heap under load is about 10 MiB plus the mesh's
 *       xDS state (relayed bytes sit in Netty's direct buffers, outside the heap); the
 *       serial collector grows the heap only as needed, so the cap is headroom for a large
 *       mesh, not resident memory. Raise it for meshes of many thousands of workloads.</li>
 *   <li>{@code -XX:+UseSerialGC}: one collector thread and no per-region bookkeeping; a
 *       young collection of this heap takes about a millisecond.</li>
 *   <li>{@code -XX:-TieredCompilation}: C2 only. Without C1's profiled code, its code cache
 *       and its compile arenas the agent kept about 20 MiB less resident, at the same
 *       request rate, latency and CPU once warm; start-up runs interpreted a little longer.</li>
 *   <li>{@code -XX:CompileThreshold=1500}: C2 alone compiles a method after 10,000 calls by
 *       default, so code that runs per connection rather than per byte (tunnel set-up, a
 *       pod's gate, a new stream's pipeline) stayed interpreted for a long time. With 1,500,
 *       four L4 bench runs in both orders: c16 19,434/18,210 → 21,349/21,594 req/s, CPU per
 *       1000 requests 46.0/48.2 → 41.8/42.4 ms, c1 p50 0.151 → 0.134 ms, RSS no higher
 *       (138-144 against 145-147 MiB).</li>
 *   <li>{@code -Xss256k}, {@code -XX:ReservedCodeCacheSize=24m}: the agent's threads recurse
 *       little, and C2 alone fills a few MiB of code cache.</li>
 *   <li>{@code -XX:TrimNativeHeapInterval=5000}: glibc hands freed native memory (C2's
 *       compile arenas) back to the kernel every 5 s instead of keeping it.</li>
 *   <li>{@code --enable-native-access=ALL-UNNAMED}: the eBPF and namespace bindings use the
 *       FFM API from the class path.</li>
 * </ul>
 */
public final class AgentJvm {

    /** The flags, in order; each is one argument. */
    public static final List<String> OPTIONS = List.of(
            "--enable-native-access=ALL-UNNAMED",
            "-Xms16m", "-Xmx64m",
            "-XX:+UseSerialGC",
            "-XX:-TieredCompilation",
            "-XX:CompileThreshold=1500",
            "-Xss256k",
            "-XX:ReservedCodeCacheSize=24m",
            "-XX:TrimNativeHeapInterval=5000");

    private AgentJvm() {}
}
