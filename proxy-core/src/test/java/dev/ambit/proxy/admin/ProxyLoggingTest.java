package dev.ambit.proxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.proxy.admin.ProxyLogging;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class ProxyLoggingTest {

    private static final String PROXY = "dev.ambit.agent.proxy";
    private static final String XDS = "dev.ambit.proxy.xds";
    private static final String LINE =
            "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR) \\[[^\\]]+\\] \\S+: .*";

    private final JulSnapshot jul = JulSnapshot.take();
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8);

    @AfterEach
    void restoreJul() {
        jul.restore();
    }

    private List<String> lines() {
        String s = captured.toString(StandardCharsets.UTF_8);
        return s.isEmpty() ? List.of() : s.lines().toList();
    }

    // ---------------------------------------------------------------- specs and defaults

    @Test
    void parsesEnvLoggerSpecs() {
        assertThat(LogLevels.parseSpec(" info, dev.ambit.agent.proxy=DEBUG ,,io.grpc = warn,"))
                .containsExactly(entry("", "info"), entry(PROXY, "debug"), entry("io.grpc", "warn"));
        assertThat(LogLevels.parseSpec("root=error,x=info,x=trace"))
                .containsExactly(entry("", "error"), entry("x", "trace"));
        assertThat(LogLevels.parseSpec("  ")).isEmpty();

        assertThatThrownBy(() -> LogLevels.parseSpec("info,dev.ambit.agent.proxy"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dev.ambit.agent.proxy");
        assertThatThrownBy(() -> LogLevels.parseSpec("x=loud"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("x=loud").hasMessageContaining("warn");
    }

    @Test
    void noisyLibrariesAreQuietUnlessTheSpecNamesThem() {
        assertThat(ProxyLogging.levels(null)).containsExactly(
                entry("", "info"), entry("io.grpc.netty", "warn"), entry(ProxyLogging.ACCESS_LOGGER, "info"));
        assertThat(ProxyLogging.levels("debug")).containsExactly(
                entry("", "debug"), entry("io.netty", "info"), entry("io.grpc", "info"), entry("io.grpc.netty", "warn"),
                entry(ProxyLogging.ACCESS_LOGGER, "info"));
        // A quieter root is left alone, but the access log stays on.
        assertThat(ProxyLogging.levels("error")).containsExactly(entry("", "error"), entry(ProxyLogging.ACCESS_LOGGER, "info"));
        // Naming a library (or an ancestor) replaces its defaults: all of gRPC at trace.
        assertThat(ProxyLogging.levels("debug,io.grpc=trace,ambit=off")).containsExactly(
                entry("", "debug"), entry("io.netty", "info"), entry("io.grpc", "trace"), entry("ambit", "off"));
        assertThat(ProxyLogging.levels(PROXY + "=trace")).containsExactly(
                entry("", "info"), entry("io.grpc.netty", "warn"), entry(ProxyLogging.ACCESS_LOGGER, "info"),
                entry(PROXY, "trace"));
    }

    @Test
    void aBadSpecChangesNothing() {
        Level before = Logger.getLogger("").getLevel();
        var handlers = List.of(Logger.getLogger("").getHandlers());

        assertThatThrownBy(() -> ProxyLogging.configure("info,io.grpc=chatty", false, out))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("chatty");

        assertThat(Logger.getLogger("").getLevel()).isEqualTo(before);
        assertThat(Logger.getLogger("").getHandlers()).containsExactlyElementsOf(handlers);
    }

    // ---------------------------------------------------------------- configure: levels and output

    @Test
    void replacesTheRootHandlersAndAppliesTheSpecToSlf4jAndSystemLogger() {
        ProxyLogging.configure("info," + PROXY + "=debug,io.grpc=warn", false, out);

        assertThat(Logger.getLogger("").getHandlers()).hasSize(1);
        LoggerFactory.getLogger(PROXY + ".Outbound").debug("slf4j debug {}", 1);
        LoggerFactory.getLogger(PROXY + ".Outbound").trace("slf4j trace");
        LoggerFactory.getLogger(XDS + ".XdsClient").debug("xds debug");
        LoggerFactory.getLogger(XDS + ".XdsClient").info("xds info");
        System.getLogger(PROXY + ".Inbound").log(System.Logger.Level.DEBUG, "system {0}", "debug");
        System.getLogger(PROXY + ".Inbound").log(System.Logger.Level.TRACE, "system trace");
        Logger.getLogger("io.grpc.ManagedChannelImpl").info("grpc info");
        Logger.getLogger("io.grpc.ManagedChannelImpl").warning("grpc warning");

        String thread = Thread.currentThread().getName();
        assertThat(lines()).allMatch(l -> l.matches(LINE)).hasSize(4);
        assertThat(lines().get(0)).endsWith(" DEBUG [" + thread + "] " + PROXY + ".Outbound: slf4j debug 1");
        assertThat(lines().get(1)).endsWith(" INFO  [" + thread + "] " + XDS + ".XdsClient: xds info");
        assertThat(lines().get(2)).endsWith(" DEBUG [" + thread + "] " + PROXY + ".Inbound: system debug");
        assertThat(lines().get(3)).endsWith(" WARN  [" + thread + "] io.grpc.ManagedChannelImpl: grpc warning");
    }

    @Test
    void theAccessLogIsWrittenAsItIsAndStaysOnWithAQuietRoot() {
        ProxyLogging.configure("warn", false, out);
        String access = "{\"start\":\"2026-11-21T10:15:30Z\",\"src.addr\":\"10.0.0.1:4000\",\"bytes_sent\":12}";

        LoggerFactory.getLogger(ProxyLogging.ACCESS_LOGGER).info(access);
        LoggerFactory.getLogger(ProxyLogging.ACCESS_LOGGER).info("two\nlines");
        LoggerFactory.getLogger(XDS).info("hidden");

        assertThat(lines()).containsExactly(access, "two\\nlines");
    }

    @Test
    void theAccessLogCanBeTurnedOff() {
        ProxyLogging.configure("info,ambit.access=off", false, out);

        LoggerFactory.getLogger(ProxyLogging.ACCESS_LOGGER).info("{}");

        assertThat(lines()).isEmpty();
    }

    @Test
    void configuringAgainReplacesThePreviousLevels() {
        ProxyLogging.configure("info," + PROXY + "=debug", false, out);
        ProxyLogging.configure("warn", false, out);

        assertThat(Logger.getLogger(PROXY).getLevel()).isNull();
        assertThat(new JulLogLevels().level(PROXY)).isEqualTo("warn");
        assertThat(Logger.getLogger("").getHandlers()).hasSize(1);
    }

    @Test
    void throwablesFollowCompactly() {
        ProxyLogging.configure("info", false, out);
        IllegalStateException e = new IllegalStateException("outer", deep(30));
        e.addSuppressed(new RuntimeException("suppressed"));

        LoggerFactory.getLogger(PROXY).warn("relay failed", e);

        List<String> lines = lines();
        assertThat(lines.get(0)).matches(LINE).endsWith(PROXY + ": relay failed");
        assertThat(lines.get(1)).isEqualTo("java.lang.IllegalStateException: outer");
        assertThat(lines).contains("\tSuppressed: java.lang.RuntimeException: suppressed",
                "Caused by: java.io.IOException: inner");
        // At most MAX_FRAMES frames per throwable, the rest counted.
        int cause = lines.indexOf("Caused by: java.io.IOException: inner");
        List<String> causeFrames = lines.subList(cause + 1, lines.size());
        assertThat(causeFrames).hasSize(ProxyLogging.MAX_FRAMES + 1);
        assertThat(causeFrames.getFirst()).startsWith("\tat dev.ambit.proxy.admin.ProxyLoggingTest.deep(");
        assertThat(causeFrames.getLast()).matches("\t\\.\\.\\. \\d+ more");
        assertThat(lines).hasSizeLessThan(3 * (ProxyLogging.MAX_FRAMES + 2) + 1);
    }

    @Test
    void jsonLinesCarryEveryField() {
        ProxyLogging.configure("info", true, out);

        LoggerFactory.getLogger(PROXY).error("says \"no\"", new java.io.IOException("boom"));
        LoggerFactory.getLogger(ProxyLogging.ACCESS_LOGGER).info("{\"dst.addr\":\"10.0.0.2:80\"}");

        List<String> lines = lines();
        assertThat(lines).hasSize(2);
        JsonObject o = JsonParser.parseString(lines.get(0)).getAsJsonObject();
        assertThat(o.keySet()).containsExactly("time", "level", "thread", "logger", "message", "error");
        assertThat(o.get("level").getAsString()).isEqualTo("ERROR");
        assertThat(o.get("logger").getAsString()).isEqualTo(PROXY);
        assertThat(o.get("thread").getAsString()).isEqualTo(Thread.currentThread().getName());
        assertThat(o.get("message").getAsString()).isEqualTo("says \"no\"");
        assertThat(o.get("error").getAsString()).startsWith("java.io.IOException: boom\n\tat ").doesNotEndWith("\n");
        assertThat(Instant.parse(o.get("time").getAsString())).isNotNull();
        assertThat(lines.get(1)).isEqualTo("{\"dst.addr\":\"10.0.0.2:80\"}");
    }

    // ---------------------------------------------------------------- the formatter alone

    @Test
    void formatsTimeInUtcWithMillisecondsAndPadsTheLevel() {
        ProxyLogging.LineFormatter text = new ProxyLogging.LineFormatter(false);
        LogRecord r = new LogRecord(Level.WARNING, "hello {0}");
        r.setParameters(new Object[] {"world"});
        r.setLoggerName("dev.ambit.proxy.xds.XdsClient");
        r.setInstant(Instant.parse("2026-11-21T10:15:30Z"));
        r.setLongThreadID(Thread.currentThread().threadId());

        assertThat(text.format(r)).isEqualTo("2026-11-21T10:15:30.000Z WARN  [" + Thread.currentThread().getName()
                + "] dev.ambit.proxy.xds.XdsClient: hello world\n");

        r.setLevel(Level.FINER); // System.Logger's TRACE
        r.setInstant(Instant.parse("2026-11-21T10:15:30.123456Z"));
        r.setLongThreadID(-7); // logged on another thread: its name is unknown here
        assertThat(text.format(r)).isEqualTo(
                "2026-11-21T10:15:30.123Z TRACE [#-7] dev.ambit.proxy.xds.XdsClient: hello world\n");
    }

    private static java.io.IOException deep(int depth) {
        return depth == 0 ? new java.io.IOException("inner") : deep(depth - 1);
    }
}
