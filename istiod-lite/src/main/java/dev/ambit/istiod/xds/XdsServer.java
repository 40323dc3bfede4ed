package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.config.IstioPorts;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A plaintext gRPC server (Netty) for an {@link XdsService}, plus any other services
 * that share the port (the CA, for instance). Tuned for few, long-lived streams:
 * keepalive pings find dead peers, and large messages are accepted.
 *
 * <pre>{@code
 * XdsServer server = XdsServer.builder(xds)
 *         .address(new InetSocketAddress(15010))
 *         .addService(caService)
 *         .build()
 *         .start();
 * ...
 * server.close(); // ends the streams, stops within the shutdown timeout
 * }</pre>
 *
 * <p>The server owns the {@link XdsService}: {@link #close()} closes it too.
 */
public final class XdsServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(XdsServer.class);

    /** Istio's plaintext xDS port. */
    public static final int DEFAULT_PORT = IstioPorts.ISTIOD_XDS_PLAINTEXT;
    public static final int DEFAULT_MAX_INBOUND_MESSAGE_SIZE = dev.ambit.common.config.Limits.MAX_GRPC_MESSAGE_BYTES;

    private final XdsService service;
    private final InetSocketAddress address;
    private final Duration shutdownTimeout;
    private final Server server;
    private volatile boolean started;
    private volatile boolean closed;

    private XdsServer(Builder b) {
        service = b.service;
        address = b.address;
        shutdownTimeout = b.shutdownTimeout;
        NettyServerBuilder netty = NettyServerBuilder.forAddress(b.address)
                .addService(service)
                .maxInboundMessageSize(b.maxInboundMessageSize)
                // Pings on idle connections find peers that vanished without a FIN (a node
                // that lost power), so their streams and gauges do not linger.
                .keepAliveTime(b.keepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
                .keepAliveTimeout(b.keepAliveTimeout.toNanos(), TimeUnit.NANOSECONDS)
                // Clients ping too (Envoy, ztunnel); refusing them would cost a GOAWAY.
                .permitKeepAliveTime(b.permitKeepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
                .permitKeepAliveWithoutCalls(true);
        if (b.maxConnectionAge != null) {
            netty.maxConnectionAge(b.maxConnectionAge.toNanos(), TimeUnit.NANOSECONDS);
        }
        for (ServerServiceDefinition extra : b.extraServices) {
            netty.addService(extra);
        }
        server = netty.build();
    }

    /** A builder serving {@code service}. */
    public static Builder builder(XdsService service) {
        return new Builder(service);
    }

    /**
     * Binds and starts serving.
     *
     * @throws IOException when the address cannot be bound (in use: pick another port or
     *         stop the process holding it)
     * @throws IllegalStateException when already started or closed
     */
    public XdsServer start() throws IOException {
        if (closed) {
            throw new IllegalStateException("xDS server on " + address + " is closed (expected: a new XdsServer)");
        }
        if (started) {
            throw new IllegalStateException("xDS server on " + address + " is already started");
        }
        try {
            server.start();
        } catch (IOException e) {
            throw new IOException("Cannot bind the xDS server to " + address + ": " + e.getMessage()
                    + " (is another istiod-lite running? pick another port)", e);
        }
        started = true;
        log.info("xDS server listening on {}", localAddress());
        return this;
    }

    /** The bound address, with the real port when the builder asked for port 0. */
    public InetSocketAddress localAddress() {
        if (!started) {
            throw new IllegalStateException("xDS server on " + address + " is not started (call start() first)");
        }
        return (InetSocketAddress) server.getListenSockets().getFirst();
    }

    public int port() {
        return localAddress().getPort();
    }

    /**
     * Stops accepting connections, ends the open streams with {@code UNAVAILABLE}, and waits
     * up to the shutdown timeout for calls to finish before cutting them off.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + shutdownTimeout.toNanos();
        server.shutdown();
        // xDS streams never end on their own: end them, or shutdown() waits for nothing.
        service.close();
        try {
            if (!server.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                log.warn("xDS server on {}: calls still running after {}; cancelling them", address, shutdownTimeout);
                server.shutdownNow();
                server.awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        log.info("xDS server on {} stopped", address);
    }

    /** Configures an {@link XdsServer}. */
    public static final class Builder {
        private final XdsService service;
        private InetSocketAddress address = new InetSocketAddress(DEFAULT_PORT);
        private final List<ServerServiceDefinition> extraServices = new ArrayList<>();
        private int maxInboundMessageSize = DEFAULT_MAX_INBOUND_MESSAGE_SIZE;
        private Duration keepAliveTime = Duration.ofSeconds(30);
        private Duration keepAliveTimeout = Duration.ofSeconds(10);
        private Duration permitKeepAliveTime = Duration.ofSeconds(5);
        private Duration maxConnectionAge;
        private Duration shutdownTimeout = Duration.ofSeconds(5);

        private Builder(XdsService service) {
            this.service = requireNonNull(service, "service");
        }

        /** Where to listen; default all interfaces, port {@value #DEFAULT_PORT}. Port 0 picks a free one. */
        public Builder address(InetSocketAddress address) {
            this.address = requireNonNull(address, "address");
            return this;
        }

        /** Serves another service on the same port (the CA, health). */
        public Builder addService(BindableService service) {
            requireNonNull(service, "service");
            return addService(service.bindService());
        }

        /** Serves another service on the same port, already bound (e.g. with interceptors). */
        public Builder addService(ServerServiceDefinition service) {
            requireNonNull(service, "service");
            String name = service.getServiceDescriptor().getName();
            if (name.equals(AggregatedDiscoveryServiceGrpc.SERVICE_NAME)) {
                throw new IllegalArgumentException("service " + name
                        + ": already served by the XdsService (expected: a different service)");
            }
            for (ServerServiceDefinition s : extraServices) {
                if (s.getServiceDescriptor().getName().equals(name)) {
                    throw new IllegalArgumentException("service " + name + ": added twice (expected: once)");
                }
            }
            extraServices.add(service);
            return this;
        }

        /** Largest request accepted; default 64 MiB. */
        public Builder maxInboundMessageSize(int bytes) {
            Checks.positive(bytes, "maxInboundMessageSize");
            this.maxInboundMessageSize = bytes;
            return this;
        }

        /** Pings a quiet connection after {@code time}, drops it if unanswered after {@code timeout}. */
        public Builder keepAlive(Duration time, Duration timeout) {
            this.keepAliveTime = positive(time, "keepAlive time");
            this.keepAliveTimeout = positive(timeout, "keepAlive timeout");
            return this;
        }

        /** The most frequent client pings tolerated; default every 5 s. */
        public Builder permitKeepAliveTime(Duration time) {
            requireNonNull(time, "time");
            Checks.notNegative(time, "permitKeepAliveTime");
            this.permitKeepAliveTime = time;
            return this;
        }

        /**
         * Asks clients to reconnect after {@code age} (with a GOAWAY), spreading them over
         * instances after a scale-out. Default: never.
         */
        public Builder maxConnectionAge(Duration age) {
            this.maxConnectionAge = positive(age, "maxConnectionAge");
            return this;
        }

        /** How long {@link XdsServer#close()} waits for calls to end; default 5 s. */
        public Builder shutdownTimeout(Duration timeout) {
            requireNonNull(timeout, "timeout");
            Checks.notNegative(timeout, "shutdownTimeout");
            this.shutdownTimeout = timeout;
            return this;
        }

        public XdsServer build() {
            return new XdsServer(this);
        }

        private static Duration positive(Duration d, String what) {
            Checks.positive(d, what);
            return d;
        }
    }
}
