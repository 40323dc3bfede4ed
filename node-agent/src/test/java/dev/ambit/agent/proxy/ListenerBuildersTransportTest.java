package dev.ambit.agent.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.identity.TestCa;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The agent's listener builders check that the event loops are of the pod network's transport. */
@Timeout(30)
class ListenerBuildersTransportTest {

    @TempDir
    Path dir;

    /**
     * A channel can only be registered with a loop of its transport: the builders say so at
     * build time rather than failing every connection later.
     */
    @Test
    void buildersRefuseAnEventLoopGroupOfTheOtherTransport() throws Exception {
        assumeTrue(Transport.IO_URING.isAvailable(), () -> "io_uring: " + Transport.IO_URING.unavailabilityCause());
        EventLoopGroup uring = Transport.IO_URING.newEventLoopGroup(1, "uring");
        try (TestCa ca = new TestCa(dir, Duration.ofHours(1));
             CertificateManager certificates = CertificateManager.builder(
                     ca.client().trustBundle(ca.bundle()).build()).metrics(MetricsRegistry.create()).build()) {
            PodNetwork epollPod = PodNetwork.host("pod");
            assertThat(epollPod.transport()).isEqualTo(Transport.EPOLL);
            HbonePool pool = HbonePool.builder(TlsContexts.builder(ca.bundle()).build()).build();

            assertThatThrownBy(() -> Outbound.builder(epollPod, "pod").state(ProxyState.create())
                    .certificates(certificates).pool(pool).originalDestinations(ch -> Optional.empty())
                    .eventLoopGroup(uring).build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("expected: a group of the epoll transport");
            assertThatThrownBy(() -> InboundContext.builder(epollPod, ProxyState.create())
                    .podAddresses(List.of(InetAddress.getLoopbackAddress())).eventLoopGroup(uring)
                    .metrics(MetricsRegistry.create()).build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("expected: a group of the epoll transport");

            // The same settings with a matching transport build.
            InboundContext.builder(PodNetwork.host("pod", Transport.IO_URING), ProxyState.create())
                    .podAddresses(List.of(InetAddress.getLoopbackAddress())).eventLoopGroup(uring)
                    .metrics(MetricsRegistry.create()).build();
            pool.close();
        } finally {
            uring.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
