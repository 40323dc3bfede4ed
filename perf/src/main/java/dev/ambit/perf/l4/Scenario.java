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

    /** Starts the proxies and returns once they accept connections. */
    void start() throws Exception;

    /** Stops the proxies. */
    @Override
    void close();
}
