package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.uid;
import static dev.ambit.testing.MeshFixture.workload;

import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.TcpRelay;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A node agent's plaintext inbound path alone, as a process of its own that a test can
 * SIGKILL ({@link ProcessDeathTest}): a real {@link Plaintext15006Listener} (its accepted
 * sockets, its connection to the app, {@link TcpRelay}) for a pod at 127.0.0.1 whose app
 * listens on {@code APP_PORT}. Prints {@code listening <port>} once bound, then runs until
 * killed.
 *
 * <p>Usage: {@code PlaintextProxyProcess epoll|io_uring APP_PORT}
 */
public final class PlaintextProxyProcess {

    static final String POD = "backend-1";

    private PlaintextProxyProcess() {
    }

    public static void main(String[] args) throws Exception {
        Transport transport = Transport.parse(args[0]);
        InetAddress loopback = InetAddress.getLoopbackAddress();
        InetSocketAddress app = new InetSocketAddress(loopback, Integer.parseInt(args[1]));
        ProxyState state = ProxyState.create();
        Map<String, Address> addresses = new TreeMap<>();
        put(addresses, workload(POD, WorkloadStatus.HEALTHY, new String[] {loopback.getHostAddress()}, Map.of()));
        state.applyAddresses(addresses, List.of());
        EventLoopGroup loops = transport.newEventLoopGroup(1, "proxy");
        InboundContext inbound = InboundContext.builder(PodNetwork.host(uid(POD), transport), state)
                .podAddresses(List.of(loopback)).eventLoopGroup(loops).metrics(MetricsRegistry.create()).build();
        // No sk_lookup here: every accepted connection is for the app (PERMISSIVE: no policy).
        Plaintext15006Listener listener = Plaintext15006Listener.builder(inbound)
                .bindAddress(new InetSocketAddress(loopback, 0))
                .originalDestination(ch -> app)
                .build().start();
        System.out.println("listening " + listener.localAddress().getPort());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
