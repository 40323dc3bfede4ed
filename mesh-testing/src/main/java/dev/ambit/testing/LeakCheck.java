package dev.ambit.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.ResourceLeakDetector;
import java.lang.reflect.Field;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Turns Netty's leak reports (paranoid level, set by the build) into test failures: the
 * detector only logs, so one listener, installed once per JVM, collects what it reports.
 * Leaks are found when the leaked buffer is garbage collected and a later allocation
 * polls the detector, hence the GC-and-allocate loop in {@link #assertNoLeaks()}.
 */
public final class LeakCheck {

    private static final List<String> leaks = new CopyOnWriteArrayList<>();

    static {
        try {
            // The ByteBuf detector is a package-private static of AbstractByteBuf.
            Field f = Class.forName("io.netty.buffer.AbstractByteBuf").getDeclaredField("leakDetector");
            f.setAccessible(true);
            @SuppressWarnings("unchecked")
            ResourceLeakDetector<ByteBuf> detector = (ResourceLeakDetector<ByteBuf>) f.get(null);
            detector.setLeakListener((type, records) -> leaks.add(type + ": " + records));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private LeakCheck() {}

    /**
     * Call before a test: checks the level. Reports from earlier tests are kept, so a leak
     * found late still fails the next check (use {@link #reset()} to forget them).
     */
    public static void install() {
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.PARANOID);
    }

    /** Call before a test: checks the level and forgets reports from earlier tests. */
    public static void reset() {
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.PARANOID);
        leaks.clear();
    }

    /** Fails if Netty reported a leaked buffer since {@link #reset()}. */
    public static void assertNoLeaks() throws InterruptedException {
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(20);
            // Each tracked allocation drains the detector's reference queue.
            for (int j = 0; j < 16; j++) {
                ByteBufAllocator.DEFAULT.buffer(8).release();
                Unpooled.buffer(8).release();
            }
        }
        assertThat(leaks).as("Netty reported leaked buffers").isEmpty();
    }
}
