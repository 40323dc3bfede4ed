package dev.ambit.proxy.telemetry;

import static java.util.Objects.requireNonNull;

import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The access log: one line per connection (node agent) or request (waypoint, gateway) on the
 * {@value #LOGGER} logger, at INFO, which its level and the admin's logging endpoint switch
 * on and off like any other logger.
 *
 * <p>Lines go to {@code java.util.logging} directly rather than through SLF4J: SLF4J's JUL
 * binding ({@code slf4j-jdk14}) takes a stack trace on every call to find the caller's class
 * and method, which an access line never prints. An async-profiler run of a node agent
 * serving new connections (the ingress bench's {@code tls-full}) had that stack trace at 3 %
 * of the agent's CPU, more than formatting and writing the line together. The record's
 * source is set here, so JUL does not infer it either.
 *
 * <p>Thread-safe; a line is published on the caller's thread.
 */
public final class AccessLog {

    /** The logger's name. */
    public static final String LOGGER = "ambit.access";

    // Held for the process's life: a JUL logger nobody references can be collected, and with
    // it the level the admin endpoint set.
    private static final Logger JUL = Logger.getLogger(LOGGER);

    private AccessLog() {}

    /** Whether lines are logged: build a line only when this is true. */
    public static boolean enabled() {
        return JUL.isLoggable(Level.INFO);
    }

    /** Logs {@code line} (one line, already formatted: JSON or the Telemetry API's text) when {@link #enabled()}. */
    public static void log(String line) {
        requireNonNull(line, "line");
        if (!JUL.isLoggable(Level.INFO)) {
            return;
        }
        LogRecord record = new LogRecord(Level.INFO, line);
        record.setLoggerName(LOGGER);
        record.setSourceClassName(AccessLog.class.getName());
        record.setSourceMethodName("log");
        JUL.log(record);
    }
}
