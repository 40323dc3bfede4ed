package dev.ambit.waypoint.http;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.upstream.UpstreamException;
import dev.ambit.waypoint.upstream.UpstreamRequest;
import dev.ambit.waypoint.upstream.UpstreamResponse;
import dev.ambit.waypoint.upstream.UpstreamTunnel;
import dev.ambit.waypoint.upstream.Upstreams;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/** A scripted Upstreams for unit tests: answers in order, records what it was sent, releases requests. */
final class FakeUpstreams implements Upstreams {

    /** What one send carried. */
    record Sent(String cluster, String method, String uri, HttpHeaders headers, String body,
                Set<InetSocketAddress> excluded, Duration timeout) {}

    static final InetSocketAddress HOST_A = new InetSocketAddress("10.244.1.5", 8080);
    static final InetSocketAddress HOST_B = new InetSocketAddress("10.244.1.6", 8080);

    final List<Sent> sent = new ArrayList<>();
    private final Deque<Function<UpstreamRequest, CompletionStage<UpstreamResponse>>> script = new ArrayDeque<>();
    /** Used when the script is empty. */
    Function<UpstreamRequest, CompletionStage<UpstreamResponse>> fallback = r -> ok(200, "ok", HOST_A);
    final List<UpstreamRequest> opened = new ArrayList<>();
    Function<String, CompletionStage<UpstreamTunnel>> tunnels =
            c -> CompletableFuture.failedFuture(new UpstreamException(ResponseFlag.UH, null, "no", false, null));

    FakeUpstreams then(Function<UpstreamRequest, CompletionStage<UpstreamResponse>> step) {
        script.add(step);
        return this;
    }

    FakeUpstreams thenStatus(int status, InetSocketAddress host) {
        return then(r -> ok(status, "s" + status, host));
    }

    FakeUpstreams thenFail(ResponseFlag flag, InetSocketAddress host) {
        return then(r -> CompletableFuture.failedFuture(new UpstreamException(flag, host, flag.code(), false, null)));
    }

    /** An attempt that never answers. */
    FakeUpstreams thenHang() {
        return then(r -> new CompletableFuture<>());
    }

    static CompletionStage<UpstreamResponse> ok(int status, String body, InetSocketAddress host) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        r.headers().setInt("content-length", body.length());
        return CompletableFuture.completedFuture(new UpstreamResponse(r, host));
    }

    @Override
    public CompletionStage<UpstreamResponse> send(UpstreamRequest request) {
        if (request.request() instanceof dev.ambit.waypoint.upstream.StreamingRequest streaming) {
            // A body that streams: read whole first (as a backend that reads its request, then answers).
            CompletableFuture<UpstreamResponse> out = new CompletableFuture<>();
            streaming.body().aggregate(Integer.MAX_VALUE, io.netty.buffer.ByteBufAllocator.DEFAULT,
                    io.netty.util.concurrent.ImmediateEventExecutor.INSTANCE).whenComplete((whole, failure) -> {
                if (failure != null) {
                    out.completeExceptionally(new UpstreamException(ResponseFlag.UC, null, "request body broke off",
                            false, failure));
                    return;
                }
                String text = whole.content().toString(StandardCharsets.UTF_8);
                whole.content().release();
                var full = new DefaultFullHttpRequest(streaming.protocolVersion(), streaming.method(),
                        streaming.uri(), Unpooled.copiedBuffer(text, StandardCharsets.UTF_8), streaming.headers(),
                        whole.trailers());
                send(new UpstreamRequest(request.cluster(), full, request.excludedHosts(), request.timeout(),
                        request.hash())).whenComplete((r, t) -> {
                    if (t != null) {
                        out.completeExceptionally(t);
                    } else {
                        out.complete(r);
                    }
                });
            });
            streaming.release();
            return out;
        }
        try {
            sent.add(new Sent(request.cluster(), request.request().method().name(), request.request().uri(),
                    request.request().headers().copy(), request.request().content().toString(StandardCharsets.UTF_8),
                    request.excludedHosts(), request.timeout()));
            var step = script.isEmpty() ? fallback : script.poll();
            return step.apply(request);
        } finally {
            request.request().release();
        }
    }

    @Override
    public CompletionStage<UpstreamTunnel> open(String cluster, InetSocketAddress originalDestination,
                                               Set<InetSocketAddress> excludedHosts) {
        return tunnels.apply(cluster);
    }
}
