package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The user-space load balancer on real sockets on loopback (the namespaces replaced by this
 * one's, the addresses on br0 by a list): relaying both ways with half-close, round robin,
 * failover past a dead endpoint, refusal without endpoints, backends and listeners following
 * {@code apply}.
 */
class LoadBalancerProxyTest {

    private final List<String> logged = Collections.synchronizedList(new ArrayList<>());
    private final List<String> addresses = new ArrayList<>();
    private final List<String> addressLog = new ArrayList<>();
    private final List<Backend> backends = new ArrayList<>();
    private final LoadBalancerProxy proxy = new LoadBalancerProxy(Transport.EPOLL.newEventLoopGroup(2, "lb-test"),
            ns -> SocketFactory.host("test " + ns, Transport.EPOLL), new LoadBalancerProxy.AddressBook() {
                @Override
                public List<String> present() {
                    return List.copyOf(addresses);
                }

                @Override
                public void add(String address) {
                    addresses.add(address);
                    addressLog.add("+" + address);
                }

                @Override
                public void remove(String address) {
                    addresses.remove(address);
                    addressLog.add("-" + address);
                }
            }, 64, logged::add);

    @AfterEach
    void close() throws IOException {
        proxy.close();
        for (Backend b : backends) {
            b.server.close();
        }
    }

    /** A server that reads its client to the end, then answers {@code <name>:<what it read>} and closes. */
    private record Backend(String name, ServerSocket server) {
        String address() {
            return "127.0.0.1:" + server.getLocalPort();
        }
    }

    private Backend backend(String name) throws IOException {
        ServerSocket server = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try (Socket s = server.accept()) {
                    byte[] in = s.getInputStream().readAllBytes();
                    s.getOutputStream().write((name + ":" + new String(in, StandardCharsets.UTF_8))
                            .getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    // closed by the test
                }
            }
        });
        Backend b = new Backend(name, server);
        backends.add(b);
        return b;
    }

    /** Connects to {@code to}, writes {@code request}, half-closes and reads the answer to its end. */
    private static String call(InetSocketAddress to, String request) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(to, 2000);
            s.setSoTimeout(5000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static ExternalForwards.Forward forward(String address, int port, List<String> backends) {
        return new ExternalForwards.Forward(Topology.NET_NS, address, port, "demo/web 80/TCP", backends);
    }

    private InetSocketAddress listening(String address) {
        return proxy.listening().entrySet().stream().filter(e -> e.getKey().startsWith(Topology.NET_NS + " " + address))
                .findFirst().orElseThrow().getValue();
    }

    @Test
    void relaysBothWaysRoundRobinAndPutsTheAddressOnTheBridge() throws IOException {
        Backend a = backend("a");
        Backend b = backend("b");
        proxy.apply(List.of(forward("127.0.0.2", 0, List.of(a.address(), b.address()))));
        assertThat(addressLog).containsExactly("+127.0.0.2");
        InetSocketAddress lb = listening("127.0.0.2");
        assertThat(lb.getAddress().getHostAddress()).isEqualTo("127.0.0.2");

        List<String> answers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            answers.add(call(lb, "ping" + i));
        }
        assertThat(answers).containsExactly("a:ping0", "b:ping1", "a:ping2", "b:ping3");
        String big = "x".repeat(1 << 20);
        assertThat(call(lb, big)).isEqualTo("a:" + big);
    }

    @Test
    void aDeadEndpointIsSkippedAndNoEndpointIsARefusal() throws IOException {
        Backend a = backend("a");
        ServerSocket gone = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        String dead = "127.0.0.1:" + gone.getLocalPort();
        gone.close();
        proxy.apply(List.of(forward("127.0.0.2", 0, List.of(dead, a.address()))));
        InetSocketAddress lb = listening("127.0.0.2");
        for (int i = 0; i < 4; i++) {
            assertThat(call(lb, "p")).as("call %s", i).isEqualTo("a:p");
        }

        proxy.apply(List.of(forward("127.0.0.2", 0, List.of())));
        assertThat(listening("127.0.0.2")).as("the same listener, new backends").isEqualTo(lb);
        try {
            assertThat(call(lb, "p")).as("no endpoint: nothing answers").isEmpty();
        } catch (IOException reset) {
            // Reset at once: what the client sees first depends on timing.
        }
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (proxy.activeConnections() > 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertThat(proxy.activeConnections()).as("every relay ended").isZero();
    }

    @Test
    void listenersAndAddressesFollowTheForwards() throws IOException, InterruptedException {
        Backend a = backend("a");
        Backend b = backend("b");
        addresses.add("127.0.0.9"); // a killed controller's
        proxy.apply(List.of(forward("127.0.0.2", 0, List.of(a.address()))));
        assertThat(addressLog).containsExactlyInAnyOrder("-127.0.0.9", "+127.0.0.2");
        InetSocketAddress lb = listening("127.0.0.2");
        assertThat(call(lb, "1")).isEqualTo("a:1");

        proxy.apply(List.of(forward("127.0.0.2", 0, List.of(b.address()))));
        assertThat(call(lb, "2")).isEqualTo("b:2");

        proxy.apply(List.of());
        assertThat(addresses).isEmpty();
        assertThat(proxy.listening()).isEmpty();
        Thread.sleep(100); // the close runs on the event loop
        assertThatThrownBy(() -> call(lb, "3")).isInstanceOf(ConnectException.class);
    }

    @Test
    void aListenerThatCannotBindIsRetriedAndTheOthersServe() throws IOException {
        Backend a = backend("a");
        try (ServerSocket taken = new ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.3"))) {
            proxy.apply(List.of(forward("127.0.0.3", taken.getLocalPort(), List.of(a.address())),
                    forward("127.0.0.2", 0, List.of(a.address()))));
            assertThat(proxy.retryPending()).isTrue();
            assertThat(logged).anySatisfy(l -> assertThat(l).startsWith("load balancer: cannot listen on ambit-l-net 127.0.0.3:"
                    + taken.getLocalPort() + " for demo/web 80/TCP (retrying in 5 s)"));
            assertThat(call(listening("127.0.0.2"), "x")).isEqualTo("a:x");
        }
        proxy.apply(List.of(forward("127.0.0.2", 0, List.of(a.address()))));
        assertThat(proxy.retryPending()).as("the failed forward is no longer wanted").isFalse();
    }
}
