package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import java.io.PrintStream;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.logging.ErrorManager;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * A proxy's logging, set up once by its main class. Everything the proxy and its
 * libraries log goes to {@code java.util.logging}: SLF4J through slf4j-jdk14 (the agent,
 * Netty), System.Logger by the JDK's default, gRPC directly. {@link #configure} gives JUL
 * one handler, on stderr, one line per event:
 *
 * <pre>
 * 2026-11-21T10:15:30.123Z INFO  [agent-main] dev.ambit.proxy.xds.XdsClient: connected to istiod
 * 2026-11-21T10:15:31.004Z WARN  [nioEventLoopGroup-3-1] dev.ambit.agent.proxy.Outbound: upstream refused
 * java.net.ConnectException: Connection refused
 * 	at ...
 * </pre>
 *
 * <p>A {@linkplain Throwable throwable} follows on the next lines, compact: at most
 * {@value #MAX_FRAMES} frames per throwable and none shared with the enclosing one, then its
 * causes and suppressed ones. The access log ({@value #ACCESS_LOGGER}, one JSON object per
 * connection) is written as it is, nothing added, so its lines stay machine-readable. With
 * {@code json} every other event is a JSON object too, on one line:
 * {@code {"time":…,"level":"INFO","thread":…,"logger":…,"message":…,"error":…}} ({@code error}
 * only with a throwable).
 *
 * <p>Levels come from a spec in env_logger's syntax (ztunnel's {@code RUST_LOG}), see
 * {@link LogLevels#parseSpec}: {@code info,dev.ambit.agent.proxy=debug,io.grpc=warn}. Level
 * names are {@link LogLevels#LEVELS}, mapped to JUL by {@link JulLogLevels#toJul}. The spec
 * is applied over two kinds of defaults:
 *
 * <ul>
 *   <li>{@link #QUIET}: chatty libraries are held at most as verbose as listed (Netty and
 *       gRPC at info, gRPC's Netty transport at warn), so {@code debug} means the agent's
 *       debug; a spec directive for such a logger or one of its ancestors (other than the
 *       root) replaces the default ({@code io.grpc=debug} makes all of gRPC debug).</li>
 *   <li>{@value #ACCESS_LOGGER} is at info whatever the root level, as the access log is
 *       output rather than diagnostics; {@code ambit.access=off} turns it off.</li>
 * </ul>
 *
 * <p>After that, levels change at runtime through the admin server's {@code /logging}
 * ({@link JulLogLevels}); the handler passes everything, so the loggers' levels are the
 * only filter.
 */
public final class ProxyLogging {

    /** The access log: one structured line per connection, written unformatted. */
    /**
     * The value for {@code java.util.logging.manager} that keeps logging alive during
     * shutdown: JUL's own shutdown hook would otherwise close every handler while the
     * agent's drain (another hook) is still logging. {@link #shutdownComplete()} closes
     * them at the very end.
     */
    public static final String MANAGER = "dev.ambit.proxy.admin.ProxyLogging$ShutdownSafeLogManager";

    /** See {@link #MANAGER}. Public because the JDK instantiates it by name. */
    public static final class ShutdownSafeLogManager extends java.util.logging.LogManager {

        public ShutdownSafeLogManager() {
        }

        /** Ignored once the JVM is shutting down (JUL's own hook); {@link #shutdownComplete()} resets then. */
        @Override
        public void reset() {
            if (!shuttingDown()) {
                super.reset();
            }
        }

        void resetNow() {
            super.reset();
        }

        private static boolean shuttingDown() {
            Thread probe = new Thread(() -> { });
            try {
                Runtime.getRuntime().addShutdownHook(probe);
                Runtime.getRuntime().removeShutdownHook(probe);
                return false;
            } catch (IllegalStateException e) {
                return true; // "Shutdown in progress"
            }
        }
    }

    /** Flushes and closes the handlers once the agent has finished shutting down. */
    public static void shutdownComplete() {
        if (java.util.logging.LogManager.getLogManager() instanceof ShutdownSafeLogManager m) {
            m.resetNow();
        }
    }

    public static final String ACCESS_LOGGER = dev.ambit.proxy.telemetry.AccessLog.LOGGER;

    /** The spec when none is given. */
    public static final String DEFAULT_SPEC = "info";

    /**
     * Chatty libraries and the most verbose level each logs at unless the spec says otherwise
     * (see the class comment).
     */
    public static final Map<String, String> QUIET = orderedMap(
            "io.netty", "info",
            "io.grpc", "info",
            "io.grpc.netty", "warn");

    /** Frames printed per throwable; the rest are counted ({@code ... 12 more}). */
    public static final int MAX_FRAMES = 10;

    /** The loggers the last {@link #configure} gave a level to, reset by the next one. */
    private static final Set<String> configured = new HashSet<>();

    private ProxyLogging() {}

    /**
     * Configures logging to stderr; see {@link #configure(String, boolean, PrintStream)}.
     *
     * @param spec the levels, for example {@code info,dev.ambit.agent.proxy=debug};
     *             {@code null} or blank for {@value #DEFAULT_SPEC}
     * @param json every line a JSON object, rather than text
     * @throws IllegalArgumentException if {@code spec} does not parse (nothing is changed)
     */
    public static void configure(String spec, boolean json) {
        configure(spec, json, System.err);
    }

    /**
     * Replaces JUL's root handlers with one writing to {@code out} in the agent's format, and
     * sets the levels of {@code spec} over the defaults (see the class comment). Levels a
     * previous call set are reset first, so calling again replaces the configuration.
     *
     * @return the levels set: logger ({@link LogLevels#ROOT} for the root) to level
     * @throws IllegalArgumentException if {@code spec} does not parse (nothing is changed)
     */
    public static synchronized Map<String, String> configure(String spec, boolean json, PrintStream out) {
        requireNonNull(out, "out");
        Map<String, String> levels = levels(spec);

        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
            h.close();
        }
        Handler handler = new LineHandler(out);
        handler.setFormatter(new LineFormatter(json));
        handler.setLevel(Level.ALL);
        root.addHandler(handler);

        for (String name : configured) {
            Logger.getLogger(name).setLevel(null);
        }
        configured.clear();
        JulLogLevels jul = new JulLogLevels();
        levels.forEach((name, level) -> {
            jul.setLevel(name, level);
            if (!name.isEmpty()) {
                configured.add(name);
            }
        });
        return levels;
    }

    /**
     * The levels {@link #configure} sets for {@code spec}: the root's first, then the
     * defaults that still apply, then the spec's directives.
     *
     * @throws IllegalArgumentException if {@code spec} does not parse
     */
    public static Map<String, String> levels(String spec) {
        Map<String, String> given = LogLevels.parseSpec(spec == null || spec.isBlank() ? DEFAULT_SPEC : spec);
        String rootLevel = given.getOrDefault(LogLevels.ROOT, "info");
        Map<String, String> levels = new LinkedHashMap<>();
        levels.put(LogLevels.ROOT, rootLevel);
        List<String> order = LogLevels.LEVELS;
        QUIET.forEach((name, cap) -> {
            // Only where it quiets something: with the root at warn, Netty inherits warn.
            if (!coveredBy(name, given) && order.indexOf(cap) > order.indexOf(rootLevel)) {
                levels.put(name, cap);
            }
        });
        if (!coveredBy(ACCESS_LOGGER, given)) {
            levels.put(ACCESS_LOGGER, "info");
        }
        given.forEach((name, level) -> {
            if (!name.isEmpty()) {
                levels.put(name, level);
            }
        });
        return levels;
    }

    /** Whether the spec names {@code logger} or one of its ancestors below the root. */
    private static boolean coveredBy(String logger, Map<String, String> given) {
        for (String name : given.keySet()) {
            if (!name.isEmpty() && (logger.equals(name) || logger.startsWith(name + "."))) {
                return true;
            }
        }
        return false;
    }

    @SafeVarargs
    private static <T> Map<T, T> orderedMap(T... keysAndValues) {
        Map<T, T> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return Collections.unmodifiableMap(m);
    }

    /**
     * Writes each record with one {@code print} and flushes, so lines from different threads
     * never interleave and nothing waits in a buffer when the process dies.
     */
    private static final class LineHandler extends Handler {
        private final PrintStream out;

        LineHandler(PrintStream out) {
            this.out = out;
        }

        @Override
        public void publish(LogRecord record) {
            if (!isLoggable(record)) {
                return;
            }
            String line;
            try {
                line = getFormatter().format(record);
            } catch (RuntimeException e) {
                reportError("cannot format a log record", e, ErrorManager.FORMAT_FAILURE);
                return;
            }
            out.print(line);
            out.flush();
        }

        @Override
        public void flush() {
            out.flush();
        }

        @Override
        public void close() {
            out.flush(); // stderr is not ours to close
        }
    }

    /**
     * The agent's line format (see the class comment). Stateless and thread-safe; public so
     * that it can be used with other handlers.
     */
    public static final class LineFormatter extends Formatter {

        private static final DateTimeFormatter TIME =
                DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);

        private final boolean json;

        /** @param json JSON objects rather than text lines (the access log is unchanged either way) */
        public LineFormatter(boolean json) {
            this.json = json;
        }

        @Override
        public String format(LogRecord record) {
            String logger = record.getLoggerName() == null ? "" : record.getLoggerName();
            String message = formatMessage(record);
            if (message == null) {
                message = "";
            }
            if (logger.equals(ACCESS_LOGGER)) {
                // Already structured; one line per connection, whatever it contains.
                return message.replace("\r", "\\r").replace("\n", "\\n") + "\n";
            }
            String time = TIME.format(record.getInstant());
            String level = JulLogLevels.fromJul(record.getLevel()).toUpperCase(Locale.ROOT);
            String thread = threadName(record);
            Throwable thrown = record.getThrown();
            if (json) {
                JsonWriter w = new JsonWriter().open('{')
                        .key("time").value(time)
                        .key("level").value(level)
                        .key("thread").value(thread)
                        .key("logger").value(logger)
                        .key("message").value(message);
                if (thrown != null) {
                    StringBuilder trace = new StringBuilder();
                    stackTrace(trace, thrown);
                    trace.setLength(trace.length() - 1); // the last newline
                    w.key("error").value(trace.toString());
                }
                return w.close('}') + "\n";
            }
            StringBuilder sb = new StringBuilder(64 + message.length());
            sb.append(time).append(' ').append(level);
            for (int i = level.length(); i < 6; i++) {
                sb.append(' ');
            }
            sb.append('[').append(thread).append("] ").append(logger).append(": ").append(message).append('\n');
            if (thrown != null) {
                stackTrace(sb, thrown);
            }
            return sb.toString();
        }

        /**
         * The name of the thread that logged: the current one, as handlers publish on the
         * caller's thread; {@code #<id>} for an unnamed (virtual) thread or when the record
         * comes from another thread.
         */
        private static String threadName(LogRecord record) {
            Thread t = Thread.currentThread();
            if (t.threadId() == record.getLongThreadID() && !t.getName().isEmpty()) {
                return t.getName();
            }
            return "#" + record.getLongThreadID();
        }

        /**
         * {@code t} as {@link Throwable#printStackTrace()} prints it, shortened: at most
         * {@link #MAX_FRAMES} frames each, every line ending in a newline.
         */
        private static void stackTrace(StringBuilder sb, Throwable t) {
            stackTrace(sb, t, null, "", "", Collections.newSetFromMap(new IdentityHashMap<>()));
        }

        private static void stackTrace(StringBuilder sb, Throwable t, StackTraceElement[] enclosing, String caption,
                                       String indent, Set<Throwable> seen) {
            if (!seen.add(t)) {
                sb.append(indent).append(caption).append("[CIRCULAR REFERENCE: ").append(t).append("]\n");
                return;
            }
            sb.append(indent).append(caption).append(t).append('\n');
            StackTraceElement[] trace = t.getStackTrace();
            // Frames also in the enclosing trace (the common tail) are not repeated.
            int own = trace.length;
            if (enclosing != null) {
                int e = enclosing.length - 1;
                while (own > 0 && e >= 0 && trace[own - 1].equals(enclosing[e])) {
                    own--;
                    e--;
                }
            }
            int shown = Math.min(own, MAX_FRAMES);
            for (int i = 0; i < shown; i++) {
                sb.append(indent).append("\tat ").append(trace[i]).append('\n');
            }
            if (trace.length > shown) {
                sb.append(indent).append("\t... ").append(trace.length - shown).append(" more\n");
            }
            for (Throwable s : t.getSuppressed()) {
                stackTrace(sb, s, trace, "Suppressed: ", indent + "\t", seen);
            }
            if (t.getCause() != null) {
                stackTrace(sb, t.getCause(), trace, "Caused by: ", indent, seen);
            }
        }
    }
}
