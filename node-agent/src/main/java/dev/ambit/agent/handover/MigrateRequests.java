package dev.ambit.agent.handover;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.NetNs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns on {@code net.ipv4.tcp_migrate_req} inside a pod's network namespace (Linux 5.14+): when
 * a listener of a {@code SO_REUSEPORT} group closes, the connections in its SYN and accept
 * queues move to another listener of the group instead of being reset. Every agent sets it when
 * it enrolls a pod, so the pod's listeners can be handed over to a later agent without dropping
 * a connection that was queued on the old one. The sysctl is per namespace: it is written from
 * a thread inside the pod's namespace ({@code /proc/sys/net} is resolved against the opener's).
 * On Kubernetes the CNI plugin ({@code ambit-cni}, run as root by the runtime) sets it at ADD,
 * since the agent's non-privileged container has a read-only {@code /proc/sys}; the agent then
 * finds it set and writes nothing.
 */
public final class MigrateRequests {

    static final String SYSCTL = "/proc/sys/net/ipv4/tcp_migrate_req";

    private MigrateRequests() {
    }

    /**
     * Sets the sysctl to 1 inside the namespace at {@code netns}, unless it is 1 already (then
     * nothing is written: a read-only {@code /proc/sys} is no obstacle).
     *
     * @throws IllegalStateException naming the namespace and the reason (no such sysctl: the
     *     kernel is older than 5.14; read-only {@code /proc/sys}: the agent's container lacks it)
     */
    public static void enable(Path netns) {
        requireNonNull(netns, "netns");
        try {
            NetNs.runIn(netns, () -> {
                Path sysctl = Path.of(SYSCTL);
                if (!read(sysctl).equals("1")) {
                    write(sysctl);
                }
            });
        } catch (RuntimeException e) {
            throw new IllegalStateException("net.ipv4.tcp_migrate_req in " + netns + ": " + e.getMessage()
                    + " (expected: Linux 5.14+ and a writable /proc/sys; without it a hand-over may reset connections"
                    + " queued on the old agent's listeners)", e);
        }
    }

    /** Whether the sysctl is 1 inside the namespace at {@code netns}. */
    public static boolean enabled(Path netns) {
        requireNonNull(netns, "netns");
        boolean[] on = new boolean[1];
        NetNs.runIn(netns, () -> on[0] = read(Path.of(SYSCTL)).equals("1"));
        return on[0];
    }

    private static String read(Path sysctl) {
        try {
            return Files.readString(sysctl, StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Path sysctl) {
        try {
            Files.writeString(sysctl, "1\n", StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
