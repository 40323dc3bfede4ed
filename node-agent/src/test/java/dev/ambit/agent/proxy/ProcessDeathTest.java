package dev.ambit.agent.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.Daemon;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy process dies (SIGKILL) while relaying: the applications on both sides must see
 * a reset, never a clean end of stream, unless the relay had already ended their direction
 * gracefully ({@link dev.ambit.proxy.net.Linger}). The proxy is a real
 * {@link Plaintext15006Listener} in a child JVM ({@link PlaintextProxyProcess}); client and
 * app are blocking sockets of this JVM. Epoll; {@link ProcessDeathIoUringTest} runs the same
 * on io_uring.
 */
@Timeout(60)
class ProcessDeathTest {

    private static final Pattern LISTENING = Pattern.compile("listening (\\d+)");
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @TempDir
    Path dir;
    private ServerSocket appListener;
    private Daemon proxy;

    Transport transport() {
        return Transport.EPOLL;
    }

    @BeforeEach
    void startAppAndProxy() throws Exception {
        appListener = new ServerSocket(0, 10, LOOPBACK);
        proxy = Daemon.java("proxy", null, dir.resolve("proxy.log"), PlaintextProxyProcess.class.getName(),
                List.of(transport().configName(), String.valueOf(appListener.getLocalPort())));
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        appListener.close();
    }

    @Test
    void aDownloadCutByTheProxysDeathIsAResetForTheClient() throws Exception {
        try (Socket client = connectThroughProxy(); Socket app = appListener.accept()) {
            Thread writer = Thread.ofVirtual().start(() -> writeUntilFailure(app));
            InputStream in = client.getInputStream();
            in.readNBytes(1024 * 1024); // the relay is streaming
            proxy.kill();
            Throwable end = catchThrowable(() -> drain(in));
            assertThat(end).as("the client's read after the proxy died (EOF would be a silent truncation)")
                    .isInstanceOf(SocketException.class).hasMessageContaining("Connection reset");
            app.close();
            writer.join(10_000);
        }
    }

    @Test
    void anUploadCutByTheProxysDeathIsAResetForTheApp() throws Exception {
        try (Socket client = connectThroughProxy(); Socket app = appListener.accept()) {
            Thread writer = Thread.ofVirtual().start(() -> writeUntilFailure(client));
            InputStream in = app.getInputStream();
            in.readNBytes(1024 * 1024);
            proxy.kill();
            Throwable end = catchThrowable(() -> drain(in));
            assertThat(end).as("the app's read after the proxy died (EOF would be a silent truncation)")
                    .isInstanceOf(SocketException.class).hasMessageContaining("Connection reset");
            client.close();
            writer.join(10_000);
        }
    }

    /**
     * The app sent everything and its FIN; the relay wrote all of it and shut the client's
     * output down (the graceful close began); then the proxy dies before the client read it.
     * The kernel still delivers every byte and the FIN: the client's direction ended cleanly.
     */
    @Test
    void aDirectionThatEndedGracefullyBeforeTheProxysDeathIsStillDeliveredWithItsFin() throws Exception {
        byte[] reply = new byte[48 * 1024];
        for (int i = 0; i < reply.length; i++) {
            reply[i] = (byte) (i * 7);
        }
        try (Socket client = connectThroughProxy(); Socket app = appListener.accept()) {
            app.getOutputStream().write(reply);
            app.shutdownOutput();
            Thread.sleep(1_000); // relayed, and the client's output shut down, while the client reads nothing
            proxy.kill();
            InputStream in = client.getInputStream();
            assertThat(in.readAllBytes()).as("every byte, then EOF").isEqualTo(reply);
        }
    }

    private Socket connectThroughProxy() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            Matcher m = LISTENING.matcher(proxy.log());
            if (m.find()) {
                Socket s = new Socket(LOOPBACK, Integer.parseInt(m.group(1)));
                s.setSoTimeout(20_000);
                return s;
            }
            assertThat(proxy.isAlive()).as("proxy process running: %s", proxy.tail(30)).isTrue();
            Thread.sleep(50);
        }
        throw new AssertionError("proxy did not start listening: " + proxy.tail(30));
    }

    /** Writes until the socket fails (the peer reset it, or it was closed here). */
    private static void writeUntilFailure(Socket s) {
        byte[] chunk = new byte[64 * 1024];
        try {
            OutputStream out = s.getOutputStream();
            for (int i = 0; i < 100_000; i++) {
                out.write(chunk);
            }
        } catch (IOException expected) {
            // the end of this side's story
        }
    }

    /** Reads until EOF (returns normally) or an error (thrown). */
    private static void drain(InputStream in) throws IOException {
        byte[] buf = new byte[64 * 1024];
        while (in.read(buf) >= 0) {
            // discard
        }
    }
}
