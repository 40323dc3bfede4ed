package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.linux.linux_h;
import dev.ambit.ffi.linux.sockaddr_in;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * Socket options Netty does not expose, on raw descriptors (Netty's epoll and io_uring
 * channels give theirs through {@code UnixChannel.fd()}). IPv4 for now.
 */
public final class Sockets {

    private Sockets() {
    }

    /** A new TCP/IPv4 socket in the calling thread's network namespace. */
    public static NativeFd tcpSocket() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            int fd = linux_h.socket(state, linux_h.AF_INET, linux_h.SOCK_STREAM | linux_h.SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new NativeException("create", "TCP socket", linux_h.errno(state));
            }
            return new NativeFd(fd, "TCP socket");
        }
    }

    /** The kernel's unique, never reused 64-bit id of the socket ({@code SO_COOKIE}). */
    public static long cookie(int fd) {
        return getLong(fd, linux_h.SOL_SOCKET, linux_h.SO_COOKIE, "SO_COOKIE");
    }

    /** The cookie of the network namespace the socket lives in ({@code SO_NETNS_COOKIE}, Linux 5.14+). */
    public static long netnsCookie(int fd) {
        return getLong(fd, linux_h.SOL_SOCKET, linux_h.SO_NETNS_COOKIE, "SO_NETNS_COOKIE");
    }

    /** The socket's mark ({@code SO_MARK}). */
    public static int mark(int fd) {
        return getInt(fd, linux_h.SOL_SOCKET, linux_h.SO_MARK, "SO_MARK");
    }

    /** Sets {@code SO_MARK}; needs CAP_NET_ADMIN. Ambit marks its own sockets so capture skips them. */
    public static void setMark(int fd, int mark) {
        setInt(fd, linux_h.SOL_SOCKET, linux_h.SO_MARK, mark, "SO_MARK");
    }

    /**
     * The destination a connection had before netfilter NAT redirected it
     * ({@code SO_ORIGINAL_DST}). Only meaningful after an iptables REDIRECT or DNAT;
     * Ambit's own capture answers this from a BPF map instead.
     */
    public static InetSocketAddress originalDestinationNetfilter(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            MemorySegment addr = sockaddr_in.allocate(arena);
            MemorySegment len = arena.allocateFrom(ValueLayout.JAVA_INT, (int) sockaddr_in.SIZEOF);
            if (linux_h.getsockopt(state, fd, linux_h.SOL_IP, linux_h.SO_ORIGINAL_DST, addr, len) < 0) {
                throw new NativeException("getsockopt SO_ORIGINAL_DST on", "fd " + fd, linux_h.errno(state),
                        "the connection was not redirected by netfilter");
            }
            return toAddress(addr);
        }
    }

    /**
     * Binds {@code fd} to a source address before connect. With {@code port} 0 the
     * kernel picks the port at connect time ({@code IP_BIND_ADDRESS_NO_PORT}), so many
     * connections to different destinations can share one source address without
     * exhausting ports. {@code freebind} allows an address not (yet) on an interface.
     */
    public static void bindSource(int fd, Inet4Address address, int port, boolean freebind) {
        requireNonNull(address, "address");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 0-65535)");
        }
        if (port == 0) {
            setInt(fd, linux_h.SOL_IP, linux_h.IP_BIND_ADDRESS_NO_PORT, 1, "IP_BIND_ADDRESS_NO_PORT");
        }
        if (freebind) {
            setInt(fd, linux_h.SOL_IP, linux_h.IP_FREEBIND, 1, "IP_FREEBIND");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            MemorySegment addr = sockaddr_in.allocate(arena);
            sockaddr_in.sin_family(addr, (short) linux_h.AF_INET);
            sockaddr_in.sin_port(addr, Short.reverseBytes((short) port));
            sockaddr_in.sin_addr(addr, ipv4NetworkOrder(address));
            if (linux_h.bind(state, fd, addr, (int) sockaddr_in.SIZEOF) < 0) {
                throw new NativeException("bind fd " + fd + " to", address.getHostAddress() + ':' + port,
                        linux_h.errno(state), "is the address on an interface of this network namespace?");
            }
        }
    }

    /** The socket's local address ({@code getsockname}). */
    public static InetSocketAddress localAddress(int fd) {
        return name(fd, true);
    }

    /** The socket's peer address ({@code getpeername}). */
    public static InetSocketAddress peerAddress(int fd) {
        return name(fd, false);
    }

    private static InetSocketAddress name(int fd, boolean local) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            MemorySegment addr = arena.allocate(128); // room for any sockaddr
            MemorySegment len = arena.allocateFrom(ValueLayout.JAVA_INT, 128);
            int rc = local ? linux_h.getsockname(state, fd, addr, len) : linux_h.getpeername(state, fd, addr, len);
            if (rc < 0) {
                throw new NativeException(local ? "getsockname" : "getpeername", "fd " + fd, linux_h.errno(state));
            }
            return toAddress(addr);
        }
    }

    /** An IPv4 address as the int a {@code sockaddr_in} or a BPF map holds (network byte order in memory). */
    public static int ipv4NetworkOrder(Inet4Address address) {
        byte[] b = address.getAddress();
        // Little-endian host: the int whose memory bytes are b[0..3] in order.
        return (b[0] & 0xff) | (b[1] & 0xff) << 8 | (b[2] & 0xff) << 16 | (b[3] & 0xff) << 24;
    }

    /** The inverse of {@link #ipv4NetworkOrder}. */
    public static Inet4Address ipv4FromNetworkOrder(int raw) {
        byte[] b = {(byte) raw, (byte) (raw >>> 8), (byte) (raw >>> 16), (byte) (raw >>> 24)};
        try {
            return (Inet4Address) InetAddress.getByAddress(b);
        } catch (UnknownHostException e) {
            throw new AssertionError(e); // four bytes are always a valid address
        }
    }

    // sockaddr_in, or sockaddr_in6 (same family and port offsets; address at 8). An
    // IPv4-mapped IPv6 address, as a dual-stack socket reports IPv4 peers, comes out as IPv4.
    private static InetSocketAddress toAddress(MemorySegment sockaddr) {
        int family = sockaddr_in.sin_family(sockaddr);
        int port = Short.toUnsignedInt(Short.reverseBytes(sockaddr_in.sin_port(sockaddr)));
        if (family == linux_h.AF_INET) {
            return new InetSocketAddress(ipv4FromNetworkOrder(sockaddr_in.sin_addr(sockaddr)), port);
        }
        if (family == linux_h.AF_INET6) {
            try {
                return new InetSocketAddress(InetAddress.getByAddress(sockaddr.asSlice(8, 16).toArray(ValueLayout.JAVA_BYTE)), port);
            } catch (UnknownHostException e) {
                throw new AssertionError(e); // sixteen bytes are always a valid address
            }
        }
        throw new IllegalArgumentException("address family " + family + " (expected: AF_INET or AF_INET6)");
    }

    private static long getLong(int fd, int level, int option, String name) {
        return getOption(fd, level, option, name, ValueLayout.JAVA_LONG);
    }

    private static int getInt(int fd, int level, int option, String name) {
        return (int) getOption(fd, level, option, name, ValueLayout.JAVA_INT);
    }

    private static long getOption(int fd, int level, int option, String name, ValueLayout layout) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            MemorySegment value = arena.allocate(layout);
            MemorySegment len = arena.allocateFrom(ValueLayout.JAVA_INT, (int) layout.byteSize());
            if (linux_h.getsockopt(state, fd, level, option, value, len) < 0) {
                throw new NativeException("getsockopt " + name + " on", "fd " + fd, linux_h.errno(state));
            }
            return layout.byteSize() == 8 ? value.get(ValueLayout.JAVA_LONG, 0) : value.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private static void setInt(int fd, int level, int option, int v, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            MemorySegment value = arena.allocateFrom(ValueLayout.JAVA_INT, v);
            if (linux_h.setsockopt(state, fd, level, option, value, 4) < 0) {
                throw new NativeException("setsockopt " + name + "=" + v + " on", "fd " + fd, linux_h.errno(state));
            }
        }
    }
}
