package dev.ambit.agent.proxy;

import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.NetNs;
import dev.ambit.proxy.net.Transport;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * {@link PodNetwork#namespace}: sockets created inside a pod's network namespace, entered
 * through a descriptor opened once. Thread-safe.
 *
 * <p>The descriptor is used under a read lock and closed under the write lock: closing it
 * while another thread is about to {@code setns} with it would let the number be reused by
 * another file, possibly another pod's namespace, and a socket be created there.
 */
final class NamespaceSockets implements PodNetwork {

    private final String podUid;
    private final Path netns;
    private final Transport transport;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private NativeFd fd; // null: closed, or the namespace could not be opened (each call then tries its path)

    NamespaceSockets(String podUid, Path netns, Transport transport) {
        this.podUid = podUid;
        this.netns = netns;
        this.transport = transport;
        try {
            fd = NetNs.openNetns(netns);
        } catch (RuntimeException e) {
            fd = null; // reported, naming the pod, by the first socket that needs it
        }
    }

    @Override
    public String podUid() {
        return podUid;
    }

    @Override
    public Transport transport() {
        return transport;
    }

    @Override
    public ServerSocketChannel newServerChannel() {
        return in(transport::newServerChannel);
    }

    @Override
    public SocketChannel newChannel() {
        return in(transport::newChannel);
    }

    private <T> T in(Supplier<T> create) {
        lock.readLock().lock();
        try {
            return fd != null ? NetNs.callIn(fd, create::get) : NetNs.callIn(netns, create::get);
        } catch (Exception e) {
            throw new IllegalStateException("cannot create a socket in pod " + podUid + "'s network namespace "
                    + netns + ": " + e.getMessage() + " (is the pod still running?)", e);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (fd != null) {
                fd.close();
                fd = null;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "PodNetwork(" + podUid + ", " + transport + ")";
    }
}
