package dev.ambit.proxy.xds;

import static dev.ambit.testing.MeshFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.xds.XdsServer;
import dev.ambit.istiod.xds.XdsService;
import dev.ambit.proxy.state.Endpoint;
import dev.ambit.proxy.state.ProxyState;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What istiod-lite's real model makes of Kubernetes manifests (istiod-lite's
 * {@code frontend-backend} fixture, copied) arrives in the state as the data path needs
 * it: named target ports resolved, PeerAuthentication STRICT as a policy, names matching.
 */
class XdsClientModelTest {

    private static final MeshConfig MESH = MeshConfig.defaults();

    private XdsService service;
    private XdsServer server;
    private ManagedChannel channel;
    private XdsClient client;

    @AfterEach
    void close() throws InterruptedException {
        if (client != null) {
            client.close();
        }
        if (channel != null) {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.close();
        }
        if (service != null) {
            service.close();
        }
    }

    @Test
    void frontendBackendFixtureArrivesAsTheDataPathNeedsIt() throws Exception {
        service = XdsService.builder(MetricsRegistry.create()).debounce(Duration.ZERO, Duration.ZERO).build();
        service.update(AmbientModel.build(snapshot("frontend-backend"), MESH));
        server = XdsServer.builder(service)
                .address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .build()
                .start();
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.port()))
                .usePlaintext()
                .build();
        ProxyState state = ProxyState.create();
        client = XdsClient.builder(channel).handlers(state.handlers())
                .nodeId(XdsClient.istioNodeId("10.244.2.1", "ztunnel-node-2", "istio-system"))
                .build()
                .start();
        assertThat(client.awaitFirstSync(Duration.ofSeconds(10))).isTrue();

        Workload backend = state.workloadByAddress(ip("10.244.2.10"));
        assertThat(backend).isNotNull();
        assertThat(backend.getUid()).isEqualTo(AmbientModel.podUid(MESH, "shop", "backend-5c4f7d8e9-qq7zt"));
        assertThat(state.workload(backend.getUid())).isEqualTo(backend);

        Service backendService = state.serviceByVip(ip("10.96.0.20"), 8080);
        assertThat(backendService).isNotNull();
        assertThat(backendService.getName()).isEqualTo("backend");
        // targetPort: http-api, resolved per pod to its containerPort.
        List<Endpoint> endpoints = state.endpoints(backendService, 8080);
        assertThat(endpoints).extracting(e -> e.workload().getName(), Endpoint::targetPort)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("backend-5c4f7d8e9-qq7zt", 9090));
        assertThat(state.endpoints(state.serviceByVip(ip("10.96.0.10"), 80), 80))
                .extracting(Endpoint::targetPort).containsExactly(8080);

        String strict = MESH.rootNamespace() + "/istio_converted_static_strict";
        assertThat(names(state.policiesFor(backend))).containsExactlyInAnyOrder("shop/backend-allow-frontend", strict);
        assertThat(names(state.policiesFor(state.workloadByAddress(ip("10.244.1.10"))))).containsExactly(strict);
        // The legacy namespace has neither policies nor STRICT.
        assertThat(state.policiesFor(state.workloadByAddress(ip("10.244.1.20")))).isEmpty();
    }

    private static List<String> names(List<Authorization> policies) {
        return policies.stream().map(p -> p.getNamespace() + "/" + p.getName()).toList();
    }

    /** The snapshot a folder source delivers for a fixture under test resources. */
    private static ConfigSnapshot snapshot(String fixture) throws Exception {
        FolderSource.Reading read = FolderSource.readOnce(fixtureDir(fixture));
        assertThat(read.rejected()).as("rejected fixture input").isEmpty();
        assertThat(read.snapshot()).as("snapshot delivered by start()").isNotNull();
        return read.snapshot();
    }

    private static Path fixtureDir(String fixture) throws URISyntaxException {
        return Path.of(XdsClientModelTest.class.getResource("/fixtures/" + fixture).toURI());
    }
}
