package dev.ambit.agent.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The enrollment socket's protocol ({@link CniServer}): a real unix socket, a recording {@code Pods}. */
class CniServerTest {

    private static final String ADD = """
            {"uid": "0b6f-11ee", "namespace": "shop", "name": "web-1", "netns": "/var/run/netns/cni-1",
             "cgroup": "/sys/fs/cgroup/kubepods/pod0b6f", "ips": ["10.244.1.7"]}""";

    @TempDir
    Path dir;

    private final List<String> calls = new CopyOnWriteArrayList<>();
    private volatile CompletableFuture<Void> addResult = CompletableFuture.completedFuture(null);
    private CniServer server;
    private Path socket;

    @BeforeEach
    void start() {
        socket = dir.resolve("sub/cni.sock");
        server = CniServer.start(socket, new CniServer.Pods() {
            @Override
            public CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses) {
                calls.add("add " + sandbox + " " + addresses);
                return addResult;
            }

            @Override
            public CompletableFuture<Void> remove(String uid) {
                calls.add("del " + uid);
                return CompletableFuture.completedFuture(null);
            }
        });
    }

    @AfterEach
    void stop() {
        server.close();
    }

    /** One request on a new connection; returns the status line and the body. */
    private String[] call(String method, String path, String body) throws IOException {
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            byte[] content = body.getBytes(StandardCharsets.UTF_8);
            String head = method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + content.length
                    + "\r\nConnection: close\r\n\r\n";
            ch.write(ByteBuffer.wrap(head.getBytes(StandardCharsets.US_ASCII)));
            ch.write(ByteBuffer.wrap(content));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (ch.read(buf) >= 0) {
                out.write(buf.array(), 0, buf.position());
                buf.clear();
            }
            String raw = out.toString(StandardCharsets.UTF_8);
            int end = raw.indexOf("\r\n\r\n");
            return new String[] {raw.substring(0, raw.indexOf("\r\n")), raw.substring(end + 4).strip()};
        }
    }

    @Test
    void addCapturesAndAnswersOk() throws Exception {
        String[] r = call("POST", CniServer.ADD, ADD);
        assertThat(r[0]).isEqualTo("HTTP/1.1 200 OK");
        assertThat(r[1]).isEqualTo("{\"uid\":\"0b6f-11ee\",\"result\":\"enrolled\"}");
        assertThat(calls).containsExactly("add " + new PodSandbox("shop", "web-1", "0b6f-11ee",
                Path.of("/sys/fs/cgroup/kubepods/pod0b6f"), Path.of("/var/run/netns/cni-1")) + " [/10.244.1.7]");
        assertThat(Files.getPosixFilePermissions(socket)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
    }

    @Test
    void socketIsReachableByOthersAtNoMoment() throws Exception {
        Path target = dir.resolve("private/cni.sock");
        Files.createDirectories(target.getParent());
        Files.writeString(target, "stale"); // an earlier process's leftover is replaced
        List<String> seen = new CopyOnWriteArrayList<>();
        try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            CniServer.bindPrivately(target, at -> {
                try {
                    // Bound inside a folder only the agent's user may enter, not at the target yet.
                    seen.add(PosixFilePermissions.toString(Files.getPosixFilePermissions(at.getParent())));
                    seen.add(String.valueOf(at.getParent().equals(target.getParent())));
                    server.bind(UnixDomainSocketAddress.of(at));
                    return server;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertThat(seen).containsExactly("rwx------", "false");
            assertThat(Files.getPosixFilePermissions(target)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
            try (Stream<Path> left = Files.list(target.getParent())) {
                assertThat(left).containsExactly(target); // the staging folder is gone
            }
            try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(target))) {
                assertThat(c.isConnected()).isTrue(); // the moved socket is the listening one
            }
        }
    }

    @Test
    void addAnswersOnlyOnceCaptureIsInPlace() throws Exception {
        CompletableFuture<Void> pending = new CompletableFuture<>();
        addResult = pending;
        var pool = Executors.newSingleThreadExecutor();
        try {
            Future<String[]> r = pool.submit(() -> call("POST", CniServer.ADD, ADD));
            assertThatThrownBy(() -> r.get(300, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
            pending.complete(null);
            assertThat(r.get(5, TimeUnit.SECONDS)[0]).isEqualTo("HTTP/1.1 200 OK");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void addThatCannotCaptureIsRefusedWithTheReason() throws Exception {
        addResult = CompletableFuture.failedFuture(new IllegalStateException("cannot open its listeners"));
        String[] r = call("POST", CniServer.ADD, ADD);
        assertThat(r[0]).isEqualTo("HTTP/1.1 503 Service Unavailable");
        assertThat(r[1]).isEqualTo("{\"error\":\"pod shop/web-1: not captured: cannot open its listeners\"}");
    }

    @Test
    void invalidAddsAreRefusedNamingTheField() throws Exception {
        assertThat(call("POST", CniServer.ADD, "nope")).containsExactly("HTTP/1.1 400 Bad Request",
                "{\"error\":\"body: not JSON: Unrecognized token 'nope': was expecting (JSON String, Number, Array,"
                        + " Object or token 'null', 'true' or 'false')\"}");
        assertThat(call("POST", CniServer.ADD, ADD.replace("\"uid\": \"0b6f-11ee\",", ""))[1])
                .isEqualTo("{\"error\":\"uid: missing (expected: a pod UID: letters, digits, '-' or '_', up to 128)\"}");
        assertThat(call("POST", CniServer.ADD, ADD.replace("0b6f-11ee", "../../x"))[1]).startsWith("{\"error\":\"uid:");
        assertThat(call("POST", CniServer.ADD, ADD.replace("/var/run/netns/cni-1", "netns"))[1])
                .isEqualTo("{\"error\":\"netns: \\\"netns\\\" (expected: an absolute path)\"}");
        assertThat(call("POST", CniServer.ADD, ADD.replace("10.244.1.7", "web.example"))[1])
                .startsWith("{\"error\":\"ips: \\\"web.example\\\" (expected: IPv4 addresses");
        assertThat(call("POST", CniServer.ADD, ADD.replace("[\"10.244.1.7\"]", "[]"))[1])
                .startsWith("{\"error\":\"ips: [] (expected: a non-empty array");
        assertThat(calls).isEmpty();
    }

    @Test
    void delIsIdempotentAndOk() throws Exception {
        String[] r = call("POST", CniServer.DEL, "{\"uid\": \"0b6f-11ee\", \"namespace\": \"shop\", \"name\": \"web-1\"}");
        assertThat(r).containsExactly("HTTP/1.1 200 OK", "{\"uid\":\"0b6f-11ee\",\"result\":\"removed\"}");
        assertThat(calls).containsExactly("del 0b6f-11ee");
    }

    @Test
    void otherPathsAndMethods() throws Exception {
        assertThat(call("GET", CniServer.HEALTH, "")).containsExactly("HTTP/1.1 200 OK", "{\"result\":\"ok\"}");
        assertThat(call("GET", CniServer.ADD, "")[0]).isEqualTo("HTTP/1.1 405 Method Not Allowed");
        assertThat(call("POST", "/cmdadd", ADD)[0]).isEqualTo("HTTP/1.1 404 Not Found");
    }

    @Test
    void staleSocketOfAnEarlierProcessIsReplaced() throws Exception {
        server.close(); // removes its file; leave a stale one as a killed agent would
        Files.createFile(socket);
        server = CniServer.start(socket, new CniServer.Pods() {
            @Override
            public CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses) {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> remove(String uid) {
                return CompletableFuture.completedFuture(null);
            }
        });
        assertThat(call("GET", CniServer.HEALTH, "")[0]).isEqualTo("HTTP/1.1 200 OK");
    }
}
