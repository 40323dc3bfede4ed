package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.common.json.JsonWriter;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.function.Function;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's enrollment endpoint: HTTP/1.1 with JSON bodies on a unix domain socket, what a
 * CNI plugin (or {@code ambitctl local}'s controller) calls when it creates or deletes a pod
 * sandbox, before the pod's containers start. As Istio's CNI plugin hands pods to its node
 * agent: the plugin holds the pod until the agent answers, so a pod never runs uncaptured.
 *
 * <pre>
 * POST /v1/pods/add   {"uid": "...", "namespace": "shop", "name": "web-1",
 *                      "netns": "/var/run/netns/cni-...", "cgroup": "/sys/fs/cgroup/.../pod...",
 *                      "ips": ["10.244.1.7"]}
 *   200 {"uid": "...", "result": "enrolled"}   capture is in place (listeners open, eBPF attached)
 *   400 {"error": "..."}                        the request is wrong: asking again will not help
 *   503 {"error": "..."}                        not captured (yet): keep the pod from starting, ask again
 * POST /v1/pods/del   {"uid": "..."}  (namespace and name optional)
 *   200 {"uid": "...", "result": "removed"}    also for a pod this agent does not know (idempotent)
 * GET  /v1/healthz    200 {"result": "ok"}
 * </pre>
 *
 * ADD answers only once the pod is captured, which may be before its workload and
 * certificate are known: its connections then wait for them ({@link PodGate}). ADD is
 * idempotent. Requests are limited to {@value #MAX_REQUEST_BYTES} bytes; one request per
 * connection is enough ({@code Connection: close} is honoured, keep-alive works too).
 *
 * <p>The socket file has mode 0600 from the moment anyone can reach it (who may write to it
 * decides what the agent captures; {@link #bindPrivately}); a stale file from an earlier
 * process is replaced. One event loop thread,
 * {@code ambit-cni}; the enrollment itself runs on {@link InPodManager}'s thread.
 */
public final class CniServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CniServer.class);
    static final int MAX_REQUEST_BYTES = 64 * 1024;
    public static final String ADD = "/v1/pods/add";
    public static final String DEL = "/v1/pods/del";
    public static final String HEALTH = "/v1/healthz";
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Kubernetes UIDs are UUIDs; this also keeps the UID safe as a BPF pin folder's name. */
    private static final Pattern UID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,127}");
    /** RFC 1123 subdomain, as Kubernetes names and namespaces. */
    private static final Pattern NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    /** What the server does with valid requests: {@link InPodManager} in the agent. */
    public interface Pods {
        CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses);

        CompletableFuture<Void> remove(String uid);

        static Pods of(InPodManager manager) {
            requireNonNull(manager, "manager");
            return new Pods() {
                @Override
                public CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses) {
                    return manager.add(sandbox, addresses);
                }

                @Override
                public CompletableFuture<Void> remove(String uid) {
                    return manager.remove(uid);
                }
            };
        }
    }

    /** A parsed ADD. */
    record AddRequest(PodSandbox sandbox, List<InetAddress> addresses) {}

    private final Path path;
    private final EventLoopGroup group;
    private final Channel channel;
    private final Object fileKey;

    private CniServer(Path path, Pods pods) {
        this.path = path;
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("ambit-cni", true),
                EpollIoHandler.newFactory());
        try {
            channel = bindPrivately(path, at -> new ServerBootstrap()
                    .group(group)
                    .channel(EpollServerDomainSocketChannel.class)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(MAX_REQUEST_BYTES),
                                    new Dispatcher(pods));
                        }
                    })
                    .bind(new DomainSocketAddress(at.toFile())).syncUninterruptibly().channel());
        } catch (IOException | RuntimeException e) {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw new IllegalStateException("CNI endpoint: cannot listen on unix socket " + path + ": " + e.getMessage()
                    + " (is the folder writable, and on a file system that takes sockets?)", e);
        }
        fileKey = dev.ambit.agent.handover.HandoverServer.fileKey(path);
        log.info("CNI endpoint listening on unix socket {}", path);
    }

    /**
     * Binds a unix socket at {@code path} with mode 0600 such that nobody else can connect at
     * any moment: {@code bind} creates the socket (mode from the umask) inside a fresh folder
     * of mode 0700 next to {@code path}; it is made 0600 there and then renamed to
     * {@code path} (atomically, replacing a stale socket of an earlier process). Binding at
     * {@code path} and changing the mode afterwards would leave a window in which any local
     * user could connect and ask the agent to capture (or release) a pod.
     *
     * @param bind binds a listening socket at the path it is given
     */
    public static <T> T bindPrivately(Path path, Function<Path, T> bind) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // A short name: a unix socket path is limited to 107 bytes.
        Path staging = Files.createTempDirectory(dir, ".c",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path at = staging.resolve("s");
        try {
            T bound = bind.apply(at);
            Files.setPosixFilePermissions(at, PosixFilePermissions.fromString("rw-------"));
            Files.move(at, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return bound;
        } finally {
            Files.deleteIfExists(at);
            Files.deleteIfExists(staging);
        }
    }

    /**
     * Listens on the unix socket {@code path} (its folder is created if missing).
     *
     * @throws IllegalStateException naming the path when it cannot listen
     */
    public static CniServer start(Path path, Pods pods) {
        requireNonNull(path, "path");
        requireNonNull(pods, "pods");
        return new CniServer(path, pods);
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        try {
            // Unless a new agent's socket replaced ours (a hand-over, dev.ambit.agent.handover).
            if (fileKey != null && fileKey.equals(dev.ambit.agent.handover.HandoverServer.fileKey(path))) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", path, e.getMessage());
        }
    }

    // ------------------------------------------------------------------ protocol

    /**
     * Parses an ADD body.
     *
     * @throws IllegalArgumentException naming the field and what was expected
     */
    static AddRequest parseAdd(String body) {
        JsonNode n = parse(body);
        String uid = field(n, "uid", UID, "a pod UID: letters, digits, '-' or '_', up to 128");
        String namespace = field(n, "namespace", NAME, "a Kubernetes namespace name");
        String name = field(n, "name", NAME, "a Kubernetes pod name");
        Path netns = absolutePath(n, "netns");
        Path cgroup = absolutePath(n, "cgroup");
        JsonNode ips = n.path("ips");
        if (!ips.isArray() || ips.isEmpty()) {
            throw new IllegalArgumentException("ips: " + ips + " (expected: a non-empty array of the pod's addresses)");
        }
        List<InetAddress> addresses = new ArrayList<>();
        for (JsonNode ip : ips) {
            addresses.add(ipv4(ip));
        }
        return new AddRequest(new PodSandbox(namespace, name, uid, cgroup, netns), List.copyOf(addresses));
    }

    /** Parses a DEL body: the UID. */
    static String parseDel(String body) {
        return field(parse(body), "uid", UID, "a pod UID: letters, digits, '-' or '_', up to 128");
    }

    private static JsonNode parse(String body) {
        try {
            JsonNode n = JSON.readTree(body);
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException("body: not a JSON object (expected: {\"uid\": ..., ...})");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("body: not JSON: " + e.getOriginalMessage());
        }
    }

    private static String field(JsonNode n, String field, Pattern pattern, String expected) {
        JsonNode v = n.path(field);
        if (!v.isTextual() || !pattern.matcher(v.asText()).matches()) {
            throw new IllegalArgumentException(field + ": " + (v.isMissingNode() ? "missing" : v.toString())
                    + " (expected: " + expected + ")");
        }
        return v.asText();
    }

    private static Path absolutePath(JsonNode n, String field) {
        JsonNode v = n.path(field);
        if (!v.isTextual() || !v.asText().startsWith("/") || v.asText().contains("\0")) {
            throw new IllegalArgumentException(field + ": " + (v.isMissingNode() ? "missing" : v.toString())
                    + " (expected: an absolute path)");
        }
        Path p = Path.of(v.asText()).normalize();
        if (!p.toString().equals(v.asText())) {
            throw new IllegalArgumentException(field + ": " + v + " (expected: a normalized absolute path, e.g. " + p
                    + ")");
        }
        return p;
    }

    private static InetAddress ipv4(JsonNode ip) {
        String s = ip.isTextual() ? ip.asText() : "";
        if (IPV4.matcher(s).matches()) {
            try {
                InetAddress a = InetAddress.getByName(s); // a literal: no lookup
                if (a.getHostAddress().equals(s)) {
                    return a;
                }
            } catch (UnknownHostException e) {
                // not an address: reported below
            }
        }
        throw new IllegalArgumentException("ips: " + ip + " (expected: IPv4 addresses such as \"10.244.1.7\";"
                + " IPv6 is not captured yet)");
    }

    private static String result(String uid, String result) {
        return object("uid", uid, "result", result);
    }

    private static String error(String message) {
        return object("error", message);
    }

    /** A flat JSON object of string values: key, value, key, value... */
    private static String object(String... keyValues) {
        JsonWriter j = new JsonWriter().open('{');
        for (int i = 0; i < keyValues.length; i += 2) {
            j.key(keyValues[i]).value(keyValues[i + 1]);
        }
        return j.close('}').toString();
    }

    private static final class Dispatcher extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Pods pods;

        Dispatcher(Pods pods) {
            this.pods = pods;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            String path = req.uri();
            String body = req.content().toString(StandardCharsets.UTF_8);
            try {
                if (path.equals(HEALTH) && req.method().equals(HttpMethod.GET)) {
                    respond(ctx, keepAlive, HttpResponseStatus.OK, object("result", "ok"));
                } else if (path.equals(ADD) && req.method().equals(HttpMethod.POST)) {
                    AddRequest add = parseAdd(body);
                    String uid = add.sandbox().uid();
                    pods.add(add.sandbox(), add.addresses()).whenComplete((v, e) -> {
                        if (e == null) {
                            log.info("CNI ADD {} ({}): captured", add.sandbox().key(), uid);
                            respond(ctx, keepAlive, HttpResponseStatus.OK, result(uid, "enrolled"));
                        } else {
                            Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                            log.warn("CNI ADD {} ({}): not captured: {}", add.sandbox().key(), uid, c.getMessage());
                            respond(ctx, keepAlive, c instanceof IllegalArgumentException
                                    ? HttpResponseStatus.BAD_REQUEST : HttpResponseStatus.SERVICE_UNAVAILABLE,
                                    error("pod " + add.sandbox().key() + ": not captured: " + c.getMessage()));
                        }
                    });
                } else if (path.equals(DEL) && req.method().equals(HttpMethod.POST)) {
                    String uid = parseDel(body);
                    pods.remove(uid).whenComplete((v, e) -> {
                        if (e == null) {
                            log.info("CNI DEL {}: removed", uid);
                            respond(ctx, keepAlive, HttpResponseStatus.OK, result(uid, "removed"));
                        } else {
                            Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                            respond(ctx, keepAlive, HttpResponseStatus.SERVICE_UNAVAILABLE,
                                    error("pod " + uid + ": cannot remove: " + c.getMessage()));
                        }
                    });
                } else if (path.equals(ADD) || path.equals(DEL) || path.equals(HEALTH)) {
                    respond(ctx, keepAlive, HttpResponseStatus.METHOD_NOT_ALLOWED,
                            error("method " + req.method() + " not allowed on " + path));
                } else {
                    respond(ctx, keepAlive, HttpResponseStatus.NOT_FOUND,
                            error("no endpoint " + path + " (expected: POST " + ADD + ", POST " + DEL + ", GET "
                                    + HEALTH + ")"));
                }
            } catch (IllegalArgumentException e) {
                respond(ctx, keepAlive, HttpResponseStatus.BAD_REQUEST, error(e.getMessage()));
            }
        }

        private static void respond(ChannelHandlerContext ctx, boolean keepAlive, HttpResponseStatus status,
                                    String json) {
            FullHttpResponse out = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                    Unpooled.copiedBuffer(json + "\n", StandardCharsets.UTF_8));
            out.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
            HttpUtil.setContentLength(out, out.content().readableBytes());
            HttpUtil.setKeepAlive(out, keepAlive);
            var written = ctx.writeAndFlush(out);
            if (!keepAlive) {
                written.addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // An oversized request is answered 413 by the aggregator; anything else ends the connection.
            log.debug("CNI endpoint connection failed", cause);
            ctx.close();
        }
    }

    @Override
    public String toString() {
        return "CniServer{" + path + "}";
    }
}
