package dev.ambit.perf.l4;

import dev.ambit.testing.TestNetwork.Node;
import java.util.List;

/**
 * One way from the client pod to the backend: the load runs in {@link #client()} against
 * {@link #httpUrl()} and {@link #iperfHost()}:{@link #iperfPort()}; the CPU and memory of
 * {@link #proxies()} are what the scenario costs.
 */
interface Scenario extends AutoCloseable {

    String name();

    /** The pod wrk and the iperf3 client run in (in its cgroup and network namespace). */
    Node client();

    String httpUrl();

    String iperfHost();

    int iperfPort();

    /** The proxy processes, one per node; empty for {@code direct}. */
    List<Proc> proxies();

    /** Whether the iperf3 load makes sense: a byte path (L4); an HTTP proxy carries no iperf3. */
    default boolean carriesIperf() {
        return true;
    }

    /** The h2c gRPC URL for h2load ({@code grpc} load), or null when the scenario has no gRPC path. */
    default String grpcUrl() {
        return null;
    }

    /**
     * The one L7 proxy whose cost the L7 targets are about (the waypoint), or null:
     * its event-loop threads are measured one by one, and its CPU and RSS reported alone.
     */
    default Proc l7Proxy() {
        return null;
    }

    /** The L7 proxy's listening port, whose established connections are counted (with {@link #l7Proxy()}). */
    default int l7Port() {
        return 0;
    }

    /** The network namespace node the L7 proxy listens in (with {@link #l7Proxy()}). */
    default Node l7Node() {
        return null;
    }

    /**
     * Whether {@link #httpUrl()} is HTTPS terminated by the scenario's first proxy (an ingress):
     * then the {@code tls-new} load (a new connection and a full handshake per request) applies.
     */
    default boolean terminatesTls() {
        return false;
    }

    /**
     * Names the client must resolve, as {@code /etc/hosts} lines (an ingress's
     * {@code app.example.com}: the name decides SNI and the virtual host); empty when none.
     * The load runs with this file bind-mounted over {@code /etc/hosts} in a mount namespace
     * of its own, so the machine's file is never touched.
     */
    default String hosts() {
        return "";
    }

    /** curl's options for {@link #httpUrl()} (e.g. {@code --cacert}); empty for plain HTTP. */
    default List<String> curlOptions() {
        return List.of();
    }

    /** Starts the proxies and returns once they accept connections. */
    void start() throws Exception;

    /** Stops the proxies. */
    @Override
    void close();
}
