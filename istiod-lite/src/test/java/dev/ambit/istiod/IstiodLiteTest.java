package dev.ambit.istiod;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.ca.IstioCertificateRequest;
import dev.ambit.api.ca.IstioCertificateResponse;
import dev.ambit.api.ca.IstioCertificateServiceGrpc;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.istiod.ca.CaTestSupport;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.istiod.xds.XdsTestClient;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole control plane in-process over real sockets: a config folder, delta xDS on
 * the plaintext port, the CA over TLS, monitoring. Edits to the folder must reach the
 * client as exactly the changed resources.
 */
class IstiodLiteTest {

    private static final String FRONTEND = "Kubernetes//Pod/shop/frontend-7d9f8b6c5-x2k8p";
    private static final String BACKEND = "Kubernetes//Pod/shop/backend-5c4f7d8e9-qq7zt";

    @TempDir
    Path tmp;

    private IstiodLite istiod;
    private ManagedChannel channel;
    private Path configDir;
    private String node1Token;

    @BeforeEach
    void start() throws Exception {
        configDir = Files.createDirectories(tmp.resolve("config"));
        try (var files = Files.list(Fixtures.root().resolve("frontend-backend"))) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, configDir.resolve(f.getFileName()));
            }
        }
        Path credentials = tmp.resolve("node-credentials");
        node1Token = NodeCredentials.issue(credentials, "node-1", tmp.resolve("node-1.token"));
        istiod = IstiodLite.start(IstiodConfig.parse(
                "--config-dir", configDir.toString(), "--listen-address", "127.0.0.1",
                "--xds-port", "0", "--secure-port", "0", "--monitoring-port", "0",
                "--ca-dir", tmp.resolve("ca").toString(), "--node-credentials", credentials.toString(),
                "--debounce", "20ms", "--max-debounce", "200ms", "--cert-ttl", "1h"));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", istiod.xdsPort()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (istiod != null) {
            istiod.close();
        }
    }

    @Test
    void folderEditsReachClientsAsExactlyTheChangedResources() throws Exception {
        try (XdsTestClient client = XdsTestClient.connect(channel, "node-agent~10.0.0.1~node-1")) {
            client.subscribeAll(TypeUrls.ADDRESS);
            DeltaDiscoveryResponse addresses = client.next();
            assertThat(addresses.getTypeUrl()).isEqualTo(TypeUrls.ADDRESS);
            assertThat(XdsTestClient.names(addresses))
                    .containsExactlyInAnyOrderElementsOf(istiod.model().addresses().keySet())
                    .contains(FRONTEND, BACKEND, "shop/backend.shop.svc.cluster.local");
            client.ack(addresses);
            client.subscribeAll(TypeUrls.AUTHORIZATION);
            DeltaDiscoveryResponse policies = client.next();
            assertThat(XdsTestClient.names(policies)).containsExactlyInAnyOrder(
                    "shop/backend-allow-frontend", "istio-system/istio_converted_static_strict");
            client.ack(policies);

            // One pod's label changes: that workload, nothing else, no policy push.
            edit("workloads.yaml", "labels: {app: frontend, version: v1,", "labels: {app: frontend, version: v3,");
            DeltaDiscoveryResponse change = client.next();
            assertThat(change.getTypeUrl()).isEqualTo(TypeUrls.ADDRESS);
            assertThat(XdsTestClient.names(change)).containsExactly(FRONTEND);
            assertThat(change.getRemovedResourcesList()).isEmpty();
            assertThat(change.getResources(0).getResource().unpack(dev.ambit.api.workload.Address.class)
                    .getWorkload().getCanonicalRevision()).isEqualTo("v3");

            // A NACK is logged and counted; the stream stays and later changes still arrive.
            client.nack(change, "cannot apply (test)");
            client.expectNothing(Duration.ofMillis(300));
            String workloads = Files.readString(configDir.resolve("workloads.yaml"));
            int start = workloads.indexOf("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: backend");
            int end = workloads.indexOf("---", start + 3);
            Files.writeString(configDir.resolve("workloads.yaml"), workloads.substring(0, start) + workloads.substring(end));
            DeltaDiscoveryResponse removal = client.next();
            assertThat(removal.getRemovedResourcesList()).containsExactly(BACKEND);
            assertThat(removal.getResourcesList()).isEmpty();
            assertThat(client.isClosed()).isFalse();
            assertThat(istiod.metrics().value("ambit_istiod_xds_nacks_total", "istio.workload.Address")).isEqualTo(1);
        }
    }

    @Test
    void invalidEditFailsClosedAndARestartServesTheSamePolicy() throws Exception {
        edit("policies.yaml", "action: ALLOW", "action: PERMIT");
        String rejected = awaitBody("/debug/config", "spec.action");
        assertThat(rejected).contains("policies.yaml").contains("AuthorizationPolicy shop/backend-allow-frontend")
                .contains("PERMIT").contains("fail closed: all traffic denied to workloads in namespace shop");
        // Not the old ALLOW kept in memory: a DENY of every connection to the selected backend.
        Authorization served = awaitAuthorization("shop/backend-allow-frontend", a -> a.getAction() == Action.DENY);
        assertThat(served.getScope()).isEqualTo(Scope.WORKLOAD_SELECTOR);
        assertThat(served.getRulesList()).containsExactly(Rule.getDefaultInstance());
        assertThat(istiod.model().addresses().get(BACKEND).getWorkload().getAuthorizationPoliciesList())
                .contains("shop/backend-allow-frontend");
        assertThat(get("/metrics"))
                .contains("ambit_istiod_config_rejected_total{source=\"folder\",kind=\"AuthorizationPolicy\"} 1")
                .contains("ambit_istiod_config_fail_closed_objects 1");

        var before = served();
        restart();
        assertThat(served()).isEqualTo(before);
        assertThat(get("/debug/config")).contains("spec.action").contains("fail closed");
    }

    @Test
    void invalidSecurityFilesPresentAtStartFailClosed() throws Exception {
        istiod.close();
        istiod = null;
        // The namespace-wide PeerAuthentication becomes OPTIONAL (not a mode), and a new
        // namespace-wide ALLOW with a broken selector appears in legacy.
        edit("policies.yaml", "mtls: {mode: STRICT}", "mtls: {mode: OPTIONAL}");
        Files.writeString(configDir.resolve("legacy-policy.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: legacy-allow, namespace: legacy}
                spec:
                  selector: {matchLabels: {"run/x/y": client}}
                  rules: [{}]
                """);
        Files.writeString(configDir.resolve("broken.yaml"), """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: x, namespace: legacy
                """);
        restart();
        String config = get("/debug/config");
        assertThat(config).contains("policies.yaml").contains("PeerAuthentication shop/default")
                .contains("spec.mtls.mode").contains("OPTIONAL").contains("fail closed: mTLS STRICT for every workload in namespace shop");
        assertThat(config).contains("legacy-policy.yaml").contains("spec.selector.matchLabels.run/x/y")
                .contains("an ALLOW policy that allows nothing for every workload in namespace legacy");
        assertThat(config).contains("broken.yaml").contains("invalid YAML")
                .contains("fail closed: mTLS STRICT for every workload in namespace legacy");
        // shop's workloads are STRICT; legacy's client is STRICT too (the unreadable file) and
        // under an ALLOW-nothing policy for its whole namespace.
        String strict = "istio-system/istio_converted_static_strict";
        assertThat(istiod.model().addresses().get(FRONTEND).getWorkload().getAuthorizationPoliciesList()).contains(strict);
        assertThat(istiod.model().addresses().get("Kubernetes//Pod/legacy/client").getWorkload()
                .getAuthorizationPoliciesList()).contains(strict);
        Authorization legacy = istiod.model().authorizations().get("legacy/legacy-allow");
        assertThat(legacy.getAction()).isEqualTo(Action.ALLOW);
        assertThat(legacy.getScope()).isEqualTo(Scope.NAMESPACE);
        assertThat(legacy.getRulesList()).isEmpty();
        assertThat(get("/metrics")).contains("ambit_istiod_config_fail_closed_objects 3");
    }

    /** What a real delta xDS client receives: every resource by type and name, serialized. */
    private java.util.Map<String, com.google.protobuf.ByteString> served() throws Exception {
        java.util.Map<String, com.google.protobuf.ByteString> out = new java.util.TreeMap<>();
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", istiod.xdsPort()).usePlaintext().build();
        try (XdsTestClient client = XdsTestClient.connect(ch, "restart-check")) {
            for (String type : List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION)) {
                client.subscribeAll(type);
                DeltaDiscoveryResponse r = client.next();
                assertThat(r.getTypeUrl()).isEqualTo(type);
                r.getResourcesList().forEach(res -> out.put(type + " " + res.getName(), res.getResource().getValue()));
                client.ack(r);
            }
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        return out;
    }

    private void restart() throws Exception {
        if (istiod != null) {
            istiod.close();
        }
        istiod = IstiodLite.start(IstiodConfig.parse(
                "--config-dir", configDir.toString(), "--listen-address", "127.0.0.1",
                "--xds-port", "0", "--secure-port", "0", "--monitoring-port", "0",
                "--ca-dir", tmp.resolve("ca").toString(), "--node-credentials", tmp.resolve("node-credentials").toString(),
                "--debounce", "20ms", "--max-debounce", "200ms", "--cert-ttl", "1h"));
    }

    private Authorization awaitAuthorization(String name, java.util.function.Predicate<Authorization> condition)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Authorization a;
        do {
            a = istiod.model().authorizations().get(name);
            if (a != null && condition.test(a)) {
                return a;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("authorization " + name + " never matched; last: " + a);
    }

    @Test
    void caSignsOverTlsForPodsOnTheCallersNodeOnly() throws Exception {
        X509Certificate root = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(
                new ByteArrayInputStream(get("/debug/trust-bundle").getBytes(StandardCharsets.US_ASCII)));
        ManagedChannel tls = NettyChannelBuilder.forAddress("127.0.0.1", istiod.securePort())
                .overrideAuthority("istiod.istio-system.svc")
                .sslContext(GrpcSslContexts.forClient().trustManager(root).build())
                .build();
        try {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + node1Token);
            var ca = IstioCertificateServiceGrpc.newBlockingStub(tls)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(10, TimeUnit.SECONDS);
            KeyPair key = CaTestSupport.p256();
            String frontend = "spiffe://cluster.local/ns/shop/sa/frontend";
            IstioCertificateResponse response = ca.createCertificate(IstioCertificateRequest.newBuilder()
                    .setCsr(CaTestSupport.csrPem(key, frontend))
                    .setMetadata(Struct.newBuilder().putFields("ImpersonatedIdentity",
                            Value.newBuilder().setStringValue(frontend).build()))
                    .build());
            List<X509Certificate> chain = CaTestSupport.parseChain(response.getCertChainList());
            assertThat(chain.getFirst().getSubjectAlternativeNames().stream().map(san -> (Object) san.get(1)).toList())
                    .containsExactly(frontend);
            CaTestSupport.assertValidatesTo(chain, root);

            // backend runs on node-2, not on the caller's node-1.
            String backend = "spiffe://cluster.local/ns/shop/sa/backend";
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> ca.createCertificate(
                            IstioCertificateRequest.newBuilder().setCsr(CaTestSupport.csrPem(key, backend)).build()))
                    .hasMessageContaining("PERMISSION_DENIED").hasMessageContaining("node-1");
            assertThat(get("/metrics")).contains("ambit_istiod_certificates_signed_total 1");
        } finally {
            tls.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aWaypointGetsItsEnvoyResourcesAndRouteEditsReachIt() throws Exception {
        Files.writeString(configDir.resolve("waypoint.yaml"), """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop, labels: {istio.io/waypoint-for: service}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: waypoint, namespace: shop, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
                spec:
                  selector: {gateway.networking.k8s.io/gateway-name: waypoint}
                  clusterIP: 10.96.0.99
                  clusterIPs: [10.96.0.99]
                  ports: [{name: mesh, port: 15008}]
                """);
        edit("namespaces.yaml", "    istio.io/dataplane-mode: ambient\n",
                "    istio.io/dataplane-mode: ambient\n    istio.io/use-waypoint: waypoint\n");
        String chain = "inbound-vip|8080|http|backend.shop.svc.cluster.local";
        awaitBody("/debug/l7?waypoint=shop/waypoint", chain);

        // As the waypoint identifies itself (CONTRACT.md): NAMESPACE + the gateway-name label.
        Struct labels = Struct.newBuilder().putFields("gateway.networking.k8s.io/gateway-name",
                Value.newBuilder().setStringValue("waypoint").build()).build();
        io.envoyproxy.envoy.config.core.v3.Node node = io.envoyproxy.envoy.config.core.v3.Node.newBuilder()
                .setId("waypoint~10.244.1.50~waypoint-5f6d7c8b9-abcde.shop~shop.svc.cluster.local")
                .setMetadata(Struct.newBuilder()
                        .putFields("NAMESPACE", Value.newBuilder().setStringValue("shop").build())
                        .putFields("GENERATOR", Value.newBuilder().setStringValue("waypoint").build())
                        .putFields("LABELS", Value.newBuilder().setStructValue(labels).build()))
                .build();
        try (XdsTestClient waypoint = XdsTestClient.connect(channel, node)) {
            waypoint.subscribeAll(TypeUrls.LISTENER);
            DeltaDiscoveryResponse lds = waypoint.next();
            assertThat(XdsTestClient.names(lds)).containsExactly("waypoint");
            assertThat(lds.getResources(0).getResource().unpack(io.envoyproxy.envoy.config.listener.v3.Listener.class)
                    .getFilterChainsList()).extracting(io.envoyproxy.envoy.config.listener.v3.FilterChain::getName)
                    .contains(chain);
            waypoint.ack(lds);
            waypoint.subscribe(TypeUrls.ROUTE_CONFIGURATION, chain);
            DeltaDiscoveryResponse rds = waypoint.next();
            assertThat(XdsTestClient.names(rds)).containsExactly(chain);
            waypoint.ack(rds);

            // A VirtualService for backend: the route is pushed to the waypoint.
            Files.writeString(configDir.resolve("backend-vs.yaml"), """
                    apiVersion: networking.istio.io/v1
                    kind: VirtualService
                    metadata: {name: backend, namespace: shop}
                    spec:
                      hosts: [backend]
                      http:
                      - name: slow
                        timeout: 3s
                        route:
                        - destination: {host: backend}
                    """);
            DeltaDiscoveryResponse pushed = waypoint.next();
            assertThat(pushed.getTypeUrl()).isEqualTo(TypeUrls.ROUTE_CONFIGURATION);
            var route = pushed.getResources(0).getResource()
                    .unpack(io.envoyproxy.envoy.config.route.v3.RouteConfiguration.class)
                    .getVirtualHosts(0).getRoutes(0);
            assertThat(route.getRoute().getTimeout().getSeconds()).isEqualTo(3);
            assertThat(awaitBody("/debug/clients", "\"proxy\":\"shop/waypoint\"")).contains("RouteConfiguration");
            assertThat(get("/metrics")).contains("ambit_istiod_model_waypoints 1");
        }
    }

    @Test
    void monitoringServesReadinessMetricsAndDebugViews() throws Exception {
        try (XdsTestClient client = XdsTestClient.connect(channel, "debug-node")) {
            client.subscribeAll(TypeUrls.ADDRESS);
            client.ack(client.next());
            assertThat(get("/ready")).isEqualTo("ready\n");
            assertThat(get("/debug/model")).contains(FRONTEND).contains("\"node-2\":[\"spiffe://cluster.local/ns/shop/sa/backend\"]");
            assertThat(awaitBody("/debug/clients", "ACKED")).contains("debug-node").contains(FRONTEND);
            assertThat(get("/metrics")).contains("ambit_istiod_xds_connected_clients 1")
                    .contains("ambit_istiod_xds_pushes_total{type=\"istio.workload.Address\"}")
                    .contains("ambit_istiod_model_rebuild_seconds_count");
        }
    }

    private void edit(String file, String from, String to) throws Exception {
        Path p = configDir.resolve(file);
        String content = Files.readString(p);
        assertThat(content).contains(from);
        Files.writeString(p, content.replace(from, to));
    }

    private String get(String path) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + istiod.monitoringPort() + path)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("GET %s", path).isEqualTo(200);
        return r.body();
    }

    /** Polls until the body contains {@code expected}, up to 10 s. */
    private String awaitBody(String path, String expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String body;
        do {
            body = get(path);
            if (body.contains(expected)) {
                return body;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        return body;
    }
}
