package dev.ambit.proxy.admin;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.proxy.admin.ProxyLogging;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class LoggingEndpointTest {

    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    private static final String PROXY = "dev.ambit.agent.proxy";
    private static final String XDS = "dev.ambit.proxy.xds";
    /** The loggers {@code /logging} lists besides the root (a proxy's own list, as the node agent's). */
    private static final List<String> LOGGERS = List.of("dev.ambit.agent", PROXY, XDS, ProxyLogging.ACCESS_LOGGER);

    private final List<AdminServer> servers = new ArrayList<>();
    // JUL is global: whatever a test changes is put back afterwards.
    private final JulSnapshot jul = JulSnapshot.take();

    @AfterEach
    void close() {
        servers.forEach(AdminServer::close);
        jul.restore();
    }

    private AdminServer start(LogLevels levels) {
        AdminServer.Builder b = AdminServer.builder().loggers(LOGGERS).address(ANY_LOOPBACK);
        if (levels != null) {
            b.logLevels(levels);
        }
        AdminServer s = b.start();
        servers.add(s);
        return s;
    }

    private static JsonObject json(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    private static String level(JsonObject logging, String logger) {
        return logging.getAsJsonObject("levels").get(logger).getAsString();
    }

    // ---------------------------------------------------------------- the agent's backend: slf4j-jdk14

    @Test
    void detectsJavaUtilLoggingAsTheOneSlf4jBackend() {
        assertThat(LoggerFactory.getILoggerFactory().getClass().getName()).startsWith("org.slf4j.jul.");

        LogLevels levels = LogLevels.detect();

        assertThat(levels).isInstanceOf(JulLogLevels.class);
        assertThat(levels.backend()).isEqualTo("java.util.logging");
        assertThat(levels.unsupportedReason()).isNull();
    }

    @Test
    void changesTakeEffectAtOnceForSlf4jAndSystemLogger() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        ProxyLogging.configure("info", false, new PrintStream(captured, true, StandardCharsets.UTF_8));
        AdminServer admin = start(null); // detect(): JUL
        org.slf4j.Logger slf4j = LoggerFactory.getLogger(PROXY + ".Outbound");
        System.Logger system = System.getLogger(PROXY + ".Inbound");
        org.slf4j.Logger xds = LoggerFactory.getLogger(XDS + ".XdsClient");

        JsonObject before = json(Http.get(admin.localAddress(), "/logging"));
        assertThat(before.get("backend").getAsString()).isEqualTo("java.util.logging");
        assertThat(before.get("changeable").getAsBoolean()).isTrue();
        assertThat(level(before, PROXY)).isEqualTo("info");
        assertThat(level(before, ProxyLogging.ACCESS_LOGGER)).isEqualTo("info");
        assertThat(level(before, "io.grpc.netty")).isEqualTo("warn"); // configured, so listed
        slf4j.debug("before: slf4j");
        system.log(System.Logger.Level.DEBUG, "before: system");

        JsonObject after = json(Http.post(admin.localAddress(), "/logging?" + PROXY + "=debug"));

        assertThat(level(after, PROXY)).isEqualTo("debug");
        assertThat(level(after, XDS)).isEqualTo("info");
        slf4j.debug("after: slf4j");
        system.log(System.Logger.Level.DEBUG, "after: system");
        system.log(System.Logger.Level.TRACE, "after: system trace");
        xds.debug("after: xds");
        assertThat(captured.toString(StandardCharsets.UTF_8).lines().toList()).satisfiesExactly(
                l -> assertThat(l).endsWith(" DEBUG [" + Thread.currentThread().getName() + "] " + PROXY
                        + ".Outbound: after: slf4j"),
                l -> assertThat(l).endsWith(" " + PROXY + ".Inbound: after: system"));
    }

    @Test
    void levelTakesAWholeSpec() throws Exception {
        ProxyLogging.configure("info", false, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        AdminServer admin = start(null);

        JsonObject after = json(Http.post(admin.localAddress(),
                "/logging?level=warn," + PROXY + "=trace,io.grpc=error"));

        assertThat(level(after, "root")).isEqualTo("warn");
        assertThat(level(after, XDS)).isEqualTo("warn");
        assertThat(level(after, PROXY)).isEqualTo("trace");
        assertThat(level(after, "io.grpc")).isEqualTo("error");
        assertThat(LoggerFactory.getLogger(PROXY + ".X").isTraceEnabled()).isTrue();
        assertThat(LoggerFactory.getLogger("io.grpc.Y").isWarnEnabled()).isFalse();
        // The access log keeps its own level.
        assertThat(level(after, ProxyLogging.ACCESS_LOGGER)).isEqualTo("info");
    }

    @Test
    void julChangesOnePackageAtRuntime() throws Exception {
        Logger.getLogger("").setLevel(Level.INFO);
        AdminServer admin = start(new JulLogLevels());

        JsonObject after = json(Http.post(admin.localAddress(), "/logging?" + PROXY + "=debug"));

        assertThat(level(after, PROXY)).isEqualTo("debug");
        assertThat(level(after, XDS)).isEqualTo("info");
        assertThat(Logger.getLogger(PROXY + ".Inbound").isLoggable(Level.FINE)).isTrue();
        assertThat(Logger.getLogger(XDS).isLoggable(Level.FINE)).isFalse();
        // Without ProxyLogging (JUL's default console handler passes INFO and up), the handler
        // must not filter what the logger now passes.
        for (Handler h : Logger.getLogger("").getHandlers()) {
            assertThat(h.getLevel()).isEqualTo(Level.ALL);
        }
    }

    @Test
    void levelParameterAndRootSetTheRoot() throws Exception {
        AdminServer admin = start(new JulLogLevels());

        JsonObject after = json(Http.post(admin.localAddress(), "/logging?level=WARN"));
        assertThat(level(after, "root")).isEqualTo("warn");
        assertThat(level(after, XDS)).isEqualTo("warn");
        assertThat(Logger.getLogger(XDS).isLoggable(Level.INFO)).isFalse();

        after = json(Http.post(admin.localAddress(), "/logging?root=error"));
        assertThat(level(after, "root")).isEqualTo("error");
        assertThat(Logger.getLogger("root").getLevel()).isNull();
    }

    @Test
    void aRequestWithOneBadLevelChangesNothing() throws Exception {
        Logger.getLogger("").setLevel(Level.INFO);
        AdminServer admin = start(new JulLogLevels());

        HttpResponse<String> r = Http.post(admin.localAddress(), "/logging?" + XDS + "=debug&" + PROXY + "=chatty");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains(PROXY).contains("chatty");

        r = Http.post(admin.localAddress(), "/logging?level=debug," + XDS + "=debug,io.grpc=chatty");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("io.grpc=chatty");

        assertThat(Logger.getLogger("").getLevel()).isEqualTo(Level.INFO);
        assertThat(Logger.getLogger(XDS).isLoggable(Level.FINE)).isFalse();
    }

    // ---------------------------------------------------------------- a backend that cannot change levels

    @Test
    void readOnlyBackendShowsLevelsAndPostAnswers501WithTheReason() throws Exception {
        AdminServer admin = start(LogLevels.readOnly("fake-backend", "fake-backend reads its levels at startup"));

        JsonObject logging = json(Http.get(admin.localAddress(), "/logging"));
        assertThat(logging.get("backend").getAsString()).isEqualTo("fake-backend");
        assertThat(logging.get("changeable").getAsBoolean()).isFalse();
        assertThat(logging.get("reason").getAsString()).isEqualTo("fake-backend reads its levels at startup");
        JsonObject levels = logging.getAsJsonObject("levels");
        assertThat(levels.keySet()).contains("root", "dev.ambit.agent", PROXY, XDS, ProxyLogging.ACCESS_LOGGER);
        // Read through SLF4J, whatever the backend.
        assertThat(levels.get(PROXY).getAsString()).isEqualTo(LogLevels.probe(LoggerFactory.getLogger(PROXY)));

        HttpResponse<String> r = Http.post(admin.localAddress(), "/logging?level=debug");
        assertThat(r.statusCode()).isEqualTo(501);
        assertThat(r.body()).contains("fake-backend reads its levels at startup");
        r = Http.post(admin.localAddress(), "/logging?" + PROXY + "=debug");
        assertThat(r.statusCode()).isEqualTo(501);
    }

    @Test
    void badRequestsAre400EvenWhenChangingIsUnsupported() throws Exception {
        AdminServer admin = start(LogLevels.readOnly("fake-backend", "read-only"));

        assertThat(Http.post(admin.localAddress(), "/logging").statusCode()).isEqualTo(400);
        assertThat(Http.post(admin.localAddress(), "/logging?level=").statusCode()).isEqualTo(400);
        HttpResponse<String> r = Http.post(admin.localAddress(), "/logging?level=loud");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("loud").contains("debug");
    }
}
