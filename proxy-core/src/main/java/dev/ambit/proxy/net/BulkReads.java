package dev.ambit.proxy.net;

import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.RecvByteBufAllocator;

/**
 * How much a relayed socket may read at once: up to {@value #MAX_READ} bytes, growing from
 * small reads only while reads fill their buffer (Netty's adaptive guess). Netty's default
 * stops at 64 KiB; with {@code AUTO_READ} off a relay reads once per readiness event, so one
 * bulk stream cost an {@code epoll_wait}, a {@code recv} and, on the other side, a
 * {@code writev} per 64 KiB. Request/response traffic never fills a large buffer and keeps
 * small ones; what a read holds goes on at once (HTTP/2 splits it into frames of at most
 * the peer's frame size, TLS into records), so memory per connection is unchanged at rest.
 */
public final class BulkReads {

    /** The largest single read of a relayed TCP connection or an HBONE connection. */
    public static final int MAX_READ = 256 * 1024;

    private static final RecvByteBufAllocator ALLOCATOR = new AdaptiveRecvByteBufAllocator(64, 2048, MAX_READ);

    private BulkReads() {}

    /** Lets {@code channel} read up to {@link #MAX_READ} bytes at once. */
    public static void apply(Channel channel) {
        channel.config().setRecvByteBufAllocator(ALLOCATOR);
    }
}
