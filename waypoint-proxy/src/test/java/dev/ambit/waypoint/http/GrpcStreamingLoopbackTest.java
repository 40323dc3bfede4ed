package dev.ambit.waypoint.http;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.upstream.ClusterInfo;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * gRPC streaming through the waypoint (issue 14), on loopback: a grpc-java client → the
 * waypoint's h2c downstream codec → router → {@link ClusterManager} (an HTTP/2 cluster) → a
 * grpc-java server. Each message must arrive while the other side still holds its stream
 * open (latches, never timing): a buffering proxy would deliver nothing until the end.
 */
class GrpcStreamingLoopbackTest {

    static final String CLUSTER = Harness.CLUSTER;

    static final MethodDescriptor.Marshaller<String> UTF8 = new MethodDescriptor.Marshaller<>() {
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
    static final MethodDescriptor<String, String> WATCH = MethodDescriptor.<String, String>newBuilder()
            .setType(MethodDescriptor.MethodType.SERVER_STREAMING).setFullMethodName("test.Streams/Watch")
            .setRequestMarshaller(UTF8).setResponseMarshaller(UTF8).build();
    static final MethodDescriptor<String, String> CHAT = MethodDescriptor.<String, String>newBuilder()
            .setType(MethodDescriptor.MethodType.BIDI_STREAMING).setFullMethodName("test.Streams/Chat")
            .setRequestMarshaller(UTF8).setResponseMarshaller(UTF8).build();

    EventLoopGroup loops;
    ClusterManager manager;
    Server backend;
    ManagedChannel client;
    final Harness harness = new Harness();
    final List<Channel> servers = new ArrayList<>();
    final CountDownLatch clientHasFirst = new CountDownLatch(1);
    final MetricsRegistry metrics = MetricsRegistry.create();
    /** One telemetry for every connection, as the waypoint has (its metrics are checked). */
    final HttpTelemetry telemetry = HttpTelemetry.of(metrics, ProxyState.create());

    @BeforeEach
    void setUp() throws IOException {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "grpc-stream-test");
        manager = ClusterManager.builder(() -> harness.config, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .idleTimeout(Duration.ofSeconds(30)).build();
        ServerServiceDefinition service = ServerServiceDefinition.builder("test.Streams")
                .addMethod(WATCH, ServerCalls.asyncServerStreamingCall((String request, StreamObserver<String> out) -> {
                    out.onNext("one for " + request);
                    try {
                        // The second message only once the client has the first: the stream is still open.
                        if (!clientHasFirst.await(10, TimeUnit.SECONDS)) {
                            out.onError(io.grpc.Status.DEADLINE_EXCEEDED.withDescription("first message never arrived")
                                    .asRuntimeException());
                            return;
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    out.onNext("two");
                    out.onCompleted();
                }))
                .addMethod(CHAT, ServerCalls.asyncBidiStreamingCall((StreamObserver<String> out) -> new StreamObserver<>() {
                    @Override
                    public void onNext(String m) {
                        out.onNext("echo " + m);
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                        out.onCompleted();
                    }
                }))
                .build();
        backend = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(service).build()
                .start();
        harness.config.clusters.put(CLUSTER, Cluster.newBuilder().setName(CLUSTER).setType(Cluster.DiscoveryType.EDS)
                .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2))
                .putTypedExtensionProtocolOptions(ClusterInfo.HTTP_PROTOCOL_OPTIONS, Any.pack(HttpProtocolOptions
                        .newBuilder().setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder()
                                .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance())).build()))
                .build());
        harness.config.endpoints.put(CLUSTER, List.of(HashPolicyEndToEndTest.endpoint(
                new InetSocketAddress("127.0.0.1", backend.getPort()))));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        backend.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        harness.close();
        manager.close();
        servers.forEach(c -> c.close().syncUninterruptibly());
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    /** The waypoint's h2c codec on a loopback socket (no body limit: bodies stream), routes per {@code route}. */
    void waypoint(Route.Builder route) {
        harness.config.route(Harness.routes(route.build()));
        Channel ch = new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        RequestProcessor p = new RequestProcessor(new HttpFilterChain(List.of(new Router(manager))),
                                telemetry, () -> false,
                                () -> null);
                        HttpConnections.http2(c, harness.downstream(), p, 0);
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
        servers.add(ch);
        client = NettyChannelBuilder.forAddress("127.0.0.1", ((InetSocketAddress) ch.localAddress()).getPort())
                .usePlaintext().build();
    }

