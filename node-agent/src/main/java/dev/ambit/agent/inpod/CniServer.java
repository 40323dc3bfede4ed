package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
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
 *                      "ips": ["10.244.1.7"], "containerId": "..."}
 *   200 {"uid": "...", "result": "enrolled"}   capture is in place (listeners open, eBPF attached)
 *   200 {"uid": "...", "result": "not-ambient", "reason": "..."}   not for the mesh: start it as it is
 *   400 {"error": "..."}                        the request is wrong: asking again will not help
 *   503 {"error": "..."}                        not captured (yet): keep the pod from starting, ask again
 * POST /v1/pods/del   {"uid": "..."} or {"containerId": "..."}  (namespace and name optional)
 *   200 {"uid": "...", "result": "removed"}    also for a pod this agent does not know (idempotent)
 * GET  /v1/healthz    200 {"result": "ok"}
 * </pre>
 *
 * What the CNI plugin ({@code cni-plugin}, ambit-cni) sends: {@code uid} only when the runtime
 * passes {@code K8S_POD_UID}; no {@code cgroup} (the agent finds it from the UID, {@link
 * Builder#cgroups}); no {@code ips} but the CNI {@code prevResult}, whose IPv4
 * {@code ips[].address} are the pod's addresses. Every pod of the node is sent, so the agent
 * decides which belong in the mesh ({@link Admission}; {@code ambitctl local}'s controller
 * sends only meshed pods: {@link Admission#ALL}); a pod that is not is answered
 * {@code not-ambient} before its addresses or cgroup are looked at. A DEL may name the sandbox
 * by {@code containerId} only: the agent remembers the ids of the ADDs it answered.
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

    /** Whether a pod reported over CNI belongs in the ambient mesh (Istio's CNI plugin asks the same). */
    @FunctionalInterface
    public interface Admission {
        /** Every pod reported is meshed; the UID must be in the request. */
        Admission ALL = (namespace, name, uid) -> {
            if (uid == null) {
                throw new IllegalArgumentException("uid: missing (expected: " + CniRequest.UID_EXPECTED + ")");
            }
            return Decision.ambient(uid);
        };

        /**
         * Decides for pod {@code namespace/name}; may block (it runs on its own thread).
         *
         * @param uid the UID the runtime reported, or null
         * @return the decision, with the pod's UID when ambient
         * @throws IllegalArgumentException when the request cannot be right (answered 400)
         * @throws RuntimeException when it cannot tell now (answered 503: the plugin asks again)
         */
        Decision admit(String namespace, String name, String uid);
    }

    /** An {@link Admission}'s answer; {@code uid} is required when {@code ambient}. */
    public record Decision(boolean ambient, String uid, String reason) {
        public Decision {
            requireNonNull(reason, "reason");
            if (ambient) {
                requireNonNull(uid, "uid");
            }
        }

        public static Decision ambient(String uid) {
            return new Decision(true, uid, "ambient");
        }

        public static Decision notAmbient(String uid, String reason) {
            return new Decision(false, uid, reason);
        }
    }

    /** Container ids of the ADDs answered, for DELs that name only the sandbox; bounded. */
    private static final int MAX_CONTAINERS = 4096;

    private final Path path;
    private final EventLoopGroup group;
    private final Channel channel;
    private final Object fileKey;

    private final ExecutorService admissions;
    private final Map<String, String> containers = Collections.synchronizedMap(new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > MAX_CONTAINERS;
        }
    });

    private CniServer(Path path, Pods pods, Admission admission, Function<String, Optional<Path>> cgroups) {
        this.path = path;
        // Admission may ask the API server: never on the event loop.
        admissions = admission == Admission.ALL ? null
                : Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("ambit-cni-admission-", 0).factory());
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
                                    new Dispatcher(pods, admission, cgroups, admissions,
                                    containers));
                        }
                    })
                    .bind(new DomainSocketAddress(at.toFile())).syncUninterruptibly().channel());
        } catch (IOException | RuntimeException e) {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            if (admissions != null) {
                admissions.shutdownNow();
            }
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
        return builder(path, pods).start();
    }

    /** A server on unix socket {@code path} enrolling through {@code pods}; every pod is meshed unless told. */
    public static Builder builder(Path path, Pods pods) {
        return new Builder(path, pods);
    }

    /** Configures a {@link CniServer}. */
    public static final class Builder {
        private final Path path;
        private final Pods pods;
        private Admission admission = Admission.ALL;
        private Function<String, Optional<Path>> cgroups;

        private Builder(Path path, Pods pods) {
            this.path = requireNonNull(path, "path");
            this.pods = requireNonNull(pods, "pods");
        }

        /** Which reported pods are meshed; default {@link Admission#ALL}. */
        public Builder admission(Admission admission) {
            this.admission = requireNonNull(admission, "admission");
            return this;
        }

        /**
         * Finds a pod's cgroup from its UID when the request has none (the CNI plugin's); without
         * it, {@code cgroup} is required.
         */
        public Builder cgroups(Function<String, Optional<Path>> cgroups) {
            this.cgroups = requireNonNull(cgroups, "cgroups");
            return this;
        }

        /** The pod cgroups under {@code cgroupRoot}, found from their UID in both kubelet layouts. */
        public Builder cgroupRoot(Path cgroupRoot) {
            CgroupPods found = new CgroupPods(requireNonNull(cgroupRoot, "cgroupRoot"));
            return cgroups(uid -> CgroupPods.validUid(uid)
                    ? Optional.ofNullable(found.findCgroups(List.of(uid)).get(uid)) : Optional.empty());
        }

        /**
         * Listens on the unix socket (its folder is created if missing).
         *
         * @throws IllegalStateException naming the path when it cannot listen
         */
        public CniServer start() {
            return new CniServer(path, pods, admission, cgroups);
        }
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        if (admissions != null) {
            admissions.shutdownNow();
        }
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
        private final Admission admission;
        private final Function<String, Optional<Path>> cgroups;
        private final ExecutorService admissions;
        private final Map<String, String> containers;

        Dispatcher(Pods pods, Admission admission, Function<String, Optional<Path>> cgroups,
                   ExecutorService admissions, Map<String, String> containers) {
            this.pods = pods;
            this.admission = admission;
            this.cgroups = cgroups;
            this.admissions = admissions;
            this.containers = containers;
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
                    add(ctx, keepAlive, CniRequest.add(body));
                } else if (path.equals(DEL) && req.method().equals(HttpMethod.POST)) {
                    del(ctx, keepAlive, CniRequest.del(body));
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

        private void add(ChannelHandlerContext ctx, boolean keepAlive, CniRequest.Add add) {
            CompletableFuture<Decision> decided = admissions == null
                    ? CompletableFuture.completedFuture(admission.admit(add.namespace(), add.name(), add.uid()))
                    : CompletableFuture.supplyAsync(() -> admission.admit(add.namespace(), add.name(), add.uid()),
                            admissions);
            decided.thenCompose(d -> {
                if (!d.ambient()) {
                    log.info("CNI ADD {}: not for the mesh ({})", add.key(), d.reason());
                    return CompletableFuture.completedFuture(object("uid", d.uid() == null ? "" : d.uid(),
                            "result", "not-ambient", "reason", d.reason()));
                }
                String uid = d.uid();
                if (add.uid() != null && !add.uid().equals(uid)) {
                    throw new IllegalStateException("the runtime reported uid " + add.uid() + ", the API server has "
                            + uid + " for this name");
                }
                List<InetAddress> addresses = CniRequest.addresses(add.body());
                Path cgroup = CniRequest.cgroup(add.body(), uid, cgroups);
                PodSandbox sandbox = new PodSandbox(add.namespace(), add.name(), uid, cgroup, add.netns());
                return pods.add(sandbox, addresses).thenApply(v -> {
                    if (add.containerId() != null) {
                        containers.put(add.containerId(), uid);
                    }
                    log.info("CNI ADD {} ({}): captured", add.key(), uid);
                    return result(uid, "enrolled");
                });
            }).whenComplete((json, e) -> {
                if (e == null) {
                    respond(ctx, keepAlive, HttpResponseStatus.OK, json);
                } else {
                    Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                    log.warn("CNI ADD {}: not captured: {}", add.key(), c.getMessage());
                    // A wrong request names the field, as the synchronous checks do; asking again will not help.
                    if (c instanceof IllegalArgumentException) {
                        respond(ctx, keepAlive, HttpResponseStatus.BAD_REQUEST, error(c.getMessage()));
                    } else {
                        respond(ctx, keepAlive, HttpResponseStatus.SERVICE_UNAVAILABLE,
                                error("pod " + add.key() + ": not captured: " + c.getMessage()));
                    }
                }
            });
        }

        private void del(ChannelHandlerContext ctx, boolean keepAlive, CniRequest.Del del) {
            String uid = del.uid() != null ? del.uid() : containers.get(del.containerId());
            if (del.containerId() != null) {
                containers.remove(del.containerId());
            }
            if (uid == null) {
                // Not an ADD of this process (or not a meshed pod): nothing to stop; a pod
                // captured by an earlier process leaves when its netns goes.
                log.info("CNI DEL of sandbox {} ({}/{}): not known here", del.containerId(), del.namespace(),
                        del.name());
                respond(ctx, keepAlive, HttpResponseStatus.OK, object("result", "unknown"));
                return;
            }
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
