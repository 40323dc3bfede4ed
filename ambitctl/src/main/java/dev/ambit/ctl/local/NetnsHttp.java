package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.NetNs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * Talks to a daemon inside a network namespace from this process: the socket is created
 * in the namespace (a socket belongs to the namespace it was created in for its whole
 * life), then used from here. HTTP/1.1 GET with {@code Connection: close}, enough for
 * the agents' admin and readiness endpoints.
 */
public final class NetnsHttp {

    /** An HTTP answer. */
    public record Response(int status, String body) {}

    private NetnsHttp() {
    }

    /** A TCP socket of namespace {@code netns} connected to {@code host:port}; throws IOException when refused. */
    public static SocketChannel connect(String netns, String host, int port, Duration timeout) throws IOException {
        requireNonNull(netns, "netns");
        SocketChannel ch;
        try {
            ch = NetNs.callIn(Topology.netnsPath(netns), SocketChannel::open);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("cannot open a socket in network namespace " + netns + ": " + e.getMessage(), e);
        }
        try {
            ch.socket().connect(new InetSocketAddress(host, port), (int) timeout.toMillis());
            return ch;
        } catch (IOException e) {
            ch.close();
            throw e;
        }
    }

    /** Whether something accepts TCP connections at {@code host:port} inside {@code netns}. */
    public static boolean listening(String netns, String host, int port) {
        try (SocketChannel ch = connect(netns, host, port, Duration.ofSeconds(1))) {
            return ch.isConnected();
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code GET path} on {@code host:port} inside {@code netns}. */
    public static Response get(String netns, String host, int port, String path, Duration timeout) throws IOException {
        return get(netns, host, port, path, List.of(), timeout);
    }

    /**
     * {@code GET path} on {@code host:port} inside {@code netns} with {@code headers} added
     * (a probe's {@code httpHeaders}; a {@code Host} among them replaces the default, as the
     * kubelet's does).
     */
    public static Response get(String netns, String host, int port, String path, List<PodTemplate.Header> headers,
                               Duration timeout) throws IOException {
        StringBuilder head = new StringBuilder("GET ").append(path).append(" HTTP/1.1\r\n");
        if (headers.stream().noneMatch(h -> h.name().equalsIgnoreCase("host"))) {
            head.append("Host: ").append(host).append(':').append(port).append("\r\n");
        }
        for (PodTemplate.Header h : headers) {
            if (h.name().indexOf('\r') >= 0 || h.name().indexOf('\n') >= 0 || h.value().indexOf('\r') >= 0
                    || h.value().indexOf('\n') >= 0) {
                throw new IllegalArgumentException("header " + h.name() + ": contains a line break");
            }
            head.append(h.name()).append(": ").append(h.value()).append("\r\n");
        }
        if (headers.stream().noneMatch(h -> h.name().equalsIgnoreCase("accept"))) {
            head.append("Accept: */*\r\n");
        }
        head.append("Connection: close\r\n\r\n");
        try (SocketChannel ch = connect(netns, host, port, timeout)) {
            Socket s = ch.socket();
            s.setSoTimeout((int) timeout.toMillis());
            OutputStream out = s.getOutputStream();
            out.write(head.toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return parse(readAll(s.getInputStream(), 64 << 20));
        }
    }

    private static byte[] readAll(InputStream in, int max) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[16384];
        int n;
        while ((n = in.read(chunk)) >= 0) {
            buf.write(chunk, 0, n);
            if (buf.size() > max) {
                throw new IOException("response larger than " + max + " bytes");
            }
        }
        return buf.toByteArray();
    }

    /** Parses a whole HTTP/1.1 response: status, headers, body (Content-Length, chunked or until close). */
    static Response parse(byte[] raw) throws IOException {
        String text = new String(raw, StandardCharsets.ISO_8859_1);
        int headEnd = text.indexOf("\r\n\r\n");
        if (!text.startsWith("HTTP/1.") || headEnd < 0) {
            throw new IOException("not an HTTP response: " + text.substring(0, Math.min(80, text.length())));
        }
        String[] lines = text.substring(0, headEnd).split("\r\n");
        String[] status = lines[0].split(" ", 3);
        int code = Integer.parseInt(status[1]);
        boolean chunked = false;
        for (int i = 1; i < lines.length; i++) {
            String l = lines[i].toLowerCase(Locale.ROOT);
            if (l.startsWith("transfer-encoding:") && l.contains("chunked")) {
                chunked = true;
            }
        }
        byte[] body = java.util.Arrays.copyOfRange(raw, headEnd + 4, raw.length);
        if (chunked) {
            body = dechunk(body);
        }
        return new Response(code, new String(body, StandardCharsets.UTF_8));
    }

    private static byte[] dechunk(byte[] in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int pos = 0;
        while (pos < in.length) {
            int lineEnd = indexOf(in, pos);
            if (lineEnd < 0) {
                throw new IOException("truncated chunked body");
            }
            String size = new String(in, pos, lineEnd - pos, StandardCharsets.US_ASCII).split(";")[0].strip();
            int n = Integer.parseInt(size, 16);
            pos = lineEnd + 2;
            if (n == 0) {
                break;
            }
            if (pos + n > in.length) {
                throw new IOException("truncated chunk");
            }
            out.write(in, pos, n);
            pos += n + 2;
        }
        return out.toByteArray();
    }

    private static int indexOf(byte[] in, int from) {
        for (int i = from; i + 1 < in.length; i++) {
            if (in[i] == '\r' && in[i + 1] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