    /** Collects a call's messages, then {@code <done>} or {@code <error: STATUS>}. */
    static final class Collector implements StreamObserver<String> {
        final BlockingQueue<String> seen = new LinkedBlockingQueue<>();

        @Override
        public void onNext(String value) {
            seen.add(value);
        }

        @Override
        public void onError(Throwable t) {
            seen.add("<error: " + io.grpc.Status.fromThrowable(t).getCode() + ">");
        }

        @Override
        public void onCompleted() {
            seen.add("<done>");
        }

        String next() throws InterruptedException {
            String v = seen.poll(10, TimeUnit.SECONDS);
            return v == null ? "<nothing within 10 s>" : v;
        }
    }

    @Test
    void serverStreamingMessagesArriveAsTheServerSendsThem() throws Exception {
        waypoint(Harness.prefix("all", "/", CLUSTER));
        Collector c = new Collector();
        ClientCalls.asyncServerStreamingCall(client.newCall(WATCH, CallOptions.DEFAULT), "alice", c);
        assertThat(c.next()).as("the first message while the server holds the stream open").isEqualTo("one for alice");
        clientHasFirst.countDown();
        assertThat(c.next()).isEqualTo("two");
        assertThat(c.next()).isEqualTo("<done>");
        // The status came in the trailers after the streamed messages: still counted as Istio labels it.
        dev.ambit.testing.Eventually.eventually(() -> assertThat(metrics.scrape().lines())
                .as("the call counted with its grpc-status").anySatisfy(l -> assertThat(l).startsWith("istio_requests_total{")
                        .contains("request_protocol=\"grpc\"", "grpc_response_status=\"0\"")));
    }

    @Test
    void bidirectionalStreamingEchoesEachMessageWhileBothSidesStayOpen() throws Exception {
        waypoint(Harness.prefix("all", "/", CLUSTER));
        Collector c = new Collector();
        StreamObserver<String> requests = ClientCalls.asyncBidiStreamingCall(client.newCall(CHAT, CallOptions.DEFAULT), c);
        for (String m : List.of("a", "b", "c")) {
            requests.onNext(m);
            // The request stream is still open: the message crossed as it was sent, and so did its answer.
            assertThat(c.next()).isEqualTo("echo " + m);
        }
        requests.onCompleted();
        assertThat(c.next()).isEqualTo("<done>");
    }

    @Test
    void theRouteTimeoutCoversTheWholeStreamAndZeroDisablesIt() throws Exception {
        // Envoy: the route timeout runs until the response is complete; streaming gRPC sets 0.
        Route.Builder limited = Harness.prefix("all", "/", CLUSTER);
        limited.getRouteBuilder().setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2));
        waypoint(limited);
        Collector c = new Collector();
        ClientCalls.asyncServerStreamingCall(client.newCall(WATCH, CallOptions.DEFAULT), "bob", c);
        assertThat(c.next()).isEqualTo("one for bob");
        // The server holds the stream past the route's 2 s: the waypoint resets it.
        assertThat(c.next()).startsWith("<error: ");
        clientHasFirst.countDown();

        Route.Builder unlimited = Harness.prefix("all", "/", CLUSTER);
        unlimited.getRouteBuilder().setTimeout(com.google.protobuf.Duration.getDefaultInstance());
        harness.config.route(Harness.routes(unlimited.build()));
        Collector d = new Collector();
        ClientCalls.asyncServerStreamingCall(client.newCall(WATCH, CallOptions.DEFAULT), "carol", d);
        assertThat(d.next()).isEqualTo("one for carol");
        assertThat(d.next()).isEqualTo("two");
        assertThat(d.next()).isEqualTo("<done>");
    }
}
