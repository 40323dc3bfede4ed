package dev.ambit.waypoint;

import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.waypoint.gateway.GatewayServer;
import dev.ambit.waypoint.http.HttpEngine;
import dev.ambit.waypoint.http.RequestAuthorizer;
import dev.ambit.waypoint.http.HttpTracing;
import dev.ambit.waypoint.http.WaypointServer;
import dev.ambit.waypoint.upstream.ClusterManager;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The data path of {@code --mode gateway}: the same engine and cluster manager as a waypoint's,
 * behind a {@link GatewayServer} (a listener per LDS port) instead of the HBONE listener.
 */
final class GatewayDataPath implements DataPath {

    private final GatewayServer server;
    private final ClusterManager upstreams;

    private GatewayDataPath(GatewayServer server, ClusterManager upstreams) {
        this.server = server;
        this.upstreams = upstreams;
    }

    static DataPath start(DataPath.Context ctx, ClusterManager upstreams, InetAddress listen, HttpTracing tracing) {
        WaypointFlags f = ctx.flags();
        HttpEngine engine = HttpEngine.of(upstreams, RequestAuthorizer.ALLOW_ALL, ctx.state(), ctx.metrics(),
                ctx.config()::current, WaypointServer.DEFAULT_MAX_REQUEST_BYTES, tracing);
        GatewayServer server = GatewayServer.builder(ctx.sockets(), ctx.workers(), ctx.config()::snapshot, upstreams,
                        engine, self(f), ctx.state(), ctx.metrics())
                .provider(ctx.tls().provider())
                // ISTIO_MUTUAL servers: SDS "default" and "ROOTCA" are the gateway's own certificate and mesh root.
                .meshIdentity(() -> ctx.certificates().current(ctx.identity()).orElse(null), ctx.tls().trustBundle())
                .bindAddress(listen)
                .drainTimeout(f.drainTimeout())
                .build();
        ctx.config().onChange(server::reconcile);
        server.reconcile();
        return new GatewayDataPath(server, upstreams);
    }

    /**
     * The gateway as a workload, for its telemetry: {@code source_workload} = {@code --name} (the
     * gateway's Deployment), its namespace, service account and trust domain (its SPIFFE ID), its
     * canonical service and revision from its labels as Istio derives them.
     */
    static Workload self(WaypointFlags f) {
        Map<String, String> labels = f.labels();
        String canonical = labels.getOrDefault("service.istio.io/canonical-name",
                labels.getOrDefault("app.kubernetes.io/name", labels.getOrDefault("app", f.name())));
        String revision = labels.getOrDefault("service.istio.io/canonical-revision",
                labels.getOrDefault("app.kubernetes.io/version", labels.getOrDefault("version", "latest")));
        return Workload.newBuilder()
                .setName(f.podName())
                .setWorkloadName(f.name())
                .setNamespace(f.namespace())
                .setServiceAccount(f.serviceAccount())
                .setTrustDomain(f.trustDomain())
                .setCanonicalName(canonical)
                .setCanonicalRevision(revision)
                .setClusterId(f.clusterId())
                .setTunnelProtocol(TunnelProtocol.NONE)
                .build();
    }

    @Override
    public CompletableFuture<Integer> drain(Duration deadline) {
        return server.drain(deadline);
    }

    @Override
    public void close() {
        server.close();
        upstreams.close();
    }

    @Override
    public String toString() {
        return "gateway listeners " + server.boundAddresses();
    }
}
