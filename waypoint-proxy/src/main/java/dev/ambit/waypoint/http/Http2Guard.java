package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.DownstreamRejections.*;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.logging.LogLevel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The nested h2c connection's defences, as Envoy's: the codec's settings and flood limits from
 * {@link Limits} ({@link #settings}, {@link #configure}), then per connection ({@link #watch}):
 * Envoy's premature-reset protection against rapid reset (CVE-2023-44487: once
 * {@value Limits#PREMATURE_RESET_MIN_STREAMS} streams closed, a connection on which at least half
 * were reset by the client within {@code 1 s} of opening is sent GOAWAY and closed), the
 * connection {@code idle_timeout} and {@code max_connection_duration}, and one count per refusal
 * (REFUSED_STREAM over {@code max_concurrent_streams}, each connection error by its cause:
 * CONTINUATION or control-frame flood, empty DATA frames, oversized header lists). Per stream
 * ({@link #streamTimers}): {@code stream_idle_timeout} and {@code request_timeout} while its
 * request is received → {@code 408} and a reset, as Envoy's.
 */
final class Http2Guard {

    private final Limits limits;
    private final DownstreamRejections rejections;
    private final Watch watch = new Watch();
    private Http2ConnectionHandler codec;
    private Http2Connection.PropertyKey openedAt;
    private Http2Connection.PropertyKey resetByPeer;
    private boolean connectionErrorCounted;
    private int closedStreams;
    private int tooLargeStream = -1;
    private int prematureResets;
    private ScheduledFuture<?> idleTimer;

    Http2Guard(Limits limits, DownstreamRejections rejections) {
        this.limits = limits;
        this.rejections = rejections;
    }

    /** The codec's SETTINGS: Envoy's stream limit, the header list limit, the initial stream window if set. */
    Http2Settings settings() {
        Http2Settings s = new Http2Settings().maxConcurrentStreams(limits.maxConcurrentStreams())
                .maxHeaderListSize(limits.maxRequestHeadersBytes());
        if (limits.initialStreamWindowSize() > 0) {
            s.initialWindowSize(limits.initialStreamWindowSize());
        }
        return s;
    }

    /** Envoy's flood limits on the codec builder; Envoy's premature-reset rule replaces Netty's RST rate limit. */
    @SuppressWarnings("deprecation")
    io.netty.handler.codec.http2.Http2MultiplexCodecBuilder configure(
            io.netty.handler.codec.http2.Http2MultiplexCodecBuilder b) {
        return b.initialSettings(settings())
                .encoderEnforceMaxQueuedControlFrames(limits.maxOutboundControlFrames())
                .decoderEnforceMaxConsecutiveEmptyDataFrames(limits.maxConsecutiveEmptyFrames())
                .decoderEnforceMaxSmallContinuationFrames(Limits.MAX_CONTINUATION_FRAMES)
                .decoderEnforceMaxRstFramesPerWindow(0, 0)
                .frameLogger(watch);
    }

    /** Starts watching the built codec's connection (call once it is in the pipeline, on the event loop). */
    void watch(Channel channel, Http2ConnectionHandler codec) {
        this.codec = codec;
        Http2Connection connection = codec.connection();
        openedAt = connection.newKey();
        resetByPeer = connection.newKey();
        ChannelHandlerContext ctx = channel.pipeline().context(codec);
        connection.addListener(new Http2ConnectionAdapter() {
            @Override
            public void onStreamAdded(Http2Stream stream) {
                stream.setProperty(openedAt, System.nanoTime());
            }

            @Override
            public void onStreamActive(Http2Stream stream) {
                cancelIdle();
            }

            @Override
            public void onStreamClosed(Http2Stream stream) {
                if (!connection.remote().isValidStreamId(stream.id())) {
                    return;
                }
                closedStreams++;
                Long opened = stream.getProperty(openedAt);
                if (stream.getProperty(resetByPeer) != null && opened != null
                        && System.nanoTime() - opened < Limits.PREMATURE_RESET_MIN_LIFETIME.toNanos()) {
                    prematureResets++;
                }
                if (closedStreams >= Limits.PREMATURE_RESET_MIN_STREAMS && prematureResets * 2 >= closedStreams
                        && channel.isActive() && !connectionErrorCounted) {
                    connectionErrorCounted = true;
                    rejections.reject(PREMATURE_RESETS);
                    ByteBuf debug = Unpooled.copiedBuffer(PREMATURE_RESETS, StandardCharsets.US_ASCII);
                    codec.goAway(ctx, connection.remote().lastStreamCreated(), Http2Error.NO_ERROR.code(), debug,
                            ctx.newPromise()).addListener(f -> channel.close());
                    ctx.flush();
                    return;
                }
                if (connection.numActiveStreams() == 0) {
                    armIdle(channel);
                }
            }
        });
        if (limits.initialConnectionWindowSize() > 65_535) {
            try {
                codec.decoder().flowController().incrementWindowSize(connection.connectionStream(),
                        limits.initialConnectionWindowSize() - 65_535);
                ctx.flush();
            } catch (Http2Exception e) {
                codec.onError(ctx, false, e);
            }
        }
        armIdle(channel);
        if (Limits.on(limits.maxConnectionDuration())) {
            channel.eventLoop().schedule(() -> {
                // Drained like Envoy: GOAWAY, then closed once the streams in flight ended.
                codec.gracefulShutdownTimeoutMillis(-1);
                channel.close();
            }, limits.maxConnectionDuration().toNanos(), TimeUnit.NANOSECONDS);
        }
        channel.closeFuture().addListener(f -> cancelIdle());
    }

    private void armIdle(Channel channel) {
        cancelIdle();
        if (Limits.on(limits.idleTimeout())) {
            idleTimer = channel.eventLoop().schedule(() -> {
                if (codec.connection().numActiveStreams() == 0 && channel.isActive()) {
                    rejections.reject(IDLE_TIMEOUT);
                    codec.gracefulShutdownTimeoutMillis(0);
                    channel.close(); // GOAWAY, then closed
                }
            }, limits.idleTimeout().toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private void cancelIdle() {
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
    }

    /** Why the codec sent a GOAWAY with an error: its cause's message, as Netty words it. */
    static String connectionError(long errorCode, String message) {
        String m = message.toLowerCase(java.util.Locale.ROOT);
        if (m.contains("control frames")) {
            return CONTROL_FRAME_FLOOD;
        }
        if (m.contains("empty data frames")) {
            return EMPTY_FRAME_FLOOD;
        }
        if (m.contains("continuation")) {
            return CONTINUATION_FLOOD;
        }
        if (m.contains("header size") || m.contains("header list")) {
            return H2_HEADERS_TOO_LARGE;
        }
        if (m.contains("rst")) {
            return PREMATURE_RESETS;
        }
        return H2_PROTOCOL_ERROR;
    }

    /** Sees the frames the codec reads and writes: resets and GOAWAYs are what it refused. */
    private final class Watch extends Http2FrameLogger {
        Watch() {
            super(LogLevel.TRACE, Http2Guard.class);
        }

        @Override
        public void logRstStream(Direction direction, ChannelHandlerContext ctx, int streamId, long errorCode) {
            if (direction == Direction.INBOUND) {
                Http2Stream stream = codec == null ? null : codec.connection().stream(streamId);
                if (stream != null) {
                    stream.setProperty(resetByPeer, Boolean.TRUE);
                }
            } else if (errorCode == Http2Error.REFUSED_STREAM.code()) {
                rejections.reject(REFUSED_STREAM);
            } else if (errorCode == Http2Error.PROTOCOL_ERROR.code()) {
                // Netty answers a header list over the limit 431, then resets the stream.
                rejections.reject(streamId == tooLargeStream ? H2_HEADERS_TOO_LARGE : H2_PROTOCOL_ERROR);
            }
            super.logRstStream(direction, ctx, streamId, errorCode);
        }

        @Override
        public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId,
                               io.netty.handler.codec.http2.Http2Headers headers, int padding, boolean endStream) {
            noteTooLarge(direction, streamId, headers);
            super.logHeaders(direction, ctx, streamId, headers, padding, endStream);
        }

        @Override
        public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId,
                               io.netty.handler.codec.http2.Http2Headers headers, int streamDependency, short weight,
                               boolean exclusive, int padding, boolean endStream) {
            noteTooLarge(direction, streamId, headers);
            super.logHeaders(direction, ctx, streamId, headers, streamDependency, weight, exclusive, padding,
                    endStream);
        }

        private void noteTooLarge(Direction direction, int streamId, io.netty.handler.codec.http2.Http2Headers h) {
            if (direction == Direction.OUTBOUND && h.status() != null && "431".contentEquals(h.status())) {
                tooLargeStream = streamId;
            }
        }

        @Override
        public void logGoAway(Direction direction, ChannelHandlerContext ctx, int lastStreamId, long errorCode,
                              ByteBuf debugData) {
            if (direction == Direction.OUTBOUND && errorCode != Http2Error.NO_ERROR.code() && !connectionErrorCounted) {
                connectionErrorCounted = true;
                rejections.reject(connectionError(errorCode, debugData.toString(StandardCharsets.UTF_8)));
            }
            super.logGoAway(direction, ctx, lastStreamId, errorCode, debugData);
        }
    }

    /** Envoy's header checks of an HTTP/2 request: {@code max_headers_count}, {@code headers_with_underscores_action}. */
    String checkHeaders(io.netty.handler.codec.http2.Http2Headers headers) {
        if (headers.size() > limits.maxHeadersCount()) {
            return TOO_MANY_HEADERS;
        }
        if (limits.underscores() != io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions
                .HeadersWithUnderscoresAction.ALLOW) {
            java.util.List<CharSequence> underscored = new java.util.ArrayList<>();
            for (var e : headers) {
                if (e.getKey().length() > 0 && e.getKey().charAt(0) != ':' && e.getKey().toString().indexOf('_') >= 0) {
                    underscored.add(e.getKey());
                }
            }
            if (!underscored.isEmpty() && limits.underscores() == io.envoyproxy.envoy.config.core.v3
                    .HttpProtocolOptions.HeadersWithUnderscoresAction.REJECT_REQUEST) {
                return HEADER_UNDERSCORES;
            }
            underscored.forEach(headers::remove);
        }
        return null;
    }

    /**
     * The first handler of each stream: Envoy's header checks ({@link #checkHeaders}: 431 or 400,
     * then a reset) and its request's idle and total timeouts (Envoy's 408, then a reset).
     */
    ChannelInboundHandlerAdapter streamTimers() {
        return new ChannelInboundHandlerAdapter() {
            private ScheduledFuture<?> idle;
            private ScheduledFuture<?> total;
            private boolean done;

            @Override
            public void handlerAdded(ChannelHandlerContext ctx) {
                if (Limits.on(limits.requestTimeout())) {
                    total = ctx.executor().schedule(() -> expire(ctx, REQUEST_TIMEOUT, "request timeout"),
                            limits.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
                }
                touch(ctx);
            }

            private void touch(ChannelHandlerContext ctx) {
                if (Limits.on(limits.streamIdleTimeout()) && !done) {
                    if (idle != null) {
                        idle.cancel(false);
                    }
                    idle = ctx.executor().schedule(() -> expire(ctx, STREAM_IDLE_TIMEOUT, "stream timeout"),
                            limits.streamIdleTimeout().toNanos(), TimeUnit.NANOSECONDS);
                }
            }

            private boolean headersSeen;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (!headersSeen && msg instanceof Http2HeadersFrame first) {
                    headersSeen = true;
                    String reason = checkHeaders(first.headers());
                    if (reason != null) {
                        ReferenceCountUtil.release(msg);
                        stop();
                        rejections.reject(reason);
                        answer(ctx, reason.equals(TOO_MANY_HEADERS) ? "431" : "400",
                                reason.equals(TOO_MANY_HEADERS) ? "Request Header Fields Too Large" : "Bad Request");
                        return;
                    }
                }
                if (done) {
                    ctx.fireChannelRead(msg);
                    return;
                }
                boolean end = (msg instanceof Http2HeadersFrame h && h.isEndStream())
                        || (msg instanceof Http2DataFrame d && d.isEndStream());
                if (end) {
                    stop();
                } else {
                    touch(ctx);
                }
                ctx.fireChannelRead(msg);
            }

            private void stop() {
                done = true;
                if (idle != null) {
                    idle.cancel(false);
                    idle = null;
                }
                if (total != null) {
                    total.cancel(false);
                    total = null;
                }
            }

            private void expire(ChannelHandlerContext ctx, String reason, String body) {
                if (done || !ctx.channel().isActive()) {
                    return;
                }
                stop();
                rejections.reject(reason);
                answer(ctx, "408", body);
            }

            /** A local reply on the stream, then a reset: the client may still be sending (RFC 9113 8.1). */
            private void answer(ChannelHandlerContext ctx, String status, String body) {
                ByteBuf content = Unpooled.copiedBuffer(body, StandardCharsets.UTF_8);
                ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(status)
                        .set("content-length", String.valueOf(content.readableBytes()))
                        .set("content-type", "text/plain")));
                ctx.write(new DefaultHttp2DataFrame(content, true));
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                stop();
                ctx.fireChannelInactive();
            }
        };
    }

}
