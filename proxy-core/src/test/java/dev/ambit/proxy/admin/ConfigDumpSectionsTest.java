package dev.ambit.proxy.admin;

import static dev.ambit.proxy.identity.TestCa.BACKEND;
import static dev.ambit.proxy.identity.TestCa.FRONTEND;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import dev.ambit.testing.MeshFixture;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigDumpSectionsTest {

    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    @TempDir
    Path dir;

    private final ProxyState state = ProxyState.create();
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
    }

    private AdminServer start(AdminServer.Builder builder) {
        AdminServer server = builder.address(ANY_LOOPBACK).start();
        closeables.add(server);
        return server;
    }

    /** The state's sections, under the node agent's names. */
    private AdminServer.Builder stateSections() {
        return AdminServer.builder()
                .section("generation", ConfigDumpSections.generation(state))
                .section("workloads", ConfigDumpSections.workloads(state))
                .section("services", ConfigDumpSections.services(state))
                .section("policies", ConfigDumpSections.policies(state));
    }

    private static JsonObject json(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    @Test
    void configDumpShowsWorkloadsServicesPoliciesCertificatesAndXds() throws Exception {
        state.applyAddresses(MeshFixture.addresses(), List.of());
        state.applyAuthorizations(MeshFixture.authorizations(), List.of());
        TestCa ca = new TestCa(dir, Duration.ofHours(1));
        closeables.add(ca);
        CertificateManager manager = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create())
                .build();
        closeables.add(manager);
        WorkloadCertificate issued = manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);
        AtomicReference<ConfigDumpSections.XdsStatus> xds =
                new AtomicReference<>(new ConfigDumpSections.XdsStatus(true, true, "bad resource shop/x"));

        AdminServer admin = start(stateSections()
                .section("certificates", ConfigDumpSections.certificates(manager))
                .section("xds", ConfigDumpSections.xds(xds::get)));
        JsonObject dump = json(Http.get(admin.localAddress(), "/config_dump"));

        assertThat(dump.get("generation").getAsLong()).isEqualTo(state.generation()).isPositive();

        JsonObject workloads = dump.getAsJsonObject("workloads");
        assertThat(workloads.keySet()).containsExactly(MeshFixture.uid("backend-1"), MeshFixture.uid("backend-2"),
                MeshFixture.uid("backend-3"), MeshFixture.uid("frontend"));
        JsonObject backend2 = workloads.getAsJsonObject(MeshFixture.uid("backend-2"));
        // Protobuf JSON: camelCase field names, enum names, bytes in base64.
        assertThat(backend2.get("name").getAsString()).isEqualTo("backend-2");
        assertThat(backend2.get("status").getAsString()).isEqualTo("UNHEALTHY");
        assertThat(backend2.get("serviceAccount").getAsString()).isEqualTo("backend");
        assertThat(backend2.getAsJsonArray("addresses")).hasSize(2);
        assertThat(backend2.getAsJsonObject("services").keySet()).containsExactly(MeshFixture.BACKEND);

        JsonObject services = dump.getAsJsonObject("services");
        assertThat(services.keySet()).containsExactly(MeshFixture.BACKEND, MeshFixture.FRONTEND);
        assertThat(services.getAsJsonObject(MeshFixture.BACKEND).get("hostname").getAsString())
                .isEqualTo("backend.shop.svc.cluster.local");
        assertThat(services.getAsJsonObject(MeshFixture.BACKEND).getAsJsonArray("ports")).hasSize(2);

        JsonObject policies = dump.getAsJsonObject("policies");
        assertThat(policies.keySet()).containsExactlyInAnyOrderElementsOf(MeshFixture.authorizations().keySet());
        assertThat(policies.getAsJsonObject("istio-system/global-deny").get("scope").getAsString())
                .isEqualTo("GLOBAL");

        JsonArray certificates = dump.getAsJsonArray("certificates");
        assertThat(certificates).hasSize(1);
        JsonObject cert = certificates.get(0).getAsJsonObject();
        assertThat(cert.get("identity").getAsString()).isEqualTo(FRONTEND.uri());
        assertThat(cert.get("state").getAsString()).isEqualTo("valid");
        assertThat(cert.get("serial").getAsString()).isEqualTo(issued.serialNumber().toString(16));
        assertThat(Instant.parse(cert.get("notBefore").getAsString())).isEqualTo(issued.notBefore());
        assertThat(Instant.parse(cert.get("notAfter").getAsString())).isEqualTo(issued.notAfter());
        assertThat(cert.get("secondsToExpiry").getAsLong()).isBetween(3_000L, 3_600L);
        assertThat(cert.get("chainLength").getAsInt()).isEqualTo(issued.chain().size()).isPositive();

        JsonObject xdsJson = dump.getAsJsonObject("xds");
        assertThat(xdsJson.get("connected").getAsBoolean()).isTrue();
        assertThat(xdsJson.get("synced").getAsBoolean()).isTrue();
        assertThat(xdsJson.get("lastNack").getAsString()).isEqualTo("bad resource shop/x");

        // Read per request: changes show up in the next dump.
        xds.set(new ConfigDumpSections.XdsStatus(false, true, ""));
        state.applyAddresses(Map.of(), List.of(MeshFixture.uid("backend-3")));
        manager.forget(FRONTEND);
        dump = json(Http.get(admin.localAddress(), "/config_dump"));
        assertThat(dump.getAsJsonObject("workloads").keySet()).doesNotContain(MeshFixture.uid("backend-3"));
        assertThat(dump.getAsJsonObject("xds").get("connected").getAsBoolean()).isFalse();
        assertThat(dump.getAsJsonArray("certificates")).isEmpty();
    }

    @Test
    void configDumpReportsATrackedIdentityWithoutCertificateAsPending() throws Exception {
        TestCa ca = new TestCa(dir, Duration.ofHours(1));
        closeables.add(ca);
        ca.placeOnNode(FRONTEND); // BACKEND is not on node-1: the CA refuses it, retries continue.
        CertificateManager manager = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create())
                .backoff(Duration.ofMinutes(1), Duration.ofMinutes(1))
                .build();
        closeables.add(manager);
        manager.fetch(BACKEND).handle((c, e) -> null).get(10, TimeUnit.SECONDS);

        AdminServer admin = start(AdminServer.builder().section("certificates", ConfigDumpSections.certificates(manager)));
        JsonObject dump = json(Http.get(admin.localAddress(), "/config_dump"));

        JsonObject cert = dump.getAsJsonArray("certificates").get(0).getAsJsonObject();
        assertThat(cert.get("identity").getAsString()).isEqualTo(BACKEND.uri());
        assertThat(cert.get("state").getAsString()).isEqualTo("pending");
        assertThat(cert.has("serial")).isFalse();
    }

    @Test
    void configDumpOfAnEmptyAgentWithARealXdsClient() throws Exception {
        ManagedChannel nowhere = NettyChannelBuilder.forAddress("127.0.0.1", 1).usePlaintext().build();
        closeables.add(nowhere::shutdownNow);
        XdsClient xds = XdsClient.builder(nowhere).handlers(state.handlers()).build();
        closeables.add(xds);

        CertificateManager manager = CertificateManager.builder(id -> new CompletableFuture<>())
                .metrics(MetricsRegistry.create())
                .build();
        closeables.add(manager);

        AdminServer admin = start(stateSections()
                .section("certificates", ConfigDumpSections.certificates(manager))
                .section("xds", ConfigDumpSections.xds(xds)));
        JsonObject dump = json(Http.get(admin.localAddress(), "/config_dump"));

        assertThat(dump.getAsJsonObject("workloads").keySet()).isEmpty();
        assertThat(dump.getAsJsonObject("services").keySet()).isEmpty();
        assertThat(dump.getAsJsonObject("policies").keySet()).isEmpty();
        assertThat(dump.getAsJsonArray("certificates")).isEmpty();
        JsonObject xdsJson = dump.getAsJsonObject("xds");
        assertThat(xdsJson.get("connected").getAsBoolean()).isFalse();
        assertThat(xdsJson.get("synced").getAsBoolean()).isFalse();
        assertThat(xdsJson.get("lastNack").getAsString()).isEmpty();
    }

    @Test
    void configDumpShowsEachEndpointsPassiveHealth() throws Exception {
        dev.ambit.proxy.health.EndpointHealth health = dev.ambit.proxy.health.EndpointHealth.builder().build();
        health.failed(new dev.ambit.proxy.health.EndpointHealth.Key("Kubernetes//Pod/shop/web-b",
                new InetSocketAddress("10.244.2.2", 8080)), "connect");
        AdminServer admin = start(AdminServer.builder().section("endpoints", ConfigDumpSections.endpoints(health)));

        com.google.gson.JsonArray endpoints = json(Http.get(admin.localAddress(), "/config_dump"))
                .getAsJsonArray("endpoints");

        assertThat(endpoints).hasSize(1);
        JsonObject e = endpoints.get(0).getAsJsonObject();
        assertThat(e.get("address").getAsString()).isEqualTo("10.244.2.2:8080");
        assertThat(e.get("workload").getAsString()).isEqualTo("Kubernetes//Pod/shop/web-b");
        assertThat(e.get("state").getAsString()).isEqualTo("ejected");
        assertThat(e.get("ejected_for_ms").getAsLong()).isBetween(1L, 5_000L);
        assertThat(e.get("last_failure").getAsString()).isEqualTo("connect");
    }
}
