package dev.ambit.agent.handover;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.inpod.CniServer;
import dev.ambit.agent.inpod.InPodManager;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The giving side of a hand-over ({@link HandoverProtocol}): a running agent listens on the
 * node's hand-over socket (mode 0600, bound privately and renamed into place as the CNI socket
 * is) and answers the agent that replaces it. One platform thread accepts, one virtual thread
 * serves each connection.
 */
public final class HandoverServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(HandoverServer.class);
    /** How long one RELEASE may take (closing three listeners: milliseconds). */
    static final long RELEASE_TIMEOUT_SECONDS = 10;

    /** What the agent gives away. */
    public interface Giver {
        /** The pods served now. */
        CompletableFuture<List<InPodManager.Held>> pods();

        /** Closes the pod's listeners (not capture); false if not served. */
        CompletableFuture<Boolean> release(String uid);

        /** Closes the admin, stats and readiness listeners (the new agent binds the same ports). */
        void releasePorts();

        /** Everything was handed over: drain, then leave. Called once, after the answer is sent. */
        void done();

        static Giver of(InPodManager pods, Runnable releasePorts, Runnable done) {
            requireNonNull(pods, "pods");
            requireNonNull(releasePorts, "releasePorts");
            requireNonNull(done, "done");
            return new Giver() {
                @Override
                public CompletableFuture<List<InPodManager.Held>> pods() {
                    return pods.held();
                }

                @Override
                public CompletableFuture<Boolean> release(String uid) {
                    return pods.release(uid);
                }

                @Override
                public void releasePorts() {
                    releasePorts.run();
                }

                @Override
                public void done() {
                    done.run();
                }
            };
        }
    }

    private final Path path;
    private final Giver giver;
    private final ServerSocketChannel server;
    private final Object fileKey;
    private final Thread acceptor;
    private volatile boolean closed;

    private HandoverServer(Path path, Giver giver) throws IOException {
        this.path = path;
        this.giver = giver;
        server = CniServer.bindPrivately(path, at -> {
            try {
                return ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(at));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        fileKey = fileKey(path);
        acceptor = Thread.ofPlatform().name("ambit-handover").daemon(true).start(this::acceptLoop);
        log.info("hand-over endpoint listening on unix socket {}", path);
    }

    /**
     * Listens on {@code path}, replacing a stale socket file (a new agent replaces the socket of
     * the one it took over from).
     *
     * @throws IllegalStateException naming the path when it cannot listen
     */
    public static HandoverServer start(Path path, Giver giver) {
        requireNonNull(path, "path");
        requireNonNull(giver, "giver");
        try {
            return new HandoverServer(path, giver);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("hand-over endpoint: cannot listen on unix socket " + path + ": "
                    + e.getMessage() + " (is the folder writable?)", e);
        }
    }

    public Path path() {
        return path;
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                SocketChannel c = server.accept();
                Thread.ofVirtual().name("ambit-handover-conn").start(() -> serve(c));
            } catch (IOException e) {
                if (!closed) {
                    log.warn("hand-over endpoint: accept failed: {}", e.toString());
                }
                return;
            }
        }
    }

    private void serve(SocketChannel c) {
        boolean done = false;
        try (c; BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(c),
                StandardCharsets.UTF_8)); OutputStream out = Channels.newOutputStream(c)) {
            String line;
            while ((line = in.readLine()) != null) {
                String answer;
                try {
                    answer = answer(line);
                } catch (Exception e) {
                    answer = "ERR " + (e.getMessage() == null ? e.toString() : e.getMessage()).replace('\n', ' ');
                }
                out.write((answer + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                if (line.equals("DONE")) {
                    done = true;
                    break;
                }
            }
        } catch (IOException e) {
            log.warn("hand-over connection failed: {}", e.toString());
        }
        if (done) {
            giver.done();
        }
    }

    private String answer(String line) throws Exception {
        String[] words = line.split(" ", 2);
        switch (words[0]) {
            case "HELLO" -> {
                if (words.length != 2 || !words[1].equals(Integer.toString(HandoverProtocol.VERSION))) {
                    return "ERR protocol \"" + line + "\" (expected: HELLO " + HandoverProtocol.VERSION + ")";
                }
                log.info("hand-over: a new agent asks for this agent's pods");
                return "OK " + HandoverProtocol.VERSION + " " + ProcessHandle.current().pid();
            }
            case "PODS" -> {
                StringBuilder b = new StringBuilder();
                for (InPodManager.Held h : giver.pods().get(RELEASE_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    b.append(HandoverProtocol.podLine(h)).append('\n');
                }
                return b.append("END").toString();
            }
            case "RELEASE" -> {
                if (words.length != 2) {
                    return "ERR \"" + line + "\" (expected: RELEASE <uid>)";
                }
                boolean had = giver.release(words[1]).get(RELEASE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                return (had ? "RELEASED " : "UNKNOWN ") + words[1];
            }
            case "PORTS" -> {
                giver.releasePorts();
                log.info("hand-over: admin, stats and readiness ports closed for the new agent");
                return "OK";
            }
            case "DONE" -> {
                log.info("hand-over: every pod handed over");
                return "OK";
            }
            default -> {
                return "ERR unknown request \"" + line + "\" (expected: HELLO, PODS, RELEASE, PORTS or DONE)";
            }
        }
    }

    /** Stops listening; removes the socket file unless a newer agent's socket replaced it. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            log.debug("closing the hand-over socket: {}", e.toString());
        }
        try {
            if (fileKey != null && fileKey.equals(fileKey(path))) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", path, e.getMessage());
        }
        acceptor.interrupt();
    }

    /** The file's identity (device and inode), or null when it does not exist. */
    public static Object fileKey(Path p) {
        try {
            return Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (IOException e) {
            return null;
        }
    }
}
