package dev.ambit.proxy.admin;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * JUL's global state (root handlers and their levels, every logger's own level), taken before
 * a test and put back after it, so tests that configure logging leave nothing behind.
 */
final class JulSnapshot {

    private final List<Handler> rootHandlers;
    private final Map<Handler, Level> handlerLevels = new HashMap<>();
    private final Map<String, Level> levels = new HashMap<>();
    // Keeps the loggers alive, so their levels are there to restore.
    private final Map<String, Logger> loggers = new HashMap<>();

    private JulSnapshot() {
        rootHandlers = List.of(Logger.getLogger("").getHandlers());
        rootHandlers.forEach(h -> handlerLevels.put(h, h.getLevel()));
        for (String name : Collections.list(LogManager.getLogManager().getLoggerNames())) {
            Logger l = LogManager.getLogManager().getLogger(name);
            if (l != null) {
                loggers.put(name, l);
                levels.put(name, l.getLevel());
            }
        }
    }

    static JulSnapshot take() {
        return new JulSnapshot();
    }

    void restore() {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            if (!rootHandlers.contains(h)) {
                root.removeHandler(h);
                h.close();
            }
        }
        for (Handler h : rootHandlers) {
            if (!List.of(root.getHandlers()).contains(h)) {
                root.addHandler(h);
            }
            h.setLevel(handlerLevels.get(h));
        }
        for (String name : Collections.list(LogManager.getLogManager().getLoggerNames())) {
            Logger l = LogManager.getLogManager().getLogger(name);
            if (l != null) {
                l.setLevel(levels.get(name)); // null for loggers created since, or without a level
            }
        }
    }
}
