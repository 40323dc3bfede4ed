package dev.ambit.proxy.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The agent turns Netty's leak detection off unless a level is asked for. */
class LeakDetectionDefaultTest {

    private ResourceLeakDetector.Level before;
    private String property;
    private String oldProperty;

    @BeforeEach
    void save() {
        before = ResourceLeakDetector.getLevel();
        property = System.getProperty("io.netty.leakDetection.level");
        oldProperty = System.getProperty("io.netty.leakDetectionLevel");
    }

    @AfterEach
    void restore() {
        restore("io.netty.leakDetection.level", property);
        restore("io.netty.leakDetectionLevel", oldProperty);
        ResourceLeakDetector.setLevel(before);
    }

    @Test
    void offByDefault() {
        System.clearProperty("io.netty.leakDetection.level");
        System.clearProperty("io.netty.leakDetectionLevel");
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE); // Netty's own default
        ProxyProcess.leakDetectionOffUnlessAsked();
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.DISABLED);
    }

    @Test
    void anExplicitLevelIsKept() {
        System.setProperty("io.netty.leakDetection.level", "paranoid");
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ProxyProcess.leakDetectionOffUnlessAsked();
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.PARANOID);

        System.clearProperty("io.netty.leakDetection.level");
        System.setProperty("io.netty.leakDetectionLevel", "advanced");
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.ADVANCED);
        ProxyProcess.leakDetectionOffUnlessAsked();
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.ADVANCED);
    }

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
