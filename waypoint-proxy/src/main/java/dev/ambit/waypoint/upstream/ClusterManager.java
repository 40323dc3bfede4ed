package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.Checks;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The waypoint's upstream side ({@link Upstreams}): reads clusters and endpoints from the
 * current {@link WaypointConfig}, picks an endpoint ({@link EndpointPicker}, the one place),
 * and sends the request on a pooled connection to it: HTTP/1.1 keep-alive
 * ({@link Http1Pool}) or HTTP/2 ({@link Http2Pool}) per the cluster's
 * {@code envoy.extensions.upstreams.http.v3.HttpProtocolOptions}, over HBONE (the
 * {@link HbonePool}, the waypoint's own certificate, the destination workload's identity
 * required) when the endpoint's metadata says {@code tunnel: http}, else over plain TCP.
 *
 * <p><b>Protocol.</b> No options: HTTP/1.1. {@code explicit_http_config.http2_protocol_options}:
 * HTTP/2 with prior knowledge (h2c). {@code use_downstream_protocol_config}: HTTP/2 when the
 * downstream request was HTTP/2, which the request says by carrying Netty's
 * {@link HttpConversionUtil.ExtensionHeaderNames#STREAM_ID} or
 * {@link HttpConversionUtil.ExtensionHeaderNames#SCHEME} header (both set by Netty's HTTP/2 to
 * HTTP/1 conversion); else HTTP/1.1. Those headers are never sent upstream as such.
 *
 * <p><b>Failures</b> complete the stage with {@link UpstreamException}: {@code NC} unknown
 * cluster, {@code UH} no healthy endpoint, {@code UF} connect / TLS / HBONE refusal /
 * connect timeout, {@code UR} reset before a whole response, {@code UC} closed before one,
 * {@code UT} the attempt's timeout (its connection is closed or its stream reset, so a slow
 * backend never keeps a pooled connection busy), {@code UO} a circuit breaker's limit
 * ({@link CircuitBreakers}: {@code max_requests} here, {@code max_pending_requests} and
 * {@code max_connections} in the pools). Every one names the endpoint.
 *
 * <p><b>Resilience</b> ({@link Resilience}): each cluster has its {@link CircuitBreakers}
 * (also asked for retries: {@link #tryRetry}) and, when it sets {@code outlier_detection}, an
 * {@link OutlierDetector} told the outcome of every attempt; ejected endpoints are shown to
 * the picker as unhealthy. Pools are per cluster and endpoint, as Envoy's, and follow the
 * cluster's {@code max_requests_per_connection}, idle timeout and TCP keepalive.
 *
 * <p><b>Threads.</b> A tunnel's connection is registered on the caller's event loop when the
 * caller runs on one of the group's loops (so it and the downstream stream share a loop),
 * else on the group's next loop. A request's new connection and timer go to the loop with
 * the fewest requests in flight, the caller's on a tie ({@link RequestLoops}): one loop
 * while the load is light (no hand-off between threads), every loop once one downstream
 * connection carries many concurrent streams. (All streams of one HBONE connection arrive
 * on one loop; without this their upstream work stayed there too and one busy node's agent
 * kept one waypoint core busy: istio/istio #43443, #55463.) Stages complete on the
 * connections' loops; callers hop back to their own. Thread-safe.
 */
public final class ClusterManager implements Upstreams, AutoCloseable {

    private final Supplier<WaypointConfig> config;
    private final Connector connector;
    private final EndpointPicker picker;
    private final UpstreamMetrics metrics;
    private final int maxIdle;
    private final Duration idleTimeout;
    private final int maxResponseBytes;
    private final Map<PoolKey, Object> pools = new ConcurrentHashMap<>();
    private final ClusterResilience resilience;
    private final RequestLoops loops;
    private volatile Snapshot snapshot = new Snapshot(Long.MIN_VALUE, null);

    private ClusterManager(Builder b) {
        config = b.config;
        connector = new Connector(b.network, b.hbonePool, b.hbonePort, b.certificate, b.workloads);
        picker = b.picker;
        metrics = new UpstreamMetrics(b.metrics);
        maxIdle = b.maxIdle;
        idleTimeout = b.idleTimeout;
        maxResponseBytes = b.maxResponseBytes;
        resilience = new ClusterResilience(metrics, b.group);
        loops = new RequestLoops(b.group);
    }

    /**
     * Starts a cluster manager reading {@code config} (called per request; a new version is
     * noticed there), making sockets with {@code network} ({@link SocketFactory#host} in the
     * waypoint's pod) on {@code group}'s loops, which must be of the network's transport.
     */
    public static Builder builder(Supplier<WaypointConfig> config, SocketFactory network, EventLoopGroup group) {
        return new Builder(config, network, group);
    }

    /** The endpoint picker (issue 15 extends it). */
    public EndpointPicker picker() {
        return picker;
    }

    @Override
    public CompletionStage<UpstreamResponse> send(UpstreamRequest request) {
        return start(request, false);
    }

    /**
     * {@inheritDoc}
     *
     * <p>The attempt's timeout runs until the response's end, as Envoy's route and per-try
     * timeouts do: past the headers it aborts the body ({@code UT}) and the connection or
     * stream carrying it. The cluster's request circuit breaker and the request's event-loop
     * slot are held until then too.
     */
    @Override
    public CompletionStage<UpstreamResponse> stream(UpstreamRequest request) {
        return start(request, true);
    }

    private CompletionStage<UpstreamResponse> start(UpstreamRequest request, boolean streaming) {
        requireNonNull(request, "request");
        String name = request.cluster();
        Entry entry;
        UpstreamEndpoint endpoint;
        OutlierDetector detector;
        try {
            entry = entry(name);
            if (entry.info.originalDestination()) {
                throw new UpstreamException(ResponseFlag.UH, null, "cluster " + name
                        + " is ORIGINAL_DST: it carries byte tunnels (open), not requests", false, null);
            }
            detector = resilience.detector(entry.info);
            endpoint = picker.pick(entry.info, detector == null ? entry.endpoints : detector.present(entry.endpoints),
                    request.excludedHosts(), request.hash()).endpoint();
        } catch (UpstreamException e) {
            ReferenceCountUtil.release(request.request());
            metrics.request(name, e.flag());
            return CompletableFuture.failedFuture(e);
        }
        CircuitBreakers cb = resilience.breakers(entry.info);
        if (!cb.tryAcquire(CircuitBreakers.Resource.REQUESTS)) {
            ReferenceCountUtil.release(request.request());
            metrics.request(name, ResponseFlag.UO);
            return CompletableFuture.failedFuture(cb.overflow(CircuitBreakers.Resource.REQUESTS, endpoint.address()));
        }
        Exchange exchange = new Exchange(name, endpoint, request.request(), streaming);
        picker.started(name, endpoint.address());
        int slot = loops.start();
        EventLoop loop = loops.loop(slot);
        ScheduledFuture<?> timer = request.timeout().isZero() ? null : loop.schedule(() -> {
            UpstreamException timeout = Failures.timeout(endpoint.address(), request.timeout());
            BodyStream body = exchange.body();
            if (!exchange.fail(timeout) && body != null) {
                body.abort(timeout); // past the headers: the rest of the response did not come in time
            }
        }, request.timeout().toNanos(), TimeUnit.NANOSECONDS);
        exchange.result.whenComplete((r, e) -> {
            Runnable finished = () -> {
                loops.finished(slot);
                if (timer != null) {
                    timer.cancel(false);
                }
                picker.finished(name, endpoint.address());
                cb.release(CircuitBreakers.Resource.REQUESTS);
            };
            if (r != null && r.response() instanceof StreamingResponse sr) {
                sr.body().terminated().whenComplete((v, x) -> finished.run());
            } else {
                finished.run();
            }
            ResponseFlag flag = e == null ? null : UpstreamMetrics.asUpstream(endpoint.address(), e).flag();
            metrics.request(name, flag);
            if (detector != null) {
                ClusterResilience.outcome(detector, endpoint.address(), r, flag);
            }
        });
        boolean h2 = entry.info.protocol() == ClusterInfo.Protocol.HTTP2
                || entry.info.protocol() == ClusterInfo.Protocol.DOWNSTREAM && wasHttp2(request.request().headers());
        PoolKey key = new PoolKey(name, endpoint.address(), endpoint.hbone(), h2);
        Object pool = pools.computeIfAbsent(key, k -> k.http2
                ? new Http2Pool(endpoint, connector, metrics, cb, entry.settings, maxResponseBytes)
                : new Http1Pool(endpoint, connector, metrics, cb, maxIdle, entry.settings, maxResponseBytes));
        if (pool instanceof Http2Pool p) {
            p.send(exchange, entry.settings, loop);
        } else {
            ((Http1Pool) pool).send(exchange, entry.settings, loop);
        }
        return exchange.result;
    }

    /**
     * Asks {@code cluster}'s circuit breakers for a retry ({@code max_retries}); true: it is
     * counted until {@link #retryDone}. An unknown cluster has no limit here (its attempt fails NC).
     */
    @Override
    public boolean tryRetry(String cluster) {
        return resilience.tryRetry(cluster);
    }

    @Override
    public void retryDone(String cluster) {
        resilience.retryDone(cluster);
    }

    /**
     * {@inheritDoc}
     *
     * <p>The tunnel's channel is a TCP socket with half-closure allowed, or an HBONE stream
     * behind {@code StreamBytes}; {@code AUTO_READ} is off. For an {@code ORIGINAL_DST}
     * cluster it goes to {@code originalDestination} itself, over HBONE when a workload known
     * to run over HBONE has that address, else in plaintext.
     */
    @Override
    public CompletionStage<UpstreamTunnel> open(String cluster, InetSocketAddress originalDestination,
                                               Set<InetSocketAddress> excludedHosts) {
        requireNonNull(cluster, "cluster");
        requireNonNull(excludedHosts, "excludedHosts");
        UpstreamEndpoint endpoint;
        Entry entry;
        OutlierDetector picked = null;
        try {
            entry = entry(cluster);
            if (entry.info.originalDestination()) {
                if (originalDestination == null || originalDestination.isUnresolved()) {
                    throw new UpstreamException(ResponseFlag.UH, null, "cluster " + cluster
                            + " is ORIGINAL_DST and the tunnel has no original destination", false, null);
                }
                endpoint = new UpstreamEndpoint(originalDestination,
                        connector.meshed(originalDestination.getAddress()), HealthStatus.UNKNOWN);
            } else {
                picked = resilience.detector(entry.info);
                endpoint = picker.pick(entry.info, picked == null ? entry.endpoints : picked.present(entry.endpoints),
                        excludedHosts).endpoint();
            }
        } catch (UpstreamException e) {
            metrics.tunnel(cluster, e.flag());
            return CompletableFuture.failedFuture(e);
        }
        // A tunnel is a connection of the cluster (Envoy's tcp_proxy checks max_connections).
        CircuitBreakers cb = resilience.breakers(entry.info);
        if (!cb.tryAcquire(CircuitBreakers.Resource.CONNECTIONS)) {
            metrics.tunnel(cluster, ResponseFlag.UO);
            return CompletableFuture.failedFuture(cb.overflow(CircuitBreakers.Resource.CONNECTIONS, endpoint.address()));
        }
        OutlierDetector detector = picked;
        picker.started(cluster, endpoint.address());
        return connector.connect(endpoint, entry.info.connectTimeout(), loops.callerOrNext(), true, entry.settings.keepalive())
                .handle((ch, error) -> {
            if (error != null) {
                picker.finished(cluster, endpoint.address());
                cb.release(CircuitBreakers.Resource.CONNECTIONS);
                UpstreamException e = UpstreamMetrics.asUpstream(endpoint.address(), error);
                metrics.tunnel(cluster, e.flag());
                if (detector != null) {
                    detector.failure(endpoint.address(), e.flag());
                }
                throw e;
            }
            ch.closeFuture().addListener(f -> {
                picker.finished(cluster, endpoint.address());
                cb.release(CircuitBreakers.Resource.CONNECTIONS);
            });
            if (detector != null) {
                // Envoy's tcp_proxy reports a connected upstream as a final success (200 when not split).
                detector.response(endpoint.address(), 200);
            }
            metrics.connectionOpened(cluster, "tcp", endpoint.hbone());
            metrics.tunnel(cluster, null);
            return new UpstreamTunnel(ch, endpoint.address());
        });
    }

    /** Whether a request came from an HTTP/2 downstream (see the class comment). */
    static boolean wasHttp2(HttpHeaders headers) {
        return headers.contains(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text())
                || headers.contains(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text());
    }

    /** Connections open to {@code endpoint} over all its pools (for tests and the admin). */
    public int openConnections(InetSocketAddress endpoint) {
        int n = 0;
        for (Map.Entry<PoolKey, Object> e : pools.entrySet()) {
            if (e.getKey().address.equals(endpoint)) {
                n += e.getValue() instanceof Http2Pool p ? p.openConnections() : ((Http1Pool) e.getValue()).openConnections();
            }
        }
        return n;
    }

    /** The admin's view: the picker's state per cluster and every connection pool. */
    public void dump(JsonWriter json) {
        json.open('{');
        json.key("config_version").value(snapshot.version);
        json.key("picker");
        picker.dump(json);
        resilience.dump(json);
        json.key("pools").open('[');
        for (Object pool : new ArrayList<>(pools.values())) {
            if (pool instanceof Http2Pool p) {
                p.dump(json);
            } else {
                ((Http1Pool) pool).dump(json);
            }
        }
        json.close(']');
        json.close('}');
    }

    /**
     * Whether outlier detection has {@code endpoint} of {@code cluster} ejected now (the admin
     * shows it as UNHEALTHY, as Envoy's dump does).
     */
    public boolean ejected(String cluster, InetSocketAddress endpoint) {
        return resilience.ejected(cluster, endpoint);
    }

    /** Closes every pooled connection not carrying a request; later requests open new ones. */
    @Override
    public void close() {
        pools.values().forEach(ClusterManager::closePool);
        pools.clear();
        resilience.close();
    }

    private static void closePool(Object pool) {
        if (pool instanceof Http2Pool p) {
            p.close();
        } else {
            ((Http1Pool) pool).close();
        }
    }

    private Entry entry(String cluster) {
        WaypointConfig current = config.get();
        Snapshot s = snapshot;
        if (s.version != current.version() || s.config != current) {
            s = refresh(current);
        }
        Entry e = s.entries.computeIfAbsent(cluster, c -> Entry.of(current, c, idleTimeout));
        if (e.info == null) {
            throw new UpstreamException(ResponseFlag.NC, null, "cluster not found: " + cluster, false, null);
        }
        return e;
    }

    /** A new configuration: per-cluster state of clusters gone, and pools of endpoints gone, are dropped. */
    private synchronized Snapshot refresh(WaypointConfig current) {
        Snapshot old = snapshot;
        if (old.config == current) {
            return old;
        }
        Snapshot next = new Snapshot(current.version(), current);
        snapshot = next;
        Set<InetSocketAddress> listed = new HashSet<>();
        List<String> gone = new ArrayList<>();
        for (String name : old.entries.keySet()) {
            Entry e = next.entries.computeIfAbsent(name, c -> Entry.of(current, c, idleTimeout));
            if (e.info == null) {
                gone.add(name);
            } else {
                listed.addAll(e.addresses());
            }
        }
        for (String name : gone) {
            resilience.forget(name);
            metrics.forget(name);
        }
        resilience.retain(name -> {
            Entry e = next.entries.get(name);
            return e != null && e.info != null ? e.addresses() : null;
        });
        picker.retain(name -> !gone.contains(name), name -> {
            Entry e = next.entries.get(name);
            return e != null && e.info != null ? e.addresses() : Set.of();
        });
        pools.entrySet().removeIf(p -> {
            if (listed.contains(p.getKey().address) && !gone.contains(p.getKey().cluster)) {
                return false;
            }
            closePool(p.getValue());
            return true;
        });
        return next;
    }

    /** Pools are per cluster and endpoint, as Envoy's (each cluster's circuit breakers count its own). */
    private record PoolKey(String cluster, InetSocketAddress address, boolean hbone, boolean http2) {}

    private record Snapshot(long version, WaypointConfig config, Map<String, Entry> entries) {
        Snapshot(long version, WaypointConfig config) {
            this(version, config, new ConcurrentHashMap<>());
        }
    }

    /** A cluster of one configuration version: parsed once; {@code info} null when unknown. */
    private record Entry(ClusterInfo info, List<UpstreamEndpoint> endpoints, PoolSettings settings) {
        static Entry of(WaypointConfig config, String name, Duration defaultIdle) {
            Optional<Cluster> cluster = config.cluster(name);
            if (cluster.isEmpty()) {
                return new Entry(null, List.of(), null);
            }
            List<UpstreamEndpoint> endpoints = new ArrayList<>();
            for (LbEndpoint lb : config.endpoints(name)) {
                UpstreamEndpoint e = UpstreamEndpoint.of(lb);
                if (e != null) {
                    endpoints.add(e);
                }
            }
            ClusterInfo info = ClusterInfo.of(cluster.get());
            return new Entry(info, Collections.unmodifiableList(endpoints), PoolSettings.of(info, defaultIdle));
        }

        /** The endpoints' addresses. */
        Set<InetSocketAddress> addresses() {
            Set<InetSocketAddress> out = new HashSet<>();
            endpoints.forEach(ep -> out.add(ep.address()));
            return out;
        }
    }

    /** Configures a {@link ClusterManager}. */
    public static final class Builder {
        private final Supplier<WaypointConfig> config;
        private final SocketFactory network;
        private final EventLoopGroup group;
        private HbonePool hbonePool;
        private Supplier<WorkloadCertificate> certificate = () -> null;
        private Function<InetAddress, Workload> workloads = ip -> null;
        private int hbonePort = HbonePool.DEFAULT_PORT;
        private MetricsRegistry metrics = MetricsRegistry.create();
        private EndpointPicker picker = new EndpointPicker();
        private int maxIdle = 32;
        private Duration idleTimeout = Duration.ofSeconds(60);
        private int maxResponseBytes = 16 * 1024 * 1024;

        private Builder(Supplier<WaypointConfig> config, SocketFactory network, EventLoopGroup group) {
            this.config = requireNonNull(config, "config");
            this.network = requireNonNull(network, "network");
            this.group = requireNonNull(group, "group");
            if (!network.transport().isCompatible(group)) {
                throw new IllegalArgumentException("group: " + group + " (expected: loops of the "
                        + network.transport() + " transport, as the network's channels)");
            }
        }

        /**
         * HBONE to endpoints marked {@code tunnel: http}: streams from {@code pool} presenting the
         * waypoint's {@code certificate} (its current one; null while it has none: such attempts
         * fail with UF). Without it those endpoints fail with UF.
         */
        public Builder hbone(HbonePool pool, Supplier<WorkloadCertificate> certificate) {
            this.hbonePool = requireNonNull(pool, "pool");
            this.certificate = requireNonNull(certificate, "certificate");
            return this;
        }

        /**
         * The workload at an address (the waypoint's {@code ProxyState::workloadByAddress}): an
         * HBONE endpoint's server must prove that workload's identity, and an ORIGINAL_DST
         * tunnel goes over HBONE when that workload's tunnel protocol is HBONE. None by default.
         */
        public Builder workloads(Function<InetAddress, Workload> workloads) {
            this.workloads = requireNonNull(workloads, "workloads");
            return this;
        }

        /** The HBONE port of destination agents; 15008 by default. */
        public Builder hbonePort(int port) {
            this.hbonePort = Checks.port(port, "port");
            return this;
        }

        /** Where the metrics go; a private registry by default. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        /** The endpoint picker; a new {@link EndpointPicker} by default. */
        public Builder picker(EndpointPicker picker) {
            this.picker = requireNonNull(picker, "picker");
            return this;
        }

        /** Idle HTTP/1.1 connections kept per endpoint; 32 by default. */
        public Builder maxIdleConnectionsPerEndpoint(int n) {
            this.maxIdle = Checks.notNegative(n, "n");
            return this;
        }

        /** How long an upstream connection without requests stays open; 60 s by default. */
        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = Checks.positive(idleTimeout, "idleTimeout");
            return this;
        }

        /** The largest response body buffered; larger ones fail with UC. 16 MiB by default. */
        public Builder maxResponseBytes(int n) {
            this.maxResponseBytes = Checks.positive(n, "n");
            return this;
        }

        public ClusterManager build() {
            return new ClusterManager(this);
        }
    }
}
