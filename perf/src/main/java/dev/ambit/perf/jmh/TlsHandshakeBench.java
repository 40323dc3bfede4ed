package dev.ambit.perf.jmh;

import dev.ambit.testing.InProcessCa;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
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
 * HBONE's TLS handshake as the agent does it, both ends in one thread and in memory (no
 * sockets): TLS 1.3, ECDSA P-256 certificates from istiod-lite's CA, client certificate
 * required, both peers' chains and SPIFFE identities verified (the agent's
 * {@code TlsContexts} with BoringSSL, no session resumption). One operation = one full
 * mutual handshake, i.e. the CPU a new pooled connection costs the two agents together.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class TlsHandshakeBench {

    private Certificates certs;
    private SslContext client;
    private SslContext server;
    private final ByteBuffer clientToServer = ByteBuffer.allocateDirect(64 * 1024);
    private final ByteBuffer serverToClient = ByteBuffer.allocateDirect(64 * 1024);
    private final ByteBuffer clientApp = ByteBuffer.allocateDirect(64 * 1024);
    private final ByteBuffer serverApp = ByteBuffer.allocateDirect(64 * 1024);
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        certs = new Certificates();
        client = certs.tls.client(certs.frontend, InProcessCa.BACKEND);
        server = certs.tls.server(certs.backend);
        if (!"TLSv1.3".equals(handshake())) {
            throw new IllegalStateException("not TLS 1.3");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        certs.close();
    }

    @Benchmark
    public String mutualHandshake() throws SSLException {
        return handshake();
    }

    private String handshake() throws SSLException {
        SSLEngine c = client.newEngine(ByteBufAllocator.DEFAULT);
        SSLEngine s = server.newEngine(ByteBufAllocator.DEFAULT);
        try {
            clientToServer.clear();
            serverToClient.clear();
            c.beginHandshake();
            s.beginHandshake();
            for (int i = 0; i < 50; i++) {
                clientApp.clear();
                serverApp.clear();
                c.wrap(EMPTY, clientToServer);
                s.wrap(EMPTY, serverToClient);
                clientToServer.flip();
                serverToClient.flip();
                c.unwrap(serverToClient, clientApp);
                s.unwrap(clientToServer, serverApp);
                clientToServer.compact();
                serverToClient.compact();
                tasks(c);
                tasks(s);
                if (done(c) && done(s) && clientToServer.position() == 0 && serverToClient.position() == 0) {
                    return c.getSession().getProtocol();
                }
            }
            throw new SSLException("handshake did not finish: client " + c.getHandshakeStatus() + ", server "
                    + s.getHandshakeStatus());
        } finally {
            ReferenceCountUtil.release(c);
            ReferenceCountUtil.release(s);
        }
    }

    private static boolean done(SSLEngine e) {
        HandshakeStatus h = e.getHandshakeStatus();
        return h == HandshakeStatus.NOT_HANDSHAKING || h == HandshakeStatus.FINISHED;
    }

    private static void tasks(SSLEngine e) {
        for (Runnable t; (t = e.getDelegatedTask()) != null; ) {
            t.run();
        }
    }
}
