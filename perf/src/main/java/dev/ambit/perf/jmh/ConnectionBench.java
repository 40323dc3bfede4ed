package dev.ambit.perf.jmh;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
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
 * One whole tunnel per operation through both agents' data path ({@link HboneLoop}): the
 * app connects, the client agent opens an HBONE stream on its pooled connection
 * ({@code CONNECT}, the server agent connects upstream), 100 bytes go there and back, the
 * app closes, and the operation ends when both relays have ended. Run with
 * {@code -prof gc}: {@code gc.alloc.rate.norm} is the bytes both agents (and the app
 * socket, a few hundred bytes) allocate per connection.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ConnectionBench {

    private HboneLoop loop;
    private final byte[] payload = new byte[100];

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        loop = new HboneLoop();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        loop.close();
    }

    @Benchmark
    public int tunnel() throws IOException {
        long client = loop.clientRelaysEnded.get();
        long server = loop.serverRelaysEnded.get();
        int n;
        try (Socket s = new Socket()) {
            s.setTcpNoDelay(true);
            s.connect(loop.outbound);
            s.getOutputStream().write(payload);
            InputStream in = s.getInputStream();
            n = in.readNBytes(payload, 0, payload.length);
            // The FIN after the echo, as a client ends a request: the agent's relay is in
            // place by then (a FIN before it is EarlyInput's case, which this loop lacks).
            s.shutdownOutput();
            if (in.read() != -1) {
                throw new IOException("more than the echo");
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (loop.clientRelaysEnded.get() == client || loop.serverRelaysEnded.get() == server) {
            if (System.nanoTime() > deadline) {
                throw new IOException("the relays did not end within 10 s");
            }
            LockSupport.parkNanos(20_000);
        }
        return n;
    }
}
