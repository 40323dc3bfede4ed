package dev.ambit.perf.jmh;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Relay throughput through both agents' data path in one JVM ({@link HboneLoop}): an app
 * socket, the client agent's relay and HBONE stream, mutual TLS, the server agent's HBONE
 * stream and relay, an echo server, and back. One long-lived tunnel per benchmark thread.
 *
 * <ul>
 *   <li>{@code pingPong100B}: 100 bytes there and back, one at a time: round trips/s (the
 *       wrk {@code c1} path without HTTP and without the kernel's veth);</li>
 *   <li>{@code bulk64KiB}: 64 KiB there and back per operation: ops/s × 128 KiB is the
 *       relayed bytes per second.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class RelayBench {

    private HboneLoop loop;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        loop = new HboneLoop();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        loop.close();
    }

    /** One tunnel per benchmark thread, opened once. */
    @State(Scope.Thread)
    public static class Tunnel {
        Socket socket;
        OutputStream out;
        InputStream in;
        final byte[] small = new byte[100];
        final byte[] big = new byte[64 * 1024];

        @Setup(Level.Trial)
        public void open(RelayBench bench) throws IOException {
            socket = new Socket();
            socket.setReceiveBufferSize(1 << 20);
            socket.setTcpNoDelay(true);
            socket.connect(bench.loop.outbound);
            out = socket.getOutputStream();
            in = socket.getInputStream();
        }

        @TearDown(Level.Trial)
        public void close() throws IOException {
            socket.close();
        }
    }

    @Benchmark
    public int pingPong100B(Tunnel t) throws IOException {
        t.out.write(t.small);
        return t.in.readNBytes(t.small, 0, t.small.length);
    }

    @Benchmark
    public int bulk64KiB(Tunnel t) throws IOException {
        t.out.write(t.big);
        return t.in.readNBytes(t.big, 0, t.big.length);
    }
}
