package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * {@link LogLevels} for {@code java.util.logging}, the backend of {@code slf4j-jdk14}, which
 * can change levels at runtime.
 *
 * <p>JUL filters twice, at the logger and at the handler (the console handler passes only
 * INFO and above by default), so setting a logger to {@code debug} alone would change
 * nothing visible. Each change therefore also opens the root handlers to {@link Level#ALL},
 * leaving loggers as the one place levels are decided.
 *
 * <p>The node agent's configuration at startup ({@code dev.ambit.proxy.admin.ProxyLogging}) sets
 * its levels through this class too. Instances are interchangeable: JUL's state is global.
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
     * logger nobody else references could be collected and lose its level (and a library
     * that asks for it later would get a fresh one, at the inherited level). Shared by all
     * instances, as JUL's loggers are.
     */
    private static final Map<String, Logger> pinned = new ConcurrentHashMap<>();

    /**
     * The JUL level for one of {@link LogLevels#LEVELS}: {@code trace} is {@link Level#FINEST}
     * (so it includes System.Logger's TRACE, which is FINER), {@code debug} {@link Level#FINE},
     * {@code info} {@link Level#INFO}, {@code warn} {@link Level#WARNING}, {@code error}
     * {@link Level#SEVERE}, {@code off} {@link Level#OFF}; as slf4j-jdk14 maps them.
     *
     * @throws IllegalArgumentException if {@code level} is not one of {@link LogLevels#LEVELS}
     */
    public static Level toJul(String level) {
        return TO_JUL.get(LogLevels.checkLevel(level));
    }

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
    public List<String> overridden() {
        List<String> names = new ArrayList<>();
        for (String name : Collections.list(LogManager.getLogManager().getLoggerNames())) {
            Logger l = LogManager.getLogManager().getLogger(name);
            if (!name.isEmpty() && l != null && l.getLevel() != null) {
                names.add(name);
            }
        }
        Collections.sort(names);
        return names;
    }

    @Override
    public void setLevel(String logger, String level) {
        requireNonNull(logger, "logger");
        Level jul = toJul(level);
        Logger l = pinned.computeIfAbsent(logger, Logger::getLogger);
        l.setLevel(jul);
        for (Handler h : Logger.getLogger("").getHandlers()) {
            h.setLevel(Level.ALL);
        }
    }

    /**
     * The name of the {@link LogLevels#LEVELS} a JUL level falls in: FINER and below are
     * {@code trace}, CONFIG {@code debug}, and so on; {@link #toJul}'s inverse.
     */
    public static String fromJul(Level level) {
        requireNonNull(level, "level");
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
