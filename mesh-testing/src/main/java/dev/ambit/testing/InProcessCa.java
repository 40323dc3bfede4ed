package dev.ambit.testing;

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
 * The real istiod-lite CA, in process, over a real (plaintext) gRPC loopback connection, with
 * node-1's credential issued into a token file the way the agent would find it. Certificates
 * under test are the ones a proxy would get in production: ask for them with proxy-core's
 * {@code CaClient} over {@link #channel} with {@link #tokenFile}. proxy-core's tests wrap that
 * in their {@code TestCa}; this module stays free of proxy-core types so those tests can use it.
 */
public class InProcessCa implements AutoCloseable {

    public static final String TRUST_DOMAIN = "cluster.local";
    public static final SpiffeId FRONTEND = SpiffeId.of(TRUST_DOMAIN, "shop", "frontend");
    public static final SpiffeId BACKEND = SpiffeId.of(TRUST_DOMAIN, "shop", "backend");
    public static final SpiffeId ELSEWHERE = SpiffeId.of(TRUST_DOMAIN, "shop", "payments");

    public final CertificateAuthority ca;
    public final MetricsRegistry caMetrics = MetricsRegistry.create();
    public final AtomicReference<MeshResources> model = new AtomicReference<>();
    public final Path credentials;
    public final Path tokenFile;
    public final Server server;
    public final ManagedChannel channel;

    public InProcessCa(Path dir, Duration leafLifetime) throws IOException {
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
    public void placeOnNode(SpiffeId... identities) {
        model.set(new MeshResources(Map.of(), Map.of(), Map.of("node-1", Set.of(identities)), List.of()));
    }

    public double signed() {
        return caMetrics.value("ambit_istiod_certificates_signed_total");
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
