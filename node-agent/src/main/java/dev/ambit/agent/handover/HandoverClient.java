package dev.ambit.agent.handover;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.inpod.InPodManager;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The taking side's connection to the agent it replaces ({@link HandoverProtocol}). Blocking;
 * used from one thread. Every method throws {@link UncheckedIOException} when the other agent
 * is gone or answers with an error.
 */
public final class HandoverClient implements AutoCloseable {

    private final Path path;
    private final SocketChannel channel;
    private final BufferedReader in;
    private final OutputStream out;
    private long peerPid;

    private HandoverClient(Path path, SocketChannel channel) {
        this.path = path;
        this.channel = channel;
        in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        out = Channels.newOutputStream(channel);
    }

    /**
     * Connects to the agent listening on {@code path} and greets it; empty when no agent does
     * (no socket file, or a stale one: that agent is gone).
     *
     * @throws UncheckedIOException when an agent answers but not with this protocol version
     */
    public static Optional<HandoverClient> connect(Path path) {
        requireNonNull(path, "path");
        if (!Files.exists(path)) {
            return Optional.empty();
        }
        SocketChannel ch;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            ch.connect(UnixDomainSocketAddress.of(path));
        } catch (IOException e) {
            close(ch);
            return Optional.empty(); // refused: a stale file of an agent that did not hand over
        }
        HandoverClient c = new HandoverClient(path, ch);
        try {
            String ok = c.ask("HELLO " + HandoverProtocol.VERSION);
            String[] w = ok.split(" ");
            if (w.length != 3 || !w[0].equals("OK")) {
                throw new IOException("unexpected greeting \"" + ok + "\"");
            }
            c.peerPid = Long.parseLong(w[2]);
            return Optional.of(c);
        } catch (IOException | RuntimeException e) {
            c.close();
            throw new UncheckedIOException(new IOException("hand-over socket " + path + ": " + e.getMessage(), e));
        }
    }

    /** The pid of the agent handing over. */
    public long peerPid() {
        return peerPid;
    }

    /** Whether the other agent runs in this process's network namespace (then it holds the same admin ports). */
    public boolean sharesNetworkNamespace() {
        try {
            return Files.readSymbolicLink(Path.of("/proc", Long.toString(peerPid), "ns", "net"))
                    .equals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")));
        } catch (IOException e) {
            return false; // another pid namespace: another pod, so another network namespace
        }
    }

    /** The pods the other agent serves now. */
    public List<InPodManager.Held> pods() {
        List<InPodManager.Held> out = new ArrayList<>();
        String line = ask("PODS");
        while (!line.equals("END")) {
            out.add(HandoverProtocol.parsePod(line));
            line = readLine();
        }
        return out;
    }

    /** Asks the other agent to close its listeners of pod {@code uid}; false if it did not serve it. */
    public boolean release(String uid) {
        requireNonNull(uid, "uid");
        String a = ask("RELEASE " + uid);
        if (a.equals("RELEASED " + uid)) {
            return true;
        }
        if (a.equals("UNKNOWN " + uid)) {
            return false;
        }
        throw unexpected("RELEASE " + uid, a);
    }

    /** Asks the other agent to close its admin, stats and readiness ports. */
    public void releasePorts() {
        expectOk("PORTS");
    }

    /** Tells the other agent that the hand-over is complete: it drains and leaves. */
    public void done() {
        expectOk("DONE");
    }

    private void expectOk(String request) {
        String a = ask(request);
        if (!a.equals("OK")) {
            throw unexpected(request, a);
        }
    }

    private UncheckedIOException unexpected(String request, String answer) {
        return new UncheckedIOException(new IOException("hand-over socket " + path + ": " + request + " answered \""
                + answer + "\""));
    }

    private String ask(String request) {
        try {
            out.write((request + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(new IOException("hand-over socket " + path + ": " + request + ": "
                    + e.getMessage(), e));
        }
        String a = readLine();
        if (a.startsWith("ERR")) {
            throw unexpected(request, a);
        }
        return a;
    }

    private String readLine() {
        try {
            String line = in.readLine();
            if (line == null) {
                throw new IOException("the other agent closed the connection");
            }
            return line;
        } catch (IOException e) {
            throw new UncheckedIOException(new IOException("hand-over socket " + path + ": " + e.getMessage(), e));
        }
    }

    @Override
    public void close() {
        close(channel);
    }

    private static void close(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // Nothing to do.
        }
    }
}
