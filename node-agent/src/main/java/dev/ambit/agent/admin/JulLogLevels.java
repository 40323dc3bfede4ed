package dev.ambit.agent.admin;

import static java.util.Objects.requireNonNull;

import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@link LogLevels} for {@code java.util.logging}, the backend of {@code slf4j-jdk14}, which
 * can change levels at runtime.
 *
 * <p>JUL filters twice, at the logger and at the handler (the console handler passes only
 * INFO and above by default), so setting a logger to {@code debug} alone would change
 * nothing visible. Each change therefore also opens the root handlers to {@link Level#ALL},
 * leaving loggers as the one place levels are decided.
 */
public final class JulLogLevels implements LogLevels {

    private static final Map<String, Level> TO_JUL = Map.of(
            "trace", Level.FINEST,
            "debug", Level.FINE,
            "info", Level.INFO,
            "warn", Level.WARNING,
            "error", Level.SEVERE,
            "off", Level.OFF);

    /**
     * Holds strong references to loggers whose level was set: JUL keeps loggers weakly, so a
     * logger nobody else references could be collected and lose its level.
     */
    private final Map<String, Logger> pinned = new java.util.concurrent.ConcurrentHashMap<>();

    @Override
    public String backend() {
        return "java.util.logging";
    }

    @Override
    public String unsupportedReason() {
        return null;
    }

    @Override
    public String level(String logger) {
        requireNonNull(logger, "logger");
        // The effective level: the nearest ancestor with a level set (the root always has one).
        for (Logger l = Logger.getLogger(logger); l != null; l = l.getParent()) {
            Level level = l.getLevel();
            if (level != null) {
                return fromJul(level);
            }
        }
        return "info";
    }

    @Override
    public void setLevel(String logger, String level) {
        requireNonNull(logger, "logger");
        Level jul = TO_JUL.get(LogLevels.checkLevel(level));
        Logger l = pinned.computeIfAbsent(logger, Logger::getLogger);
        l.setLevel(jul);
        for (Handler h : Logger.getLogger("").getHandlers()) {
            h.setLevel(Level.ALL);
        }
    }

    private static String fromJul(Level level) {
        int v = level.intValue();
        if (v == Level.OFF.intValue()) {
            return "off";
        }
        if (v >= Level.SEVERE.intValue()) {
            return "error";
        }
        if (v >= Level.WARNING.intValue()) {
            return "warn";
        }
        if (v >= Level.INFO.intValue()) {
            return "info";
        }
        if (v >= Level.FINE.intValue()) {
            return "debug";
        }
        return "trace";
    }
}
