package dev.ambit.istiod.grpc;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Two real gRPC servers, {@code v1} on 127.0.0.2 and {@code v2} on 127.0.0.3 (loopback
 * aliases, Linux), both on the same port, each answering a unary {@code echo.Echo/Version}
 * with its version. No protoc: the method carries raw bytes.
 */
final class EchoBackends implements AutoCloseable {

    static final String V1_IP = "127.0.0.2";
    static final String V2_IP = "127.0.0.3";

    static final MethodDescriptor<byte[], byte[]> VERSION = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName("echo.Echo", "Version"))
            .setRequestMarshaller(new Bytes())
            .setResponseMarshaller(new Bytes())
            .build();

    private final Server v1;
    private final Server v2;

    private EchoBackends(Server v1, Server v2) {
        this.v1 = v1;
        this.v2 = v2;
    }

    static EchoBackends start() throws IOException {
        Server v1 = server(V1_IP, 0, "v1");
        int port = ((InetSocketAddress) v1.getListenSockets().getFirst()).getPort();
        try {
            return new EchoBackends(v1, server(V2_IP, port, "v2"));
        } catch (IOException e) {
            v1.shutdownNow();
            throw e;
        }
    }

    /** The port both servers listen on: the service's target port. */
    int port() {
        return ((InetSocketAddress) v1.getListenSockets().getFirst()).getPort();
    }

    private static Server server(String ip, int port, String version) throws IOException {
        ServerServiceDefinition service = ServerServiceDefinition.builder("echo.Echo")
                .addMethod(VERSION, ServerCalls.asyncUnaryCall((request, response) -> {
                    response.onNext(version.getBytes(UTF_8));
                    response.onCompleted();
                }))
                .build();
        return NettyServerBuilder.forAddress(new InetSocketAddress(ip, port)).addService(service).build().start();
    }

    /**
     * Makes {@code calls} calls on {@code channel}, with {@code headers} as request
     * metadata, and counts the answers by version. Any failed call fails the test.
     */
    static Map<String, Integer> versions(Channel channel, int calls, Map<String, String> headers) {
        Metadata metadata = new Metadata();
        headers.forEach((k, v) -> metadata.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), v));
        Channel withHeaders = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(metadata));
        Map<String, Integer> counts = new TreeMap<>();
        for (int i = 0; i < calls; i++) {
            byte[] answer = ClientCalls.blockingUnaryCall(withHeaders, VERSION,
                    CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), new byte[0]);
            counts.merge(new String(answer, UTF_8), 1, Integer::sum);
        }
        return counts;
    }

    @Override
    public void close() throws InterruptedException {
        v1.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        v2.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static final class Bytes implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
