package dev.ambit.proxy.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AccessLogTest {

    private final Logger jul = Logger.getLogger(AccessLog.LOGGER);
    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            records.add(r);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };
    private Level before;

    @BeforeEach
    void attach() {
        before = jul.getLevel();
        jul.addHandler(capture);
    }

    @AfterEach
    void detach() {
        jul.removeHandler(capture);
        jul.setLevel(before);
    }

    @Test
    void aLineIsOneInfoRecordOnTheAccessLoggerWithItsSourceAlreadySet() {
        jul.setLevel(Level.INFO);
        assertTrue(AccessLog.enabled());
        AccessLog.log("{\"a\":1} {0}");
        assertEquals(1, records.size());
        LogRecord r = records.get(0);
        assertEquals(Level.INFO, r.getLevel());
        assertEquals(AccessLog.LOGGER, r.getLoggerName());
        assertEquals("{\"a\":1} {0}", r.getMessage(), "the line is not a format: braces stay");
        // Set, not inferred from a stack trace (which would name this test class).
        assertEquals(AccessLog.class.getName(), r.getSourceClassName());
        assertEquals("log", r.getSourceMethodName());
    }

    @Test
    void theLoggersLevelSwitchesItOff() {
        jul.setLevel(Level.WARNING);
        assertFalse(AccessLog.enabled());
        AccessLog.log("dropped");
        assertTrue(records.isEmpty());
        jul.setLevel(Level.OFF);
        assertFalse(AccessLog.enabled());
    }
}
