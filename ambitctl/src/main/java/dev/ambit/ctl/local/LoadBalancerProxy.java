package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.NetNs;
import dev.ambit.proxy.net.EarlyInput;
import dev.ambit.proxy.net.Linger;
import dev.ambit.proxy.net.ProxyListener;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.TcpRelay;
import dev.ambit.proxy.net.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The local cluster's load balancers and node ports, in the controller: what MetalLB (or
 * kind's cloud provider) and kube-proxy's NodePort rules give a cluster, as a user-space TCP
 * proxy. Each {@link ExternalForwards.Forward} is one listening socket, created inside its
 * network namespace (an external address in {@value Topology#NET_NS}, a node port in each
 * node's), whose connections are relayed ({@link TcpRelay}: backpressure, half-close, resets
 * passed on) to the Service's ready endpoints, picked round robin; a connect that fails moves on
 * to the next endpoint (up to {@value #CONNECT_TRIES} tries), and with no endpoint left the
 * client is reset, as kube-proxy rejects connections to a Service without endpoints. The
 * connection to the endpoint is made in the listener's namespace too: from
 * {@value Topology#BRIDGE_ADDRESS} for external addresses, from the node for node ports, so
 * the backend sees the proxy's address, not the client's (kube-proxy's
 * {@code externalTrafficPolicy: Cluster} hides it as well, behind its SNAT).
 *
 * <p>Why not the eBPF {@link ServiceBalancer}: it rewrites the connects of processes in the
 * pods' cgroup, and a user's curl on the machine is in none of ours; and a node port must answer
 * connections arriving from outside, which a connect hook never sees.
 *
 * <p>Bounded: {@value #THREADS} event-loop threads for every listener and connection, at most
 * {@link #maxConnections} relayed connections at once (more are reset). Each external address
 * is put on br0 before its listener binds and taken off when no listener uses it, also one a
 * killed controller left, at the first {@link #apply} (only this class puts /32 addresses on
 * br0). The controller's single thread calls {@link #apply}; {@link #close} stops every listener
 * and resets their connections.
 */
final class LoadBalancerProxy implements ExternalTraffic, AutoCloseable {

    static final int THREADS = 2;
    static final int CONNECT_TRIES = 3;
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);
    /** How long a listener that failed to bind waits before the next try. */
    static final Duration BIND_RETRY = Duration.ofSeconds(5);

    /** Where a listener's sockets are made: its namespace's, by name. */
    interface Sockets extends Function<String, SocketFactory> {}

    private final EventLoopGroup group;
    private final Sockets sockets;
    private final AddressBook addresses;
    private final Consumer<String> log;
    private final int maxConnections;
    private final AtomicInteger connections = new AtomicInteger();
    private final Map<String, Listener> listeners = new LinkedHashMap<>();
    /** By listener, when its last bind failed: retried after {@link #BIND_RETRY}. */
    private final Map<String, Long> bindFailures = new HashMap<>();
    /** The external addresses on br0; read once, then kept here (only this class puts /32s there). */
    private Set<String> present;

    /** Puts external addresses where the node network answers for them ({@link Topology} on a real cluster). */
    interface AddressBook {
        List<String> present();

        void add(String address);

        void remove(String address);

        /** br0 of {@value Topology#NET_NS}. */
        AddressBook BRIDGE = new AddressBook() {
            @Override
            public List<String> present() {
                return Topology.externalAddresses();
            }

            @Override
            public void add(String address) {
                Topology.addExternalAddress(address);
            }

            @Override
            public void remove(String address) {
                Topology.deleteExternalAddress(address);
            }
        };
    }

    /**
     * @param group the event loops of every listener and relay ({@code sockets}' transport)
     * @param sockets by network namespace name, the sockets made there
     * @param maxConnections most relayed connections at once
     */
    LoadBalancerProxy(EventLoopGroup group, Sockets sockets, AddressBook addresses, int maxConnections,
                      Consumer<String> log) {
        this.group = requireNonNull(group, "group");
        this.sockets = requireNonNull(sockets, "sockets");
        this.addresses = requireNonNull(addresses, "addresses");
        this.log = requireNonNull(log, "log");
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections: " + maxConnections + " (expected: at least 1)");
        }
        this.maxConnections = maxConnections;
    }

    /** The proxy of a local cluster: epoll sockets inside the cluster's namespaces, external addresses on br0. */
    static LoadBalancerProxy create(Consumer<String> log) {
        Transport transport = Transport.EPOLL;
        return new LoadBalancerProxy(transport.newEventLoopGroup(THREADS, "ambit-lb"),
                ns -> inNamespace(ns, Topology.netnsPath(ns), transport), AddressBook.BRIDGE, 4096, log);
    }

    /** Sockets of {@code transport} created inside the namespace at {@code netns} (they stay there). */
    static SocketFactory inNamespace(String name, Path netns, Transport transport) {
        return new SocketFactory() {
            @Override
            public String owner() {
                return "load balancer in " + name;
            }

            @Override
            public Transport transport() {
                return transport;
            }

            @Override
            public ServerSocketChannel newServerChannel() {
                return in(transport::newServerChannel);
            }

            @Override
            public SocketChannel newChannel() {
                return in(transport::newChannel);
            }

            private <T> T in(Supplier<T> create) {
                try {
                    return NetNs.callIn(netns, create::get);
                } catch (Exception e) {
                    throw new IllegalStateException("cannot create a socket in network namespace " + name + " ("
                            + netns + "): " + e.getMessage(), e);
                }
            }
        };
    }

    /**
     * Makes the listeners match {@code forwards}: new ones bound (their external address added
     * first), gone ones closed (their connections reset) and their addresses removed, and every
     * listener's backends replaced (connections already relayed stay where they are). A listener
     * that cannot bind is logged and retried after {@link #BIND_RETRY}; the others are unaffected.
     */
    @Override
    public void apply(List<ExternalForwards.Forward> forwards) {
        Map<String, ExternalForwards.Forward> wanted = new LinkedHashMap<>();
        forwards.forEach(f -> wanted.put(f.listener(), f));
        for (var it = listeners.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!wanted.containsKey(e.getKey())) {
                e.getValue().stop();
                it.remove();
                log.accept("load balancer: stopped listening on " + e.getKey());
            }
        }
        bindFailures.keySet().retainAll(wanted.keySet());
        Set<String> wantedAddresses = new HashSet<>(ExternalForwards.externalAddresses(forwards));
        if (present == null) {
            present = new HashSet<>(addresses.present()); // once: what a killed controller left is removed below
        }
        for (var it = present.iterator(); it.hasNext(); ) {
            String a = it.next();
            if (!wantedAddresses.contains(a)) {
                addresses.remove(a);
                it.remove();
            }
        }
        for (String a : wantedAddresses) {
            if (!present.contains(a)) {
                addresses.add(a);
                present.add(a);
            }
        }
        long now = System.nanoTime();
        for (ExternalForwards.Forward f : wanted.values()) {
            Listener l = listeners.get(f.listener());
            if (l != null) {
                l.backends = f.backends();
                continue;
            }
            Long failed = bindFailures.get(f.listener());
            if (failed != null && now - failed < BIND_RETRY.toNanos()) {
                continue;
            }
            l = new Listener(f);
            try {
                l.start();
                listeners.put(f.listener(), l);
                bindFailures.remove(f.listener());
                log.accept("load balancer: listening on " + f.listener() + " for " + f.service() + ", backends "
                        + f.backends());
            } catch (RuntimeException e) {
                l.close();
                bindFailures.put(f.listener(), now);
                log.accept("load balancer: cannot listen on " + f.listener() + " for " + f.service() + " (retrying in "
                        + BIND_RETRY.toSeconds() + " s): " + e.getMessage());
            }
        }
    }

    /** The listeners bound now, by {@link ExternalForwards.Forward#listener()}, with their bound address. */
    Map<String, InetSocketAddress> listening() {
        Map<String, InetSocketAddress> out = new LinkedHashMap<>();
        listeners.forEach((k, l) -> out.put(k, l.localAddress()));
        return out;
    }

    /** Whether a listener waits for its next bind: {@link #apply} should be called again even if nothing changed. */
    @Override
    public boolean retryPending() {
        return !bindFailures.isEmpty();
    }

    /** Relayed connections open now. */
    int activeConnections() {
        return connections.get();
    }

    /** Stops every listener (their relays are reset) and the event loops. */
    @Override
    public void close() {
        listeners.values().forEach(Listener::stop);
        listeners.clear();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** One listening socket and its relays. */
    private final class Listener extends ProxyListener {
        private final ExternalForwards.Forward forward;
        private final SocketFactory factory;
        private final AtomicInteger next = new AtomicInteger();
        volatile List<String> backends;

        Listener(ExternalForwards.Forward forward) {
            this.forward = forward;
            this.factory = sockets.apply(forward.netns());
            this.backends = forward.backends();
        }

        /** Binds, waiting up to 5 s; throws with the cause when it cannot. */
        void start() {
            ChannelFuture bound = bind(relayBootstrap(group, factory),
                    new InetSocketAddress(forward.address(), forward.port()));
            if (!bound.awaitUninterruptibly(5, TimeUnit.SECONDS)) {
                throw new IllegalStateException("bind timed out");
            }
            if (!bound.isSuccess()) {
                throw new IllegalStateException(String.valueOf(bound.cause().getMessage()), bound.cause());
            }
        }

        /** Stops accepting and resets the connections it relays. */
        void stop() {
            drain(Duration.ZERO);
        }

        @Override
        protected void initConnection(Channel ch) {
            DuplexChannel client = (DuplexChannel) ch;
            if (connections.incrementAndGet() > maxConnections) {
                connections.decrementAndGet();
                Linger.reset(client);
                return;
            }
            client.closeFuture().addListener(f -> connections.decrementAndGet());
            List<String> now = backends;
            if (now.isEmpty()) {
                Linger.reset(client); // no ready endpoint: refused, as kube-proxy's REJECT
                return;
            }
            connect(client, now, Math.floorMod(next.getAndIncrement(), now.size()), 0);
        }

        /** Connects to {@code list[(first + tried) % size]} on the client's event loop; relays on success. */
        private void connect(DuplexChannel client, List<String> list, int first, int tried) {
            String target = list.get((first + tried) % list.size());
            int colon = target.lastIndexOf(':');
            InetSocketAddress address = new InetSocketAddress(target.substring(0, colon),
                    Integer.parseInt(target.substring(colon + 1)));
            new Bootstrap()
                    .group(client.eventLoop())
                    .channelFactory(factory::newChannel)
                    .option(ChannelOption.AUTO_READ, false)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    // Reset, never FIN, unless the relay ends a direction gracefully (Linger).
                    .option(ChannelOption.SO_LINGER, 0)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) CONNECT_TIMEOUT.toMillis())
                    .handler(new EarlyInput())
                    .connect(address)
                    .addListener((ChannelFuture f) -> {
                        if (f.isSuccess()) {
                            TcpRelay.start(client, (DuplexChannel) f.channel(), result -> { });
                        } else if (tried + 1 < Math.min(CONNECT_TRIES, list.size()) && client.isActive()) {
                            connect(client, list, first, tried + 1);
                        } else {
                            Linger.reset(client);
                        }
                    });
        }
    }
}
