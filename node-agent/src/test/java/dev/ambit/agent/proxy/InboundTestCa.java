package dev.ambit.agent.proxy;

import dev.ambit.agent.identity.CaClient;
import dev.ambit.agent.identity.TrustBundle;
import dev.ambit.agent.identity.WorkloadCertificate;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.istiod.ca.CaService;
import dev.ambit.istiod.ca.CertificateAuthority;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.istiod.model.MeshResources;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The real istiod-lite CA in process, over a plaintext loopback gRPC connection, issuing
 * workload certificates to a real {@link CaClient} with node-1's credential: the
 * certificates the inbound proxy is tested with are the ones it would get in production.
 */
final class InboundTestCa implements AutoCloseable {

    static final String TRUST_DOMAIN = "cluster.local";
    static final SpiffeId FRONTEND = SpiffeId.of(TRUST_DOMAIN, "shop", "frontend");
    static final SpiffeId BACKEND = SpiffeId.of(TRUST_DOMAIN, "shop", "backend");
    static final SpiffeId PAYMENTS = SpiffeId.of(TRUST_DOMAIN, "shop", "payments");

    private final CertificateAuthority ca;
    private final Server server;
    private final ManagedChannel channel;
    private final CaClient client;

    InboundTestCa(Path dir) throws Exception {
        ca = CertificateAuthority.builder(dir.resolve("ca")).trustDomain(TRUST_DOMAIN)
                .leafLifetime(Duration.ofHours(1)).build();
        Path credentials = dir.resolve("node-credentials");
        Path tokenFile = dir.resolve("agent/token");
        NodeCredentials.issue(credentials, "node-1", tokenFile);
        MeshResources model = new MeshResources(Map.of(), Map.of(),
                Map.of("node-1", Set.of(FRONTEND, BACKEND, PAYMENTS)), List.of());
        server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(CaService.of(ca, NodeCredentials.load(credentials), () -> model,
                        dev.ambit.common.metrics.MetricsRegistry.create()).serviceDefinition())
                .build()
                .start();
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                server.getPort())).usePlaintext().build();
        client = CaClient.builder(channel, tokenFile).trustBundle(bundle()).build();
    }

    TrustBundle bundle() {
        return TrustBundle.of(TRUST_DOMAIN, ca.roots());
    }

    WorkloadCertificate issue(SpiffeId identity) throws Exception {
        return client.issue(identity).get(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        channel.shutdownNow();
        server.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
