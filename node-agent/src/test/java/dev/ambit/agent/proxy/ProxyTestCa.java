package dev.ambit.agent.proxy;

import dev.ambit.agent.identity.CaClient;
import dev.ambit.agent.identity.TrustBundle;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.ca.CaService;
import dev.ambit.istiod.ca.CertificateAuthority;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.istiod.model.MeshResources;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * (As the identity package's TestCa.) The real istiod-lite CA, in process, over a real (plaintext) gRPC loopback connection, with
 * node-1's credential issued into a token file the way the agent would find it.
 */
final class ProxyTestCa implements AutoCloseable {

    static final String TRUST_DOMAIN = "cluster.local";
    static final SpiffeId FRONTEND = SpiffeId.of(TRUST_DOMAIN, "shop", "frontend");
    static final SpiffeId BACKEND = SpiffeId.of(TRUST_DOMAIN, "shop", "backend");
    static final SpiffeId ELSEWHERE = SpiffeId.of(TRUST_DOMAIN, "shop", "payments");

    final CertificateAuthority ca;
    final MetricsRegistry caMetrics = MetricsRegistry.create();
    final AtomicReference<MeshResources> model = new AtomicReference<>();
    final Path credentials;
    final Path tokenFile;
    final Server server;
    final ManagedChannel channel;

    ProxyTestCa(Path dir, Duration leafLifetime) throws IOException {
        ca = CertificateAuthority.builder(dir.resolve("ca")).trustDomain(TRUST_DOMAIN).leafLifetime(leafLifetime)
                .build();
        credentials = dir.resolve("node-credentials");
        tokenFile = dir.resolve("agent/token");
        NodeCredentials.issue(credentials, "node-1", tokenFile);
        NodeCredentials authenticator = NodeCredentials.load(credentials);
        placeOnNode(FRONTEND, BACKEND);
        server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(CaService.of(ca, authenticator, model::get, caMetrics).serviceDefinition())
                .build()
                .start();
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                server.getPort())).usePlaintext().build();
    }

    /** From now on, exactly these identities run on node-1. */
    void placeOnNode(SpiffeId... identities) {
        model.set(new MeshResources(Map.of(), Map.of(), Map.of("node-1", Set.of(identities)), List.of()));
    }

    double signed() {
        return caMetrics.value("ambit_istiod_certificates_signed_total");
    }

    TrustBundle bundle() {
        return TrustBundle.of(TRUST_DOMAIN, ca.roots());
    }

    CaClient.Builder client() {
        return CaClient.builder(channel, tokenFile);
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
