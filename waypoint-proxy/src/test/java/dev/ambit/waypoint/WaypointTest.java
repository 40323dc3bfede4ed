package dev.ambit.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.testing.InProcessCa;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wiring: a waypoint process (in this JVM) against a scripted ADS server: its identity on
 * the stream, the six subscriptions on one delta stream, Envoy's types validated into its
 * config (a bad route NACKed naming the field, the last good one kept), readiness naming what
 * it waits for, admin showing Envoy's dump.
 */
class WaypointTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir Path dir;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    @Test
    void identifiesItselfSubscribesValidatesAndReportsWhatItWaitsFor() throws Exception {
        // The mesh CA's root and a token file; the CA itself is not reached (see --ca-address).
        InProcessCa ca = new InProcessCa(dir, Duration.ofHours(1));
        closeables.add(ca);
        Path root = dir.resolve("ca/ambit-root-cert.pem");
        assertThat(root).exists();
        ScriptedAds ads = new ScriptedAds();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(ads).build().start();
        closeables.add(() -> server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));

        WaypointFlags flags = WaypointFlags.parse(Map.of(), "--namespace", "shop", "--name", "waypoint",
                "--pod-name", "waypoint-abc", "--pod-ip", "127.0.0.1",
                "--xds-address", "127.0.0.1:" + server.getPort(), "--plaintext",
                // Nothing answers there: the certificate stays pending (and readiness says so).
                "--ca-address", "127.0.0.1:1",
                "--root-cert", root.toString(), "--token-file", ca.tokenFile.toString(),
                "--listen-address", "127.0.0.1", "--admin-port", "0", "--stats-port", "0", "--ready-port", "0",
                "--hbone-port", "15008", "--worker-threads", "1", "--transport", "epoll");
        Waypoint waypoint = Waypoint.start(flags);
        closeables.add(waypoint);

        Map<String, DeltaDiscoveryRequest> first = new HashMap<>();
        for (int i = 0; i < 6; i++) {
            DeltaDiscoveryRequest r = ads.next();
            first.put(r.getTypeUrl(), r);
        }
        assertThat(first).containsOnlyKeys(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION, TypeUrls.LISTENER,
                TypeUrls.ROUTE_CONFIGURATION, TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT);
        DeltaDiscoveryRequest listeners = first.get(TypeUrls.LISTENER);
        assertThat(listeners.getResourceNamesSubscribeList()).as("wildcard").isEmpty();
        assertThat(listeners.getNode().getId()).isEqualTo("waypoint~127.0.0.1~waypoint-abc.shop~shop.svc.cluster.local");
        assertThat(listeners.getNode().getUserAgentName()).isEqualTo("ambit-waypoint");
        assertThat(listeners.getNode().getMetadata().getFieldsOrThrow("LABELS").getStructValue()
                .getFieldsOrThrow("gateway.networking.k8s.io/gateway-name").getStringValue()).isEqualTo("waypoint");
        assertThat(listeners.getNode().getMetadata().getFieldsOrThrow("GENERATOR").getStringValue()).isEqualTo("waypoint");

        String ready = "http://127.0.0.1:" + waypoint.readinessAddress().getPort() + "/healthz/ready";
        HttpResponse<String> notYet = get(ready);
        assertThat(notYet.statusCode()).isEqualTo(503);
        // The data path listens from the start (refusing connections until there is a certificate).
        assertThat(notYet.body()).contains("xds synced").contains("certificate").doesNotContain("data path listening");

        RouteConfiguration good = route(RouteAction.newBuilder().setCluster("outbound|80||a.shop.svc.cluster.local"));
        for (String type : List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION, TypeUrls.LISTENER, TypeUrls.CLUSTER,
                TypeUrls.CLUSTER_LOAD_ASSIGNMENT)) {
            ads.send(DeltaDiscoveryResponse.newBuilder().setTypeUrl(type).setNonce("n-" + type).build());
        }
        ads.send(response(TypeUrls.ROUTE_CONFIGURATION, "r1", "r", good));
        assertThat(waypoint.xds().awaitFirstSync(WAIT)).isTrue();
        assertThat(waypoint.config().current().route("r")).contains(good);

        RouteConfiguration bad = route(RouteAction.newBuilder().setCluster("c")
                .addHashPolicy(RouteAction.HashPolicy.newBuilder().setFilterState( // lb: other hash keys are honoured
                        RouteAction.HashPolicy.FilterState.newBuilder().setKey("k"))));
        ads.send(response(TypeUrls.ROUTE_CONFIGURATION, "r2", "r", bad));
        DeltaDiscoveryRequest nack = ads.nextWithNonce("r2");
        assertThat(nack.getErrorDetail().getMessage()).isEqualTo("RouteConfiguration r: virtual_hosts[0].routes[0]"
                + ".route.hash_policy[0].filter_state: not supported by this waypoint");
        assertThat(waypoint.config().current().route("r")).as("last good config").contains(good);

        HttpResponse<String> dump = get("http://127.0.0.1:" + waypoint.adminAddress().getPort() + "/config_dump");
        assertThat(dump.statusCode()).isEqualTo(200);
        assertThat(dump.body()).startsWith("{\"configs\":[{\"@type\":\"type.googleapis.com/envoy.admin.v3.ListenersConfigDump\"")
                .contains("\"dynamic_route_configs\":[{\"version_info\":\"")
                .contains("\"client_status\":\"NACKED\"")
                .contains("\"xds\":{\"connected\":true,\"synced\":true,\"lastNack\":\"RouteConfiguration r:");

        HttpResponse<String> stillNot = get(ready);
        assertThat(stillNot.statusCode()).isEqualTo(503);
        assertThat(stillNot.body()).doesNotContain("xds synced").contains("certificate");
    }

    @Test
    void gatewayModeSubscribesToSecretsAndBindsEachListenersPort() throws Exception {
        InProcessCa ca = new InProcessCa(dir, Duration.ofHours(1));
        closeables.add(ca);
        ScriptedAds ads = new ScriptedAds();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(ads).build().start();
        closeables.add(() -> server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        WaypointFlags flags = WaypointFlags.parse(Map.of(), "--mode", "gateway", "--namespace", "istio-system",
                "--name", "istio-ingressgateway", "--pod-name", "istio-ingressgateway-abc", "--pod-ip", "127.0.0.1",
                "--service-account", "istio-ingressgateway-service-account",
                "--label", "istio=ingressgateway", "--label", "app=istio-ingressgateway",
                "--xds-address", "127.0.0.1:" + server.getPort(), "--plaintext", "--ca-address", "127.0.0.1:1",
                "--root-cert", dir.resolve("ca/ambit-root-cert.pem").toString(), "--token-file",
                ca.tokenFile.toString(), "--listen-address", "127.0.0.1", "--admin-port", "0", "--stats-port", "0",
                "--ready-port", "0", "--worker-threads", "1", "--transport", "epoll");
        Waypoint gateway = Waypoint.start(flags);
        closeables.add(gateway);

        Map<String, DeltaDiscoveryRequest> first = new HashMap<>();
        for (int i = 0; i < 7; i++) {
            DeltaDiscoveryRequest r = ads.next();
            first.put(r.getTypeUrl(), r);
        }
        assertThat(first).containsOnlyKeys(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION, TypeUrls.LISTENER,
                TypeUrls.ROUTE_CONFIGURATION, TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, TypeUrls.SECRET);
        var node = first.get(TypeUrls.LISTENER).getNode();
        assertThat(node.getId()).isEqualTo("router~127.0.0.1~istio-ingressgateway-abc.istio-system~"
                + "istio-system.svc.cluster.local");
        assertThat(node.getUserAgentName()).isEqualTo("ambit-gateway");
        assertThat(node.getMetadata().getFieldsOrThrow("LABELS").getStructValue().getFieldsMap()).containsOnlyKeys(
                "app", "istio");

        String route = "http." + port;
        RouteConfiguration hello = RouteConfiguration.newBuilder().setName(route).addVirtualHosts(VirtualHost
                .newBuilder().setName("*:" + port).addDomains("*").addRoutes(Route.newBuilder()
                        .setMatch(RouteMatch.newBuilder().setPrefix("/")).setDirectResponse(
                                io.envoyproxy.envoy.config.route.v3.DirectResponseAction.newBuilder().setStatus(200)
                                        .setBody(io.envoyproxy.envoy.config.core.v3.DataSource.newBuilder()
                                                .setInlineString("hello from the gateway"))))).build();
        ads.send(response(TypeUrls.ROUTE_CONFIGURATION, "r1", route, hello));
        ads.send(response(TypeUrls.LISTENER, "l1", "0.0.0.0_" + port, dev.ambit.waypoint.gateway.GatewayResources
                .listener(port, dev.ambit.waypoint.gateway.GatewayResources.httpChain(route))));
        ads.nextWithNonce("l1");
        HttpResponse<String> r = null;
        for (int i = 0; i < 50 && r == null; i++) {
            try {
                r = get("http://127.0.0.1:" + port + "/");
            } catch (java.io.IOException e) {
                Thread.sleep(100); // the ACK may precede the bind by a moment
            }
        }
        assertThat(r).isNotNull();
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("hello from the gateway");
        assertThat(get("http://127.0.0.1:" + gateway.adminAddress().getPort() + "/config_dump").body())
                .contains("\"name\":\"0.0.0.0_" + port + "\"", "envoy.admin.v3.SecretsConfigDump",
                        "\"gatewayListeners\":[{\"name\":\"0.0.0.0_" + port + "\",\"port\":" + port);
    }

    /**
     * Tracing (issue 19) wired into the process: a gateway whose HCM has {@code tracing} (Zipkin
     * provider, 0 %) exports the span of a request that arrived sampled to the collector
     * its EDS names for the collector cluster, with the gateway's service name.
     */
    @Test
    void gatewaySpansGoToTheCollectorItsEdsNamesForTheTracingCluster() throws Exception {
        java.util.List<String> posted = new java.util.concurrent.CopyOnWriteArrayList<>();
        com.sun.net.httpserver.HttpServer collector = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        collector.createContext("/api/v2/spans", exchange -> {
            try (exchange) {
                posted.add(new String(exchange.getRequestBody().readAllBytes(),
                        java.nio.charset.StandardCharsets.UTF_8));
                exchange.sendResponseHeaders(202, -1);
            }
        });
        collector.start();
        closeables.add(() -> collector.stop(0));
        InProcessCa ca = new InProcessCa(dir, Duration.ofHours(1));
        closeables.add(ca);
        ScriptedAds ads = new ScriptedAds();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(ads).build().start();
        closeables.add(() -> server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Waypoint gateway = Waypoint.start(WaypointFlags.parse(Map.of(), "--mode", "gateway", "--namespace",
                "istio-system", "--name", "istio-ingressgateway", "--pod-name", "istio-ingressgateway-abc",
                "--pod-ip", "127.0.0.1", "--label", "istio=ingressgateway",
                "--xds-address", "127.0.0.1:" + server.getPort(), "--plaintext", "--ca-address", "127.0.0.1:1",
                "--root-cert", dir.resolve("ca/ambit-root-cert.pem").toString(), "--token-file",
                ca.tokenFile.toString(), "--listen-address", "127.0.0.1", "--admin-port", "0", "--stats-port", "0",
                "--ready-port", "0", "--worker-threads", "1", "--transport", "epoll"));
        closeables.add(gateway);
        for (int i = 0; i < 7; i++) {
            ads.next();
        }

        String zipkin = "outbound|9411||zipkin.istio-system.svc.cluster.local";
        ads.send(response(TypeUrls.CLUSTER, "c1", zipkin, dev.ambit.waypoint.gateway.GatewayResources.cluster(zipkin)));
        ads.send(response(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, "e1", zipkin, dev.ambit.waypoint.gateway.GatewayResources
                .endpoints(zipkin, collector.getAddress())));
        String route = "http." + port;
        ads.send(response(TypeUrls.ROUTE_CONFIGURATION, "r1", route, RouteConfiguration.newBuilder().setName(route)
                .addVirtualHosts(VirtualHost.newBuilder().setName("*:" + port).addDomains("*").addRoutes(Route
                        .newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/")).setDirectResponse(
                                io.envoyproxy.envoy.config.route.v3.DirectResponseAction.newBuilder()
                                        .setStatus(200)))).build()));
        var hcm = dev.ambit.waypoint.gateway.GatewayResources.hcm(route).toBuilder().setTracing(
                io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                        .Tracing.newBuilder()
                        .setRandomSampling(io.envoyproxy.envoy.type.v3.Percent.newBuilder().setValue(0))
                        .setProvider(io.envoyproxy.envoy.config.trace.v3.Tracing.Http.newBuilder()
                                .setName("envoy.tracers.zipkin").setTypedConfig(Any.pack(
                                        io.envoyproxy.envoy.config.trace.v3.ZipkinConfig.newBuilder()
                                                .setCollectorCluster(zipkin).setCollectorEndpoint("/api/v2/spans")
                                                .setCollectorEndpointVersion(io.envoyproxy.envoy.config.trace.v3
                                                        .ZipkinConfig.CollectorEndpointVersion.HTTP_JSON)
                                                .setTraceId128Bit(true)
                                                .setSharedSpanContext(com.google.protobuf.BoolValue.of(false))
                                                .setCollectorHostname("zipkin.istio-system.svc.cluster.local")
                                                .build())))).build();
        ads.send(response(TypeUrls.LISTENER, "l1", "0.0.0.0_" + port, dev.ambit.waypoint.gateway.GatewayResources
                .listener(port, io.envoyproxy.envoy.config.listener.v3.FilterChain.newBuilder().setName(route)
                        .addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
                                .setName("envoy.filters.network.http_connection_manager")
                                .setTypedConfig(Any.pack(hcm))).build())));
        DeltaDiscoveryRequest ack = ads.nextWithNonce("l1");
        assertThat(ack.hasErrorDetail()).as("LDS %s", ack.getErrorDetail()).isFalse();

        String trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        String caller = "00f067aa0ba902b7";
        HttpResponse<String> r = null;
        for (int i = 0; i < 50 && r == null; i++) {
            try {
                r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/productpage")).header("traceparent", "00-" + trace + "-" + caller + "-01").timeout(WAIT)
                        .build(), HttpResponse.BodyHandlers.ofString());
            } catch (java.io.IOException e) {
                Thread.sleep(100); // the ACK may precede the bind by a moment
            }
        }
        assertThat(r).isNotNull();
        assertThat(r.statusCode()).isEqualTo(200);
        long end = System.nanoTime() + WAIT.toNanos();
        while (posted.stream().noneMatch(b -> b.contains(trace)) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        var spans = new com.fasterxml.jackson.databind.ObjectMapper().readTree(posted.stream()
                .filter(b -> b.contains(trace)).findFirst().orElseThrow(() -> new AssertionError("no span posted")));
        var span = spans.get(0);
        assertThat(span.get("traceId").asText()).isEqualTo(trace);
        assertThat(span.get("parentId").asText()).isEqualTo(caller);
        // A gateway traces as an outbound proxy (Istio's gateways: CLIENT), named as Envoy names it.
        assertThat(span.get("kind").asText()).isEqualTo("CLIENT");
        assertThat(span.get("name").asText()).isEqualTo("127.0.0.1:" + port + "/*");
        assertThat(span.get("localEndpoint").get("serviceName").asText()).isEqualTo("istio-ingressgateway.istio-system");
        assertThat(span.get("tags").get("http.status_code").asText()).isEqualTo("200");
    }

    private static RouteConfiguration route(RouteAction.Builder action) {
        return RouteConfiguration.newBuilder().setName("r").addVirtualHosts(VirtualHost.newBuilder().setName("v")
                .addDomains("*").addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                        .setRoute(action))).build();
    }

    private static DeltaDiscoveryResponse response(String type, String nonce, String name, Message resource) {
        return DeltaDiscoveryResponse.newBuilder().setTypeUrl(type).setNonce(nonce)
                .addResources(Resource.newBuilder().setName(name).setVersion(nonce).setResource(Any.pack(resource)))
                .build();
    }

    private static HttpResponse<String> get(String url) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).timeout(WAIT).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** An ADS server that records every request and sends what the test says on the latest stream. */
    private static final class ScriptedAds extends AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase {
        final BlockingQueue<DeltaDiscoveryRequest> requests = new LinkedBlockingQueue<>();
        private volatile StreamObserver<DeltaDiscoveryResponse> responses;

        @Override
        public StreamObserver<DeltaDiscoveryRequest> deltaAggregatedResources(
                StreamObserver<DeltaDiscoveryResponse> responses) {
            this.responses = responses;
            return new StreamObserver<>() {
                @Override
                public void onNext(DeltaDiscoveryRequest request) {
                    requests.add(request);
                }

                @Override
                public void onError(Throwable t) {}

                @Override
                public void onCompleted() {
                    responses.onCompleted();
                }
            };
        }

        DeltaDiscoveryRequest next() throws InterruptedException {
            DeltaDiscoveryRequest r = requests.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(r).as("a request within " + WAIT).isNotNull();
            return r;
        }

        DeltaDiscoveryRequest nextWithNonce(String nonce) throws InterruptedException {
            while (true) {
                DeltaDiscoveryRequest r = next();
                if (r.getResponseNonce().equals(nonce)) {
                    return r;
                }
            }
        }

        synchronized void send(DeltaDiscoveryResponse response) {
            responses.onNext(response);
        }
    }
}
