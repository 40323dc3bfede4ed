package dev.ambit.agent.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.agent.state.ProxyState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LoggingEndpointTest {

    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    private static final String PROXY = "dev.ambit.agent.proxy";
    private static final String XDS = "dev.ambit.agent.xds";

    private final List<AdminServer> servers = new ArrayList<>();
    // JUL is global: whatever the JUL tests change is put back afterwards.
    private final Map<String, Level> julLevels = new HashMap<>();
    private final Map<Handler, Level> handlerLevels = new HashMap<>();

    @BeforeEach
    void saveJul() {
        for (String name : List.of("", "dev.ambit.agent", PROXY, XDS)) {
            julLevels.put(name, Logger.getLogger(name).getLevel());
        }
        for (Handler h : Logger.getLogger("").getHandlers()) {
            handlerLevels.put(h, h.getLevel());
        }
    }

    @AfterEach
    void close() {
        servers.forEach(AdminServer::close);
        julLevels.forEach((name, level) -> Logger.getLogger(name).setLevel(level));
        handlerLevels.forEach(Handler::setLevel);
    }

    private AdminServer start(LogLevels levels) {
        AdminServer.Builder b = AdminServer.builder(ProxyState.create()).address(ANY_LOOPBACK);
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

    // ---------------------------------------------------------------- slf4j-simple (the tests' backend)

    @Test
    void detectsSlf4jSimpleAsReadOnly() {
        LogLevels levels = LogLevels.detect();

        assertThat(levels.backend()).isEqualTo("slf4j-simple");
        assertThat(levels.unsupportedReason()).contains("slf4j-simple").contains("runtime");
        assertThat(levels.level(PROXY)).isIn(LogLevels.LEVELS);
        assertThatThrownBy(() -> levels.setLevel(PROXY, "debug")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> levels.setLevel(PROXY, "loud")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void withSlf4jSimpleGetShowsLevelsAndPostAnswers501WithTheReason() throws Exception {
        AdminServer admin = start(null); // detect(): slf4j-simple in tests

        JsonObject logging = json(Http.get(admin.localAddress(), "/logging"));
        assertThat(logging.get("backend").getAsString()).isEqualTo("slf4j-simple");
        assertThat(logging.get("changeable").getAsBoolean()).isFalse();
        assertThat(logging.get("reason").getAsString()).contains("cannot change it at runtime");
        JsonObject levels = logging.getAsJsonObject("levels");
        assertThat(levels.keySet()).contains("root", "dev.ambit.agent", PROXY, XDS);
        // slf4j-simple's default, as no test configuration overrides it.
        assertThat(levels.get(PROXY).getAsString()).isEqualTo(LogLevels.probe(org.slf4j.LoggerFactory.getLogger(PROXY)));

        HttpResponse<String> r = Http.post(admin.localAddress(), "/logging?level=debug");
        assertThat(r.statusCode()).isEqualTo(501);
        assertThat(r.body()).contains("slf4j-simple");
        r = Http.post(admin.localAddress(), "/logging?" + PROXY + "=debug");
        assertThat(r.statusCode()).isEqualTo(501);
    }

    @Test
    void badRequestsAre400EvenWhenChangingIsUnsupported() throws Exception {
        AdminServer admin = start(null);

        assertThat(Http.post(admin.localAddress(), "/logging").statusCode()).isEqualTo(400);
        HttpResponse<String> r = Http.post(admin.localAddress(), "/logging?level=loud");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("loud").contains("debug");
    }

    // ---------------------------------------------------------------- java.util.logging (changeable)

    @Test
    void julChangesOnePackageAtRuntime() throws Exception {
        Logger.getLogger("").setLevel(Level.INFO);
        AdminServer admin = start(new JulLogLevels());

        JsonObject before = json(Http.get(admin.localAddress(), "/logging"));
        assertThat(before.get("backend").getAsString()).isEqualTo("java.util.logging");
        assertThat(before.get("changeable").getAsBoolean()).isTrue();
        assertThat(before.getAsJsonObject("levels").get(PROXY).getAsString()).isEqualTo("info");

        JsonObject after = json(Http.post(admin.localAddress(), "/logging?" + PROXY + "=debug"));

        assertThat(after.getAsJsonObject("levels").get(PROXY).getAsString()).isEqualTo("debug");
        assertThat(after.getAsJsonObject("levels").get(XDS).getAsString()).isEqualTo("info");
        assertThat(Logger.getLogger(PROXY + ".Inbound").isLoggable(Level.FINE)).isTrue();
        assertThat(Logger.getLogger(XDS).isLoggable(Level.FINE)).isFalse();
        // The handler must not filter what the logger now passes.
        for (Handler h : Logger.getLogger("").getHandlers()) {
            assertThat(h.getLevel()).isEqualTo(Level.ALL);
        }
    }

    @Test
    void julLevelParameterSetsTheRoot() throws Exception {
        AdminServer admin = start(new JulLogLevels());

        JsonObject after = json(Http.post(admin.localAddress(), "/logging?level=WARN"));

        assertThat(after.getAsJsonObject("levels").get("root").getAsString()).isEqualTo("warn");
        assertThat(after.getAsJsonObject("levels").get(XDS).getAsString()).isEqualTo("warn");
        assertThat(Logger.getLogger(XDS).isLoggable(Level.INFO)).isFalse();
    }

    @Test
    void aRequestWithOneBadLevelChangesNothing() throws Exception {
        Logger.getLogger("").setLevel(Level.INFO);
        AdminServer admin = start(new JulLogLevels());

        HttpResponse<String> r = Http.post(admin.localAddress(), "/logging?" + XDS + "=debug&" + PROXY + "=chatty");

        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains(PROXY).contains("chatty");
        assertThat(Logger.getLogger(XDS).isLoggable(Level.FINE)).isFalse();
    }
}
