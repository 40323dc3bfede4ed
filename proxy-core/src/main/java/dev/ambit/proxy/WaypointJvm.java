package dev.ambit.proxy;

import java.util.List;

/**
 * The JVM flags the L7 proxies (the waypoint-proxy jar as a waypoint or an ingress gateway)
 * are sized and measured with. Whatever starts one ({@code ambitctl local}'s waypoint and
 * gateway controller, the L4/L7 bench, the {@code waypoint} container image) puts
 * {@link #OPTIONS} before {@code -jar waypoint-proxy.jar}; the node agent has its own
 * ({@code AgentJvm}). Here, not in waypoint-proxy, so that the command line and the image
 * builder need not carry the proxy's classes to know them.
 *
 * <p>Why each (figures: the waypoint's peak RSS in the L7 bench, c16/c1/gRPC, README):
 * <ul>
 *   <li>{@code -Xms32m -Xmx256m}: routes, clusters and endpoints of a namespace's services
 *       and requests buffered for retries (up to 1 MiB each) live on the heap; under c16 the
 *       serial collector keeps about 16 MiB live in a 39 MiB heap, so the cap is headroom.
 *       A smaller cap ({@code -Xmx64m}) changed nothing resident.</li>
 *   <li>{@code -XX:+UseSerialGC}: one collector thread; a young collection of this heap
 *       takes about a millisecond.</li>
 *   <li>{@code -XX:-TieredCompilation}, {@code -XX:ReservedCodeCacheSize=32m},
 *       {@code -XX:TrimNativeHeapInterval=5000}: as the agent's. C2 only, a code cache
 *       sized for it, and glibc handing C2's freed compile arenas back every 5 s: peak RSS
 *       150-170 MiB instead of 186-216 at the same request rate and CPU once warm; start-up
 *       runs interpreted a little longer.</li>
 *   <li>{@code -Xss512k}: deeper than the agent's 256k, for the JDK's backtracking regex
 *       on a route's or policy's {@code safe_regex}.</li>
 *   <li>{@code -XX:+ExitOnOutOfMemoryError}: exit, and let the pod restart, rather than limp on.</li>
 *   <li>{@code --enable-native-access=ALL-UNNAMED}: the FFM bindings on the class path.</li>
 * </ul>
 */
public final class WaypointJvm {

    /** The flags, in order; each is one argument. */
    public static final List<String> OPTIONS = List.of(
            "--enable-native-access=ALL-UNNAMED",
            "-Xms32m", "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:-TieredCompilation",
            "-Xss512k",
            "-XX:ReservedCodeCacheSize=32m",
            "-XX:TrimNativeHeapInterval=5000",
            "-XX:+ExitOnOutOfMemoryError");

    private WaypointJvm() {}
}
