package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambit.ctl.local.addons.PrometheusAddon;

/** For the Prometheus addon's tests. */
public final class AddonsTestSupport {

    private AddonsTestSupport() {
    }

    /** Debian's prometheus: make deps installs it, so CI must have it; a developer without it skips. */
    public static void requirePrometheus() {
        assertThat(PrometheusAddon.binary().isPresent() || !"true".equals(System.getenv("CI")))
                .as("prometheus is not installed (make deps installs Debian's package)").isTrue();
        assumeTrue(PrometheusAddon.binary().isPresent(), "Debian's prometheus is not installed (make deps)");
    }
}
