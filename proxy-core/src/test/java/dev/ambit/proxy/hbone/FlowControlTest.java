package dev.ambit.proxy.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.LeakCheck;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2FrameCodec;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Both ends of an HBONE connection grant HBONE's windows, not HTTP/2's 64 KiB defaults. */
class FlowControlTest {

    private H2Pair h2;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h2 = new H2Pair(HboneServer.builder((request, stream) -> new CompletableFuture<>()).build()
                .newConnectionHandler());
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        h2.close();
        LeakCheck.assertNoLeaks();
    }

    @Test
    void eachEndMaySendTheWindowsThePeerGranted() {
        for (EmbeddedChannel end : new EmbeddedChannel[] {h2.client, h2.server}) {
            Http2Connection c = end.pipeline().get(Http2FrameCodec.class).connection();
            // What this end may send: granted by its peer's SETTINGS and connection WINDOW_UPDATE.
            assertThat(c.remote().flowController().initialWindowSize()).as("stream window")
                    .isEqualTo(FlowControl.STREAM_WINDOW);
            assertThat(c.remote().flowController().windowSize(c.connectionStream())).as("connection window")
                    .isEqualTo(FlowControl.CONNECTION_WINDOW);
            // What this end accepts, the same.
            assertThat(c.local().flowController().initialWindowSize()).isEqualTo(FlowControl.STREAM_WINDOW);
            assertThat(c.local().flowController().windowSize(c.connectionStream()))
                    .isEqualTo(FlowControl.CONNECTION_WINDOW);
        }
    }

    @Test
    void eachEndMaySendFramesAsLargeAsOneRelayRead() {
        for (EmbeddedChannel end : new EmbeddedChannel[] {h2.client, h2.server}) {
            Http2FrameCodec codec = end.pipeline().get(Http2FrameCodec.class);
            // Granted by the peer's SETTINGS_MAX_FRAME_SIZE: a 64 KiB read leaves as one DATA frame.
            assertThat(codec.encoder().configuration().frameSizePolicy().maxFrameSize()).as("frames it sends")
                    .isEqualTo(FlowControl.MAX_FRAME);
            assertThat(codec.decoder().localSettings().maxFrameSize()).as("frames it accepts")
                    .isEqualTo(FlowControl.MAX_FRAME);
        }
    }
}
