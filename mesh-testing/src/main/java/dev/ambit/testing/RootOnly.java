package dev.ambit.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Root tests run wherever they can: always in CI (where not being root is an error, not
 * a skip), and on a developer machine only as root.
 */
public final class RootOnly {

    private RootOnly() {
    }

    public static void require() {
        boolean root = "root".equals(System.getProperty("user.name"));
        if (System.getenv("CI") != null && !root) {
            throw new IllegalStateException("root tests must run as root in CI (eBPF, network namespaces, cgroups)");
        }
        assumeTrue(root, "needs root: eBPF, network namespaces and cgroups");
    }
}
