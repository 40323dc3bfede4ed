package dev.ambit.waypoint;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.waypoint.config.WaypointConfigStore;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The waypoint's data path once started (the HBONE listener on {@code --hbone-port}, the HTTP
 * engine, the cluster manager): what {@link Waypoint#startDataPath} returns, so the wiring
 * can drain and close it without knowing its parts.
 */
public interface DataPath extends AutoCloseable {

    /** No data path: nothing listens for tunnels (the process serves config, admin and stats only). */
    DataPath NONE = new DataPath() {
        @Override
        public CompletableFuture<Integer> drain(Duration deadline) {
            return CompletableFuture.completedFuture(0);
        }

        @Override
        public void close() {}

        @Override
        public String toString() {
            return "no data path";
        }
    };

    /**
     * Stops accepting, lets open connections finish until {@code deadline}, then resets what is
     * left; completes with the number of connections reset.
     */
    CompletableFuture<Integer> drain(Duration deadline);

    /** Closes everything at once. Idempotent. */
    @Override
    void close();

    /**
     * Everything the wiring built for the data path: its config, identity, TLS, event loops
     * and the HBONE pool to endpoints, all owned (and closed) by {@link Waypoint}.
     *
     * @param flags the process's flags (ports, listen address)
     * @param config the validated xDS configuration ({@link WaypointConfigStore#current()} per request)
     * @param state workloads, services and L4 policies from the same xDS stream
     * @param certificates the waypoint's certificate, tracked for {@code identity}
     * @param identity the waypoint's SPIFFE identity (server side of 15008, client side to endpoints)
     * @param tls TLS contexts on the mesh's trust bundle
     * @param transport epoll or io_uring
     * @param workers the data path's event loops
     * @param sockets sockets in the waypoint's own network namespace
     * @param pool pooled HBONE connections to endpoints (the cluster manager's)
     * @param metrics where {@code istio_requests_total} and the others go (served on 15020)
     */
    record Context(WaypointFlags flags, WaypointConfigStore config, ProxyState state, CertificateManager certificates,
                   SpiffeId identity, TlsContexts tls, Transport transport, EventLoopGroup workers, SocketFactory sockets,
                   HbonePool pool, MetricsRegistry metrics) {
        public Context {
            requireNonNull(flags, "flags");
            requireNonNull(config, "config");
            requireNonNull(state, "state");
            requireNonNull(certificates, "certificates");
            requireNonNull(identity, "identity");
            requireNonNull(tls, "tls");
            requireNonNull(transport, "transport");
            requireNonNull(workers, "workers");
            requireNonNull(sockets, "sockets");
            requireNonNull(pool, "pool");
            requireNonNull(metrics, "metrics");
        }
    }
}
