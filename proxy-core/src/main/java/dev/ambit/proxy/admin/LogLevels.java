package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and changes logger levels for the admin {@code /logging} endpoint. SLF4J has no API
 * for changing levels, so each logging backend needs its own implementation; {@link #detect()}
 * picks the one for the backend bound at runtime.
 *
 * <p>Levels are SLF4J's names in lower case: {@code trace}, {@code debug}, {@code info},
 * {@code warn}, {@code error}, plus {@code off}. The root logger is named {@link #ROOT}.
 * Several levels at once are written as a {@linkplain #parseSpec spec}, as ztunnel's
 * {@code RUST_LOG}: {@code info,dev.ambit.agent.proxy=debug,io.grpc=warn}.
 *
 * <p>To support another backend (Logback, Log4j 2), implement {@link #setLevel} with its
 * API and return the implementation from {@link #detect()} for its logger factory class.
 */
public interface LogLevels {

    /** The name of the root logger: setting it changes every logger without a level of its own. */
    String ROOT = "";

    /** The levels accepted by {@link #setLevel}, most verbose first. */
    List<String> LEVELS = List.of("trace", "debug", "info", "warn", "error", "off");

    /** The backend's name, for the endpoint's output (for example {@code "slf4j-simple"}). */
    String backend();

    /**
     * Why levels cannot be changed at runtime with this backend, or {@code null} when
     * {@link #setLevel} works.
     */
    String unsupportedReason();

    /** The effective level of {@code logger} ({@link #ROOT} for the root), one of {@link #LEVELS}. */
    String level(String logger);

    /**
     * The loggers other than the root that have a level of their own (set at startup or
     * through {@link #setLevel}), sorted; empty when the backend cannot tell.
     */
    default List<String> overridden() {
        return List.of();
    }

    /**
     * Sets the level of {@code logger} and, through inheritance, of its descendants that
     * have no level of their own.
     *
     * @param level one of {@link #LEVELS}, any case
     * @throws IllegalArgumentException if {@code level} is not one of {@link #LEVELS}
     * @throws UnsupportedOperationException if {@link #unsupportedReason()} is not {@code null}
     */
    void setLevel(String logger, String level);

    /**
     * The implementation for the SLF4J backend bound now: {@link JulLogLevels} for
     * {@code slf4j-jdk14}, otherwise a read-only one (slf4j-simple fixes each logger's level
     * when the logger is created, from system properties, and offers no way to change it).
     */
    static LogLevels detect() {
        ILoggerFactory factory = LoggerFactory.getILoggerFactory();
        String name = factory.getClass().getName();
        if (name.startsWith("org.slf4j.jul.")) {
            return new JulLogLevels();
        }
        if (name.startsWith("org.slf4j.simple.")) {
            return readOnly("slf4j-simple", "slf4j-simple fixes each logger's level when the logger is created"
                    + " (from org.slf4j.simpleLogger.* system properties) and cannot change it at runtime;"
                    + " restart with -Dorg.slf4j.simpleLogger.log.<logger>=<level>, or run with a backend"
                    + " that supports runtime changes (slf4j-jdk14)");
        }
        return readOnly(name, "changing levels at runtime is not implemented for the logging backend "
                + name + " (see LogLevels to add it)");
    }

    /**
     * Levels read through SLF4J (which any backend supports) and never changed.
     *
     * @param reason why changing is not possible, reported by the endpoint
     */
    static LogLevels readOnly(String backend, String reason) {
        requireNonNull(backend, "backend");
        requireNonNull(reason, "reason");
        return new LogLevels() {
            @Override
            public String backend() {
                return backend;
            }

            @Override
            public String unsupportedReason() {
                return reason;
            }

            @Override
            public String level(String logger) {
                return probe(LoggerFactory.getLogger(logger.isEmpty() ? Logger.ROOT_LOGGER_NAME : logger));
            }

            @Override
            public void setLevel(String logger, String level) {
                checkLevel(level);
                throw new UnsupportedOperationException(reason);
            }
        };
    }

    /** The most verbose level {@code logger} has enabled: backend-neutral, SLF4J only. */
    static String probe(Logger logger) {
        if (logger.isTraceEnabled()) {
            return "trace";
        }
        if (logger.isDebugEnabled()) {
            return "debug";
        }
        if (logger.isInfoEnabled()) {
            return "info";
        }
        if (logger.isWarnEnabled()) {
            return "warn";
        }
        return logger.isErrorEnabled() ? "error" : "off";
    }

    /**
     * Parses a level spec, env_logger's (ztunnel's {@code RUST_LOG}) syntax: comma-separated
     * directives, each either a bare level, for the root, or {@code <logger>=<level>}, for
     * that logger and its descendants without a level of their own. For example
     * {@code info,dev.ambit.agent.proxy=debug,io.grpc=warn}. Whitespace around directives is
     * ignored, as are empty ones; {@code root=<level>} is the root too; a later directive for
     * the same logger wins.
     *
     * @return logger ({@link #ROOT} for the root) to level (one of {@link #LEVELS}), in the
     *         order first given; empty for a blank spec
     * @throws IllegalArgumentException naming the bad directive, if any is not of that form
     */
    static Map<String, String> parseSpec(String spec) {
        requireNonNull(spec, "spec");
        Map<String, String> levels = new LinkedHashMap<>();
        for (String part : spec.split(",", -1)) {
            String directive = part.strip();
            if (directive.isEmpty()) {
                continue;
            }
            int eq = directive.indexOf('=');
            String logger = eq < 0 ? ROOT : directive.substring(0, eq).strip();
            String level = eq < 0 ? directive : directive.substring(eq + 1).strip();
            if (eq >= 0 && (logger.isEmpty() || logger.equals("root"))) {
                logger = ROOT;
            }
            try {
                levels.put(logger, checkLevel(level));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("log spec directive '" + directive + "': expected <level> or"
                        + " <logger>=<level>, level one of " + LEVELS, e);
            }
        }
        return levels;
    }

    /**
     * {@code level} in lower case.
     *
     * @throws IllegalArgumentException if it is not one of {@link #LEVELS}
     */
    static String checkLevel(String level) {
        requireNonNull(level, "level");
        String l = level.toLowerCase(Locale.ROOT);
        if (!LEVELS.contains(l)) {
            throw new IllegalArgumentException("level: " + level + " (expected: one of " + LEVELS + ")");
        }
        return l;
    }
}
