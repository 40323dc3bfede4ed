package dev.ambit.agent.handover;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.ffi.NetNs;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.RootOnly;
import dev.ambit.testing.TestNetwork;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What a hand-over relies on in the kernel, in a throw-away namespace: two {@code SO_REUSEPORT}
 * listeners share a port; with {@code tcp_migrate_req} on, the connections queued on the one
 * that closes are accepted by the other, with their bytes; without it they are lost (the
 * control, so the first test can fail).
 */
@ExtendWith(NoLeftovers.class)
class MigrateRequestsTest {

    private static final int CLIENTS = 64;
    private static final int PORT = 15008;
    private TestNetwork net;
    private TestNetwork.Node pod;

    @BeforeEach
    void setUp() {
        RootOnly.require();
        net = TestNetwork.create();
        pod = net.host("pod");
    }

    @AfterEach
    void tearDown() {
        net.close();
    }

    @Test
    void queuedConnectionsMoveToTheSurvivingListener() throws Exception {
        assertThat(MigrateRequests.enabled(pod.netns())).as("a new namespace's default").isFalse();
        MigrateRequests.enable(pod.netns());
        assertThat(MigrateRequests.enabled(pod.netns())).isTrue();
        assertThat(acceptedBySurvivor(2_000)).as("connections queued on the closed listener move over").isEqualTo(CLIENTS);
    }

    @Test
    void withoutTheSysctlTheClosedListenersQueueIsLost() throws Exception {
        assertThat(acceptedBySurvivor(500)).as("the control: half the clients were queued on the closed listener")
                .isLessThan(CLIENTS);
    }

    /** Two listeners, {@value #CLIENTS} clients each sending a byte, the first listener closed unaccepted. */
    private int acceptedBySurvivor(long waitMillis) throws Exception {
        ServerSocketChannel old = listener();
        ServerSocketChannel survivor = listener();
        List<SocketChannel> clients = new ArrayList<>();
        try {
            for (int i = 0; i < CLIENTS; i++) {
                SocketChannel c = NetNs.callIn(pod.netns(), SocketChannel::open);
                clients.add(c);
                c.connect(new InetSocketAddress(pod.address(), PORT));
                c.write(ByteBuffer.wrap(new byte[] {(byte) i}));
            }
            old.close();
            survivor.configureBlocking(false);
            int accepted = 0;
            long end = System.currentTimeMillis() + waitMillis;
            while (accepted < CLIENTS && System.currentTimeMillis() < end) {
                SocketChannel a = survivor.accept();
                if (a == null) {
                    Thread.sleep(5);
                    continue;
                }
                try (a) {
                    ByteBuffer b = ByteBuffer.allocate(1);
                    a.read(b); // the byte queued with the connection came along
                    if (b.position() == 1) {
                        accepted++;
                    }
                }
            }
            return accepted;
        } finally {
            survivor.close();
            for (SocketChannel c : clients) {
                c.close();
            }
        }
    }

    private ServerSocketChannel listener() throws Exception {
        return NetNs.callIn(pod.netns(), () -> {
            ServerSocketChannel s = ServerSocketChannel.open();
            s.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            s.bind(new InetSocketAddress(pod.address(), PORT), 128);
            return s;
        });
    }
}
