package dev.ambit.proxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.common.http.HttpEndpoints.Response;
import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The shell: sections and routes a process registers, {@code /logging} with its loggers. */
class AdminServerTest {

    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private final List<AdminServer> servers = new ArrayList<>();
    // JUL is global: whatever a test changes is put back afterwards.
    private final JulSnapshot jul = JulSnapshot.take();

    @AfterEach
    void close() {
        servers.forEach(AdminServer::close);
        jul.restore();
    }

    private AdminServer start(AdminServer.Builder builder) {
        AdminServer server = builder.address(ANY_LOOPBACK).start();
        servers.add(server);
        return server;
    }

    private static JsonObject json(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    @Test
    void configDumpIsTheSectionsInRegistrationOrderWrittenPerRequest() throws Exception {
        AtomicInteger requests = new AtomicInteger();
        AdminServer admin = start(AdminServer.builder()
                .section("zeta", json -> json.value("last registered first"))
                .section("routes", json -> json.open('[').value("a").value("b").close(']'))
                .section("count", json -> json.value(requests.incrementAndGet()))
                .section("alpha", json -> json.open('{').key("nested").value(true).close('}')));

        HttpResponse<String> r = Http.get(admin.localAddress(), "/config_dump");
        JsonObject dump = json(r);

        assertThat(dump.keySet()).containsExactly("zeta", "routes", "count", "alpha");
        assertThat(r.body()).isEqualTo(
                "{\"zeta\":\"last registered first\",\"routes\":[\"a\",\"b\"],\"count\":1,\"alpha\":{\"nested\":true}}");
        assertThat(json(Http.get(admin.localAddress(), "/config_dump")).get("count").getAsInt()).isEqualTo(2);
    }

    @Test
    void withoutSectionsTheDumpIsAnEmptyObject() throws Exception {
        AdminServer admin = start(AdminServer.builder());

        assertThat(Http.get(admin.localAddress(), "/config_dump").body()).isEqualTo("{}");
    }

    @Test
    void aFailingSectionAnswers500NamingTheFailure() throws Exception {
        AdminServer admin = start(AdminServer.builder().section("broken", json -> {
            throw new IllegalStateException("store closed");
        }));

        HttpResponse<String> r = Http.get(admin.localAddress(), "/config_dump");

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.body()).contains("store closed");
    }

    @Test
    void sectionNamesAreUniqueAndNotBlank() {
        AdminServer.Builder b = AdminServer.builder().section("pods", json -> json.value(1));

        assertThatThrownBy(() -> b.section("pods", json -> json.value(2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("pods");
        assertThatThrownBy(() -> b.section(" ", json -> json.value(2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("blank");
    }

    @Test
    void loggingListsTheRootThenTheConfiguredLoggersThenOverriddenOnes() throws Exception {
        Logger.getLogger("").setLevel(Level.INFO);
        Logger.getLogger("test.waypoint.http").setLevel(Level.FINE);
        AdminServer admin = start(AdminServer.builder()
                .loggers(List.of("test.waypoint", "test.access"))
                .logLevels(new JulLogLevels()));

        JsonObject levels = json(Http.get(admin.localAddress(), "/logging")).getAsJsonObject("levels");

        assertThat(levels.keySet()).startsWith("root", "test.waypoint", "test.access").contains("test.waypoint.http");
        assertThat(levels.get("test.waypoint").getAsString()).isEqualTo("info");
        assertThat(levels.get("test.waypoint.http").getAsString()).isEqualTo("debug");

        levels = json(Http.post(admin.localAddress(), "/logging?test.waypoint=warn")).getAsJsonObject("levels");

        assertThat(levels.get("test.waypoint").getAsString()).isEqualTo("warn");
        assertThat(levels.get("test.access").getAsString()).isEqualTo("info");
        assertThat(Logger.getLogger("test.waypoint.x").isLoggable(Level.INFO))
                .isFalse();
    }

    @Test
    void withoutLoggersLoggingListsTheRootAndOverriddenOnes() throws Exception {
        AdminServer admin = start(AdminServer.builder().logLevels(LogLevels.readOnly("fake-backend", "read-only")));

        JsonObject logging = json(Http.get(admin.localAddress(), "/logging"));

        assertThat(logging.getAsJsonObject("levels").keySet()).first().isEqualTo("root");
        assertThat(logging.getAsJsonObject("levels").keySet()).doesNotContain("dev.ambit.agent");
    }

    @Test
    void extraRoutesAreServedBesideTheShellsOwn() throws Exception {
        AdminServer admin = start(AdminServer.builder()
                .route("GET", "/debug/routes", req -> Response.json("{\"routes\":" + req.query().size() + "}")));

        assertThat(json(Http.get(admin.localAddress(), "/debug/routes?a=1")).get("routes").getAsInt()).isEqualTo(1);
        assertThat(Http.get(admin.localAddress(), "/config_dump").statusCode()).isEqualTo(200);
    }

    @Test
    void routesCannotTakeTheShellsPathsOrRepeat() {
        AdminServer.Builder b = AdminServer.builder().route("GET", "/debug", req -> Response.text("ok\n"));

        assertThatThrownBy(() -> b.route("GET", "/config_dump", req -> Response.text("mine\n")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/config_dump");
        assertThatThrownBy(() -> b.route("PUT", "/logging", req -> Response.text("mine\n")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/logging");
        assertThatThrownBy(() -> b.route("GET", "/debug", req -> Response.text("again\n")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("GET /debug");
    }

    @Test
    void unknownPathIs404AndWrongMethodIs405() throws Exception {
        AdminServer admin = start(AdminServer.builder());

        assertThat(Http.get(admin.localAddress(), "/stats").statusCode()).isEqualTo(404);
        assertThat(Http.post(admin.localAddress(), "/config_dump").statusCode()).isEqualTo(405);
    }

    @Test
    void readinessWithAFalseSupplierAnswers503NamingIt() throws Exception {
        Readiness readiness = Readiness.builder()
                .condition("always", () -> true)
                .condition("routes loaded", () -> false)
                .build();
        try (StatsServer stats = StatsServer.builder(MetricsRegistry.create(), readiness)
                .statsAddress(ANY_LOOPBACK)
                .readinessAddress(ANY_LOOPBACK)
                .start()) {
            HttpResponse<String> r = Http.get(stats.readinessAddress(), "/healthz/ready");

            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.body()).isEqualTo("not ready:\nroutes loaded\n");
            assertThat(readiness.notReady()).containsExactly("routes loaded");
        }
    }
}
