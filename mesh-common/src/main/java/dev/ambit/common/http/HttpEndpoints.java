package dev.ambit.common.http;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small HTTP/1.1 server for monitoring, health and admin endpoints (not the data
 * path): one event loop thread, requests up to 64 KiB, handlers that return quickly
 * ({@link Handler}) or answer later without holding the thread ({@link AsyncHandler}).
 *
 * <pre>{@code
 * HttpEndpoints http = HttpEndpoints.builder("monitoring")
 *         .get("/metrics", req -> Response.text(registry.scrape()))
 *         .bind(new InetSocketAddress(15014));
 * }</pre>
 */
public final class HttpEndpoints implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(HttpEndpoints.class);

    /**
     * What a handler sees of a request: also the peer's address (for loopback-only
     * endpoints) and the headers, by lower-case name (first value).
     */
    public record Request(String method, String path, Map<String, List<String>> query, String body,
                          InetSocketAddress remoteAddress, Map<String, String> headers) {
        public Request {
            headers = Map.copyOf(headers);
        }

        /** A request without peer address or headers (tests, internal callers). */
        public Request(String method, String path, Map<String, List<String>> query, String body) {
            this(method, path, query, body, null, Map.of());
        }

        /** First value of a query parameter, or {@code fallback}. */
        public String param(String name, String fallback) {
            List<String> v = query.get(name);
            return v == null || v.isEmpty() ? fallback : v.getFirst();
        }

        /** A header's first value, or {@code null}; {@code name} in lower case. */
        public String header(String name) {
            return headers.get(name);
        }
    }

    /** A complete response. */
    public record Response(int status, String contentType, String body) {
        public static Response text(String body) {
            return new Response(200, "text/plain; charset=utf-8", body);
        }

        public static Response prometheus(String body) {
            return new Response(200, "text/plain; version=0.0.4; charset=utf-8", body);
        }

        public static Response json(String body) {
            return new Response(200, "application/json", body);
        }

        public static Response status(int status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body);
        }
    }

    /** Answers one request; runs on the server's event loop, so it must not block long. */
    @FunctionalInterface
    public interface Handler {
        Response handle(Request request) throws Exception;
    }

    /**
     * Answers one request later: for handlers that wait on something (an API server call).
     * Called on the event loop, it must return at once; the response is written whenever
     * the stage completes, from any thread, so the event loop keeps serving other requests.
     */
    @FunctionalInterface
    public interface AsyncHandler {
        CompletionStage<Response> handle(Request request) throws Exception;
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** Routes by exact path and method. */
    public static final class Builder {
        private final String name;
        private final Map<String, AsyncHandler> routes = new LinkedHashMap<>();

        private Builder(String name) {
            this.name = requireNonNull(name, "name");
        }

        public Builder get(String path, Handler handler) {
            return route("GET", path, handler);
        }

        public Builder post(String path, Handler handler) {
            return route("POST", path, handler);
        }

        public Builder route(String method, String path, Handler handler) {
            requireNonNull(handler, "handler");
            return routeAsync(method, path, req -> CompletableFuture.completedFuture(handler.handle(req)));
        }

        /** A GET whose response comes later ({@link AsyncHandler}). */
        public Builder getAsync(String path, AsyncHandler handler) {
            return routeAsync("GET", path, handler);
        }

        public Builder routeAsync(String method, String path, AsyncHandler handler) {
            requireNonNull(method, "method");
            requireNonNull(path, "path");
            requireNonNull(handler, "handler");
            if (routes.putIfAbsent(method + " " + path, handler) != null) {
                throw new IllegalArgumentException("route: " + method + " " + path + " (already registered)");
            }
            return this;
        }

        /**
         * Starts listening.
         *
         * @throws IllegalStateException naming the address when it cannot be bound
         */
        public HttpEndpoints bind(InetSocketAddress address) {
            requireNonNull(address, "address");
            return new HttpEndpoints(name, Map.copyOf(routes), address);
        }
    }

    private final EventLoopGroup group;
    private final Channel channel;

    private HttpEndpoints(String name, Map<String, AsyncHandler> routes, InetSocketAddress address) {
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("ambit-http-" + name, true),
                NioIoHandler.newFactory());
        try {
            channel = new ServerBootstrap()
                    .group(group)
                    .channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(64 * 1024),
                                    new Dispatcher(name, routes));
                        }
                    })
                    .bind(address).syncUninterruptibly().channel();
        } catch (RuntimeException e) {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw new IllegalStateException(name + " endpoint: cannot listen on " + address + ": " + e.getMessage()
                    + " (is another process using the port?)", e);
        }
    }

    public InetSocketAddress localAddress() {
        return (InetSocketAddress) channel.localAddress();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static final class Dispatcher extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final String name;
        private final Map<String, AsyncHandler> routes;

        Dispatcher(String name, Map<String, AsyncHandler> routes) {
            this.name = name;
            this.routes = routes;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            QueryStringDecoder uri = new QueryStringDecoder(req.uri());
            AsyncHandler handler = routes.get(req.method().name() + " " + uri.path());
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (handler == null) {
                boolean otherMethod = routes.keySet().stream().anyMatch(k -> k.endsWith(" " + uri.path()));
                write(ctx, keepAlive, otherMethod
                        ? Response.status(405, "method " + req.method() + " not allowed on " + uri.path() + "\n")
                        : Response.status(404, "no endpoint " + uri.path() + "; try " + routes.keySet() + "\n"));
                return;
            }
            CompletionStage<Response> pending;
            try {
                Map<String, String> headers = new LinkedHashMap<>();
                req.headers().forEach(h -> headers.putIfAbsent(h.getKey().toLowerCase(java.util.Locale.ROOT),
                        h.getValue()));
                pending = requireNonNull(handler.handle(new Request(req.method().name(), uri.path(),
                        uri.parameters(), req.content().toString(StandardCharsets.UTF_8),
                        (InetSocketAddress) ctx.channel().remoteAddress(), headers)), "response stage");
            } catch (Exception e) {
                pending = CompletableFuture.failedFuture(e);
            }
            // HTTP/1.1 without pipelining support here: one request at a time per connection,
            // so reads pause until this response is written (AUTO_READ stays on otherwise).
            ctx.channel().config().setAutoRead(false);
            pending.whenComplete((response, failure) -> {
                Response out = response;
                if (failure != null || out == null) {
                    log.warn("{} endpoint {} failed", name, uri.path(), failure);
                    out = Response.status(500, (failure == null ? "no response" : failure.toString()) + "\n");
                }
                Response answer = out;
                Runnable send = () -> {
                    write(ctx, keepAlive, answer);
                    ctx.channel().config().setAutoRead(true);
                };
                if (ctx.executor().inEventLoop()) {
                    send.run();
                } else {
                    ctx.executor().execute(send);
                }
            });
        }

        private static void write(ChannelHandlerContext ctx, boolean keepAlive, Response response) {
            FullHttpResponse out = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.valueOf(response.status()),
                    Unpooled.copiedBuffer(response.body(), StandardCharsets.UTF_8));
            out.headers().set(HttpHeaderNames.CONTENT_TYPE, response.contentType());
            HttpUtil.setContentLength(out, out.content().readableBytes());
            if (keepAlive) {
                out.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(out);
            } else {
                ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("{} endpoint connection failed", name, cause);
            ctx.close();
        }
    }
}
