package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * CPU time and resident memory of a process and everything it forked, from {@code /proc}:
 * {@code utime + stime} of {@code /proc/<pid>/stat} (all threads, also those that ended)
 * and {@code VmRSS} of {@code /proc/<pid>/status}.
 */
final class ProcStats {

    /** Clock ticks per second of {@code /proc/<pid>/stat}'s times. */
    static final long CLK_TCK = clockTicks();

    private ProcStats() {}

    /** CPU time (user + system) of {@code pid} and its descendants, in milliseconds; 0 if it is gone. */
    static long cpuMillis(long pid) {
        long ticks = 0;
        for (long p : tree(pid)) {
            ticks += cpuTicks(p);
        }
        return ticks * 1000 / CLK_TCK;
    }

    /** Resident memory of {@code pid} and its descendants, in KiB; 0 if it is gone. */
    static long rssKib(long pid) {
        long kib = 0;
        for (long p : tree(pid)) {
            kib += rssOne(p);
        }
        return kib;
    }

    /**
     * CPU time (user + system, milliseconds) of each thread of {@code pid} whose name
     * ({@code /proc/<pid>/task/<tid>/comm}, the first 15 characters of a Java thread's name)
     * starts with {@code prefix}, by thread id; empty if the process is gone.
     */
    static Map<Long, Long> threadCpuMillis(long pid, String prefix) {
        Map<Long, Long> out = new TreeMap<>();
        Path tasks = Path.of("/proc", Long.toString(pid), "task");
        try (Stream<Path> s = Files.list(tasks)) {
            for (Path t : s.toList()) {
                try {
                    if (Files.readString(t.resolve("comm")).strip().startsWith(prefix)) {
                        out.put(Long.parseLong(t.getFileName().toString()), statTicks(t.resolve("stat"))
                                * 1000 / CLK_TCK);
                    }
                } catch (IOException | RuntimeException gone) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException | RuntimeException e) {
            return Map.of();
        }
        return out;
    }

    /**
     * What each thread used between two {@link #threadCpuMillis} samples, largest first
     * (threads that started in between count from zero).
     */
    static long[] threadDeltas(Map<Long, Long> before, Map<Long, Long> after) {
        return after.entrySet().stream().mapToLong(e -> e.getValue() - before.getOrDefault(e.getKey(), 0L))
                .boxed().sorted(Comparator.reverseOrder()).mapToLong(Long::longValue).toArray();
    }

    private static List<Long> tree(long pid) {
        List<Long> pids = new ArrayList<>();
        pids.add(pid);
        ProcessHandle.of(pid).ifPresent(h -> h.descendants().forEach(d -> pids.add(d.pid())));
        return pids;
    }

    private static long cpuTicks(long pid) {
        try {
            return statTicks(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** utime + stime, in clock ticks, of a {@code stat} file (a process's or a thread's). */
    static long statTicks(Path file) throws IOException {
        return statTicks(Files.readString(file));
    }

    static long statTicks(String stat) {
        // Fields after the command (which may hold spaces) start after the last ')'.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        // f[0] is field 3 (state): utime is field 14, stime field 15.
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private static long rssOne(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return 0;
    }

    private static long clockTicks() {
        try {
            Host.Result r = Host.exec(5, "getconf", "CLK_TCK");
            return r.ok() ? Long.parseLong(r.stdout().strip()) : 100;
        } catch (RuntimeException e) {
            return 100;
        }
    }

    /**
     * Samples the resident memory of a set of processes every {@code periodMillis} on a
     * thread of its own, keeping each one's peak, until closed.
     */
    static final class RssSampler implements AutoCloseable {
        private final long[] pids;
        private final long[] peakKib;
        private final Thread thread;
        private volatile boolean stop;

        RssSampler(List<Long> pids, long periodMillis) {
            this.pids = pids.stream().mapToLong(Long::longValue).toArray();
            this.peakKib = new long[this.pids.length];
            thread = Thread.ofPlatform().daemon().name("rss-sampler").start(() -> {
                while (!stop) {
                    sample();
                    try {
                        TimeUnit.MILLISECONDS.sleep(periodMillis);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        private synchronized void sample() {
            for (int i = 0; i < pids.length; i++) {
                peakKib[i] = Math.max(peakKib[i], rssKib(pids[i]));
            }
        }

        /** Peak resident memory of each process (and its descendants), in KiB, in the order given. */
        synchronized long[] peaks() {
            return peakKib.clone();
        }

        @Override
        public void close() {
            stop = true;
            thread.interrupt();
            try {
                thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            sample(); // one last look at the end of the run
        }
    }
}
