package dev.ambit.istiod.xds;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class XdsServerTest {

    private static final MethodDescriptor.Marshaller<String> TEXT = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(String value) {
            return new ByteArrayInputStream(value.getBytes(UTF_8));
        }

        @Override
        public String parse(InputStream stream) {
            try {
                return new String(stream.readAllBytes(), UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    private static final MethodDescriptor<String, String> ECHO = MethodDescriptor.<String, String>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName("ambit.test.Echo/Echo")
            .setRequestMarshaller(TEXT)
            .setResponseMarshaller(TEXT)
            .build();

    private final List<XdsServer> servers = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();

    @AfterEach
    void stop() throws InterruptedException {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow();
            assertThat(channel.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        }
        servers.forEach(XdsServer::close);
    }

    @Test
    void servesAnotherServiceOnTheSamePort() throws IOException {
        ServerServiceDefinition echo = ServerServiceDefinition.builder("ambit.test.Echo")
                .addMethod(ECHO, ServerCalls.asyncUnaryCall((request, response) -> {
                    response.onNext("echo: " + request);
                    response.onCompleted();
                }))
                .build();
        XdsServer server = start(XdsServer.builder(service()).addService(echo));

        String answer = ClientCalls.blockingUnaryCall(channel(server), ECHO,
                CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), "hello");
        assertThat(answer).isEqualTo("echo: hello");
    }

    @Test
    void closeEndsOpenStreamsWithinTheShutdownTimeout() throws IOException {
        XdsService service = service();
        XdsServer server = start(XdsServer.builder(service).shutdownTimeout(Duration.ofSeconds(2)));
        service.update(TestMesh.standard().build());
        XdsTestClient client = XdsTestClient.connect(channel(server), "node-1");
        client.subscribeAll(TypeUrls.ADDRESS);
        client.next();

        long start = System.nanoTime();
        server.close();
        long elapsedMillis = (System.nanoTime() - start) / 1_000_000;

        assertThat(elapsedMillis).isLessThan(3000);
        Status status = client.awaitClosed();
        assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(service.connectedClients()).isZero();
    }

    @Test
    void aTakenPortIsReportedWithAHint() throws IOException {
        XdsServer first = start(XdsServer.builder(service()));
        XdsServer second = XdsServer.builder(service()).address(first.localAddress()).build();
        servers.add(second);
        assertThatThrownBy(second::start)
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Cannot bind the xDS server to " + first.localAddress())
                .hasMessageContaining("pick another port");
    }

    @Test
    void lifecycleMisuseIsReported() throws IOException {
        XdsServer server = XdsServer.builder(service()).address(loopback()).build();
        servers.add(server);
        assertThatThrownBy(server::localAddress)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("call start() first");
        server.start();
        assertThatThrownBy(server::start)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already started");
        server.close();
        assertThatThrownBy(server::start)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is closed");
    }

    @Test
    void builderRejectsBadSettings() {
        XdsServer.Builder builder = XdsServer.builder(service());
        assertThatThrownBy(() -> builder.keepAlive(Duration.ZERO, Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("keepAlive time: PT0S (expected: positive)");
        assertThatThrownBy(() -> builder.maxInboundMessageSize(0))
                .hasMessage("maxInboundMessageSize: 0 (expected: > 0)");
        assertThatThrownBy(() -> builder.shutdownTimeout(Duration.ofSeconds(-1)))
                .hasMessage("shutdownTimeout: PT-1S (expected: >= 0)");
        assertThatThrownBy(() -> builder.addService(service()))
                .hasMessageContaining("already served by the XdsService");
        assertThatThrownBy(() -> XdsService.builder(MetricsRegistry.create())
                .debounce(Duration.ofSeconds(-1), Duration.ofSeconds(1)))
                .hasMessage("debounce quiet period: PT-1S (expected: >= 0)");
    }

    private XdsService service() {
        return XdsService.builder(MetricsRegistry.create()).debounce(Duration.ZERO, Duration.ZERO).build();
    }

    private XdsServer start(XdsServer.Builder builder) throws IOException {
        XdsServer server = builder.address(loopback()).build();
        servers.add(server);
        return server.start();
    }

    private ManagedChannel channel(XdsServer server) {
        ManagedChannel channel = NettyChannelBuilder.forAddress(server.localAddress()).usePlaintext().build();
        channels.add(channel);
        return channel;
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }
}
