package dev.ambit.perf.l4;

import dev.ambit.testing.TestNetwork.Node;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The server pod's applications, the same in every scenario: nginx answering every
 * request with a 100-byte body on port {@value BenchEnv#HTTP_PORT} (keep-alive, no
 * request limit per connection, no access log), and an iperf3 server on
 * {@value BenchEnv#IPERF_PORT}. Both run as the pod's processes (its cgroup and namespace).
 *
 * <p>The same nginx is the gRPC-ish backend of the {@code grpc} load on
 * {@value BenchEnv#GRPC_PORT}: HTTP/2 with prior knowledge (h2c), every POST answered 200
 * with {@code content-type: application/grpc}, one length-prefixed message
 * ({@link #GRPC_REPLY}) and the trailer {@code grpc-status: 0}: what a unary gRPC call's
 * answer looks like on the wire, without a gRPC server's own cost in the figures.
 */
final class Backend implements AutoCloseable {

    /** The body: 99 letters and a newline. */
    static final String BODY = "a".repeat(99) + "\n";
    /** A gRPC message frame: not compressed, 32 bytes of a protobuf {@code bytes} field 1 (0x0a, length 30). */
    static final byte[] GRPC_REPLY = grpcFrame(30);
    /** The method path the grpc load calls. */
    static final String GRPC_PATH = "/bench.Echo/Ping";

    /** A length-prefixed gRPC message holding field 1 with {@code n} bytes. */
    static byte[] grpcFrame(int n) {
        byte[] frame = new byte[5 + 2 + n];
        int len = 2 + n;
        frame[1] = (byte) (len >>> 24);
        frame[2] = (byte) (len >>> 16);
        frame[3] = (byte) (len >>> 8);
        frame[4] = (byte) len;
        frame[5] = 0x0a;
        frame[6] = (byte) n;
        for (int i = 0; i < n; i++) {
            frame[7 + i] = 'g';
        }
        return frame;
    }

    private final Proc nginx;
    private final Proc iperf;

    private Backend(Proc nginx, Proc iperf) {
        this.nginx = nginx;
        this.iperf = iperf;
    }

    static Backend start(BenchEnv env, Node pod) throws IOException, InterruptedException {
        Path dir = Files.createDirectories(env.dir().resolve("backend-" + pod.name()));
        Files.createDirectories(dir.resolve("tmp"));
        Path grpcRoot = Files.createDirectories(dir.resolve("grpc" + GRPC_PATH.substring(0, GRPC_PATH.lastIndexOf('/'))));
        Files.write(grpcRoot.resolve(GRPC_PATH.substring(GRPC_PATH.lastIndexOf('/') + 1)), GRPC_REPLY);
        Path conf = dir.resolve("nginx.conf");
        Files.writeString(conf, """
                user root;
                worker_processes 1;
                daemon off;
                pid %1$s/nginx.pid;
                error_log %1$s/error.log warn;
                events { worker_connections 4096; }
                http {
                    access_log off;
                    keepalive_requests 100000000;
                    keepalive_timeout 600s;
                    client_body_temp_path %1$s/tmp/body;
                    proxy_temp_path %1$s/tmp/proxy;
                    fastcgi_temp_path %1$s/tmp/fastcgi;
                    uwsgi_temp_path %1$s/tmp/uwsgi;
                    scgi_temp_path %1$s/tmp/scgi;
                    server {
                        listen %2$d;
                        location / {
                            default_type text/plain;
                            return 200 "%3$s";
                        }
                    }
                    server {
                        listen %4$d http2;
                        http2_max_requests 100000000;
                        http2_max_concurrent_streams 1024;
                        root %1$s/grpc;
                        location / {
                            # A static file refuses POST with 405: answer it as a GET of the same file.
                            error_page 405 =200 $uri;
                            default_type application/grpc;
                            add_trailer grpc-status 0 always;
                        }
                    }
                }
                """.formatted(dir, BenchEnv.HTTP_PORT, BODY.replace("\n", "\\n"), BenchEnv.GRPC_PORT));
        Proc nginx = Proc.start("backend-nginx-" + pod.name(), pod.netns(), pod.cgroup(), env.serviceCpus(),
                dir.resolve("nginx.log"), List.of("nginx", "-e", dir.resolve("error.log").toString(), "-p",
                        dir.toString(), "-c", conf.toString()));
        Proc iperf = Proc.start("backend-iperf3-" + pod.name(), pod.netns(), pod.cgroup(), env.serviceCpus(),
                dir.resolve("iperf3.log"), List.of("iperf3", "-s", "-p", Integer.toString(BenchEnv.IPERF_PORT)));
        Backend b = new Backend(nginx, iperf);
        try {
            BenchEnv.awaitListening(pod, nginx, Duration.ofSeconds(10), BenchEnv.HTTP_PORT, BenchEnv.GRPC_PORT);
            BenchEnv.awaitListening(pod, iperf, Duration.ofSeconds(10), BenchEnv.IPERF_PORT);
        } catch (RuntimeException | InterruptedException e) {
            b.close();
            throw e;
        }
        return b;
    }

    @Override
    public void close() {
        nginx.close();
        iperf.close();
    }
}
