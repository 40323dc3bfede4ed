package dev.ambit.perf;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Arrays;
import java.util.Locale;

/**
 * The load client of {@link CaptureBench}: one connection at a time, as fast as it goes.
 * It runs as its own process so that it can be placed in a pod's cgroup (eBPF capture
 * applies to sockets of processes in the cgroup, not to a thread of the bench).
 *
 * <p>Usage: {@code ConnectLoad HOST PORT SECONDS MAXCONNS}. Each connection is a
 * blocking connect, a read until end of stream (the server sends one byte and closes
 * first), and a close; its latency runs from the start of connect to end of stream.
 * After {@value #WARMUP_SECONDS} s of uncounted warm-up it measures until SECONDS have
 * passed or MAXCONNS connections succeeded, whichever comes first, then prints one JSON
 * line to stdout: {@code {"connections":N,"errors":E,"seconds":S,"cps":X,"p50_us":..,
 * "p90_us":..,"p99_us":..}}. A connection that fails or does not receive exactly one
 * byte is an error; the first error's cause goes to stderr. Exits 2 on bad arguments.
 */
public final class ConnectLoad {

    /** Uncounted time at the start: class loading and JIT would otherwise be measured. */
    public static final double WARMUP_SECONDS = 0.5;

    // Bounds each connection, so one lost SYN or stuck server cannot stall the run past its deadline.
    private static final int CONNECT_TIMEOUT_MS = 2000;
    private static final int READ_TIMEOUT_MS = 2000;

    private final InetSocketAddress target;
    private String firstError;

    private ConnectLoad(InetSocketAddress target) {
        this.target = target;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            usage("expected 4 arguments, got " + args.length);
        }
        InetSocketAddress target = new InetSocketAddress(InetAddress.getByName(args[0]), parseInt(args[1], "PORT"));
        double seconds = parseSeconds(args[2]);
        int maxConnections = parseInt(args[3], "MAXCONNS");
        System.out.println(new ConnectLoad(target).run(seconds, maxConnections));
    }

    private String run(double seconds, int maxConnections) {
        long warmupEnd = System.nanoTime() + (long) (WARMUP_SECONDS * 1e9);
        while (System.nanoTime() < warmupEnd) {
            connectOnce();
        }
        firstError = null; // warm-up failures would show again below; report the measured ones

        long[] latencies = new long[maxConnections];
        int connections = 0;
        long errors = 0;
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        long now = start;
        while (connections < maxConnections && now < deadline) {
            long t0 = now; // includes creating the socket: part of what a connecting application pays
            boolean ok = connectOnce();
            now = System.nanoTime();
            if (ok) {
                latencies[connections++] = now - t0;
            } else {
                errors++;
            }
        }
        double elapsed = (now - start) / 1e9;
        if (firstError != null) {
            System.err.println("first error of " + errors + " connecting to " + target + ": " + firstError);
        }
        long[] sorted = Arrays.copyOf(latencies, connections);
        Arrays.sort(sorted);
        return String.format(Locale.ROOT,
                "{\"connections\":%d,\"errors\":%d,\"seconds\":%.3f,\"cps\":%.1f,"
                        + "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f}",
                connections, errors, elapsed, connections / elapsed,
                percentileMicros(sorted, 0.50), percentileMicros(sorted, 0.90), percentileMicros(sorted, 0.99));
    }

    /** One connection; true when it delivered exactly the one byte the server sends. */
    private boolean connectOnce() {
        try (Socket s = new Socket()) {
            s.connect(target, CONNECT_TIMEOUT_MS);
            s.setSoTimeout(READ_TIMEOUT_MS);
            InputStream in = s.getInputStream();
            byte[] buf = new byte[16];
            int total = 0;
            for (int n; (n = in.read(buf)) >= 0; ) {
                total += n;
            }
            if (total != 1) {
                noteError("received " + total + " bytes (expected: 1, then end of stream)");
                return false;
            }
            return true;
        } catch (IOException e) {
            noteError(e.toString());
            return false;
        }
    }

    private void noteError(String what) {
        if (firstError == null) {
            firstError = what;
        }
    }

    /** Nearest-rank percentile of sorted nanosecond latencies, in microseconds; 0 when there are none. */
    static double percentileMicros(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(p * sorted.length);
        return sorted[Math.max(0, rank - 1)] / 1_000.0;
    }

    private static int parseInt(String s, String name) {
        try {
            int v = Integer.parseInt(s);
            if (v > 0) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        usage(name + ": " + s + " (expected: a positive integer)");
        return 0;
    }

    private static double parseSeconds(String s) {
        try {
            double v = Double.parseDouble(s);
            if (v > 0 && v <= 600) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        usage("SECONDS: " + s + " (expected: a number of seconds above 0, at most 600)");
        return 0;
    }

    private static void usage(String problem) {
        System.err.println("ConnectLoad: " + problem + "\nusage: ConnectLoad HOST PORT SECONDS MAXCONNS");
        System.exit(2);
    }
}
