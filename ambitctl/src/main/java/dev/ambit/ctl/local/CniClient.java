package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.agent.inpod.CniServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The caller's side of a node agent's enrollment socket ({@link CniServer}: HTTP/1.1 and JSON
 * on a unix domain socket), as a CNI plugin calls it. One request per connection.
 */
final class CniClient implements PodEnrollment.Agent {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_RESPONSE_BYTES = 64 * 1024;

    /** What ADD tells the agent about a pod. */
    record Pod(String uid, String namespace, String name, Path netns, Path cgroup, List<String> ips) {
        Pod {
            requireNonNull(uid, "uid");
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
            requireNonNull(netns, "netns");
            requireNonNull(cgroup, "cgroup");
            ips = List.copyOf(ips);
        }

        String json() {
            ObjectNode o = JSON.createObjectNode();
            o.put("uid", uid).put("namespace", namespace).put("name", name).put("netns", netns.toString())
                    .put("cgroup", cgroup.toString());
            ips.forEach(o.putArray("ips")::add);
            return o.toString();
        }
    }

    /** An HTTP answer. */
    record Response(int status, String body) {}

    private final Duration timeout;

    CniClient(Duration timeout) {
        this.timeout = requireNonNull(timeout, "timeout");
    }

    @Override
    public void add(Path socket, Pod pod) throws IOException {
        expectOk(socket, CniServer.ADD, pod.json());
    }

    @Override
    public void del(Path socket, String uid) throws IOException {
        expectOk(socket, CniServer.DEL, JSON.createObjectNode().put("uid", uid).toString());
    }

    private void expectOk(Path socket, String path, String body) throws IOException {
        Response r = post(socket, path, body);
        if (r.status() != 200) {
            String error;
            try {
                JsonNode n = JSON.readTree(r.body());
                error = n.path("error").asText(r.body().strip());
            } catch (IOException e) {
                error = r.body().strip();
            }
            throw new IOException("the agent answered " + r.status() + ": " + error);
        }
    }

    /**
     * POSTs {@code body} to {@code path} on the unix socket; the whole exchange within the
     * client's timeout (the connection is closed when it passes).
     *
     * @throws IOException when the socket cannot be reached (agent down: "connection refused"
     *     or no such file), the answer is not HTTP, or the timeout passed
     */
    Response post(Path socket, String path, String body) throws IOException {
        SocketChannel ch;
        try {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            throw new IOException("cannot connect to " + socket + ": " + e.getMessage() + " (is the agent running?)", e);
        }
        CompletableFuture<Response> exchange = CompletableFuture.supplyAsync(() -> {
            try {
                return exchange(ch, path, body);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, r -> Thread.ofVirtual().name("ambit-cni-client").start(r));
        try {
            return exchange.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IOException("no answer from " + socket + " within " + timeout);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() instanceof java.io.UncheckedIOException u ? u.getCause() : e.getCause();
            throw new IOException(socket + ": " + c.getMessage(), c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } finally {
            ch.close();
        }
    }

    private static Response exchange(SocketChannel ch, String path, String body) throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        String head = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + content.length + "\r\nConnection: close\r\n\r\n";
        ByteBuffer out = ByteBuffer.allocate(head.length() + content.length);
        out.put(head.getBytes(StandardCharsets.US_ASCII)).put(content).flip();
        while (out.hasRemaining()) {
            ch.write(out);
        }
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(8192);
        while (ch.read(buf) >= 0) {
            in.write(buf.array(), 0, buf.position());
            buf.clear();
            if (in.size() > MAX_RESPONSE_BYTES) {
                throw new IOException("answer over " + MAX_RESPONSE_BYTES + " bytes");
            }
        }
        return parse(in.toString(StandardCharsets.UTF_8));
    }

    static Response parse(String raw) throws IOException {
        int end = raw.indexOf("\r\n\r\n");
        String[] status = raw.split(" ", 3);
        if (end < 0 || status.length < 2 || !status[0].startsWith("HTTP/1.")) {
            throw new IOException("not an HTTP answer: " + (raw.length() > 80 ? raw.substring(0, 80) + "..." : raw));
        }
        try {
            return new Response(Integer.parseInt(status[1]), raw.substring(end + 4));
        } catch (NumberFormatException e) {
            throw new IOException("not an HTTP status: " + status[1]);
        }
    }
}
