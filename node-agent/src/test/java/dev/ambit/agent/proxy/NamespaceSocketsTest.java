package dev.ambit.agent.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.ffi.NetNs;
import dev.ambit.ffi.Sockets;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.RootOnly;
import dev.ambit.testing.TestNetwork;
import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link PodNetwork#namespace}: sockets land in the pod's namespace, before and after it lets go of it. */
@ExtendWith(NoLeftovers.class)
class NamespaceSocketsTest {

    private TestNetwork net;
    private TestNetwork.Node pod;

    @BeforeEach
    void setUp() {
        RootOnly.require();
        io.netty.channel.epoll.Epoll.ensureAvailability(); // loads the native transport
        net = TestNetwork.create();
        pod = net.host("pod");
    }

    @AfterEach
    void tearDown() {
        net.close();
    }

    @Test
    void socketsAreCreatedInThePodsNamespaceWhichIsHeldOpenUntilClose() throws Exception {
        long podCookie = NetNs.cookie(pod.netns());
        PodNetwork network = PodNetwork.namespace("uid-1", pod.netns(), Transport.EPOLL);
        // An open namespace file reads back as its path (a bind mount) or as net:[inode].
        java.util.Set<String> link = java.util.Set.of(pod.netns().toString(),
                "net:[" + Files.getAttribute(pod.netns(), "unix:ino") + "]");
        try {
            assertThat(descriptorsLinkingTo(link)).as("the namespace is opened once, up front").isEqualTo(1);
            for (int i = 0; i < 3; i++) {
                assertThat(cookieOf(network.newChannel())).isEqualTo(podCookie);
                assertThat(cookieOf(network.newServerChannel())).isEqualTo(podCookie);
            }
            assertThat(descriptorsLinkingTo(link)).as("no descriptor per socket").isEqualTo(1);
            assertThat(NetNs.cookie(Path.of("/proc/thread-self/ns/net"))).as("the thread came back")
                    .isNotEqualTo(podCookie);
        } finally {
            network.close();
        }
        assertThat(descriptorsLinkingTo(link)).as("closed: the pod's namespace is not kept alive").isZero();
        // Late sockets (a connection finishing its drain) still land in the pod, by the path.
        assertThat(cookieOf(network.newChannel())).isEqualTo(podCookie);
        assertThat(descriptorsLinkingTo(link)).isZero();
        network.close(); // idempotent
    }

    @Test
    void aMissingNamespaceIsReportedNamingThePodWhenASocketIsNeeded() {
        PodNetwork network = PodNetwork.namespace("uid-2", pod.netns().resolveSibling("no-such-pod"),
                Transport.EPOLL);
        assertThatThrownBy(network::newChannel).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("pod uid-2").hasMessageContaining("no-such-pod");
        network.close();
    }

    private static long cookieOf(Channel ch) {
        try {
            return Sockets.netnsCookie(((UnixChannel) ch).fd().intValue());
        } finally {
            ch.unsafe().closeForcibly();
        }
    }

    private static long descriptorsLinkingTo(java.util.Set<String> link) throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return link.contains(Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    return false; // closed meanwhile (the listing's own descriptor)
                }
            }).count();
        }
    }
}
