package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.prefix;
import static dev.ambit.waypoint.http.Harness.routes;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The HTTP/1.1 downstream on real loopback sockets: hostile clients (a slowloris, smuggling,
 * oversized headers, bare LF, an oversized body) at the same time as a well-behaved keep-alive
 * client, which gets every answer while each hostile one is refused, counted and disconnected.
 */
class HostileLoopbackTest {

    private Harness h;
    private EventLoopGroup group;
    private Channel server;
    private DownstreamRejections rejections;
    private final ExecutorService clients = Executors.newFixedThreadPool(8);

    @BeforeEach
    void setUp() throws InterruptedException {
        h = new Harness();
        h.config.route(routes(prefix("all", "/", CLUSTER).build()));
        rejections = DownstreamRejections.of(h.metrics);
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
                .setRequestHeadersTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(1)).build();
        Limits limits = Limits.of(hcm, 1024);
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        RequestProcessor processor = h.processor();
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        HttpConnections.http1(ch.pipeline(), h.downstream(), processor, h.upstreams, limits,
                                rejections);
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        clients.shutdownNow();
        server.close().sync();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        h.close();
    }

    private Socket connect() throws Exception {
        Socket s = new Socket();
        s.connect(server.localAddress(), 2000);
        s.setSoTimeout(10_000);
        return s;
    }

    /** Everything the server sends until it closes the connection. */
    private static String untilClosed(Socket s) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        InputStream in = s.getInputStream();
        byte[] buf = new byte[8192];
        for (int n; (n = in.read(buf)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toString(ISO_8859_1);
    }

    private Callable<String> hostile(String bytes) {
        return () -> {
            try (Socket s = connect()) {
                OutputStream out = s.getOutputStream();
                out.write(bytes.getBytes(ISO_8859_1));
                out.flush();
                return untilClosed(s);
            }
        };
    }

    @Test
    void hostileClientsAreRefusedWhileAWellBehavedOneIsServed() throws Exception {
        List<Future<String>> bad = new ArrayList<>();
        // A slowloris: one header line every 300 ms, never the end of its headers.
        bad.add(clients.submit(() -> {
            try (Socket s = connect()) {
                OutputStream out = s.getOutputStream();
                out.write("GET / HTTP/1.1\r\nHost: a\r\n".getBytes(ISO_8859_1));
                for (int i = 0; i < 20; i++) {
                    Thread.sleep(300);
                    try {
                        out.write(("X-Drip-" + i + ": 1\r\n").getBytes(ISO_8859_1));
                        out.flush();
                    } catch (java.io.IOException closed) {
                        break;
                    }
                }
                return untilClosed(s);
            }
        }));
        bad.add(clients.submit(hostile("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")));
        bad.add(clients.submit(hostile("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + "b".repeat(70_000) + "\r\n\r\n")));
        bad.add(clients.submit(hostile("GET / HTTP/1.1\nHost: a\n\n")));
        bad.add(clients.submit(hostile("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"
                + "x".repeat(5000))));
        // Meanwhile: 50 keep-alive requests on one connection, each answered.
        Future<Integer> good = clients.submit(() -> {
            int ok = 0;
            try (Socket s = connect()) {
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                for (int i = 0; i < 50; i++) {
                    out.write(("GET /good/" + i + " HTTP/1.1\r\nHost: reviews\r\n\r\n").getBytes(ISO_8859_1));
                    out.flush();
                    String head = readResponse(in);
                    if (head.startsWith("HTTP/1.1 200 OK")) {
                        ok++;
                    }
                    Thread.sleep(20);
                }
            }
            return ok;
        });
        assertThat(bad.get(0).get(20, TimeUnit.SECONDS)).startsWith("HTTP/1.1 408 Request Timeout");
        assertThat(bad.get(1).get(20, TimeUnit.SECONDS)).startsWith("HTTP/1.1 400 Bad Request")
                .doesNotContain("HTTP/1.1 200");
        assertThat(bad.get(2).get(20, TimeUnit.SECONDS)).startsWith("HTTP/1.1 431 Request Header Fields Too Large");
        assertThat(bad.get(3).get(20, TimeUnit.SECONDS)).startsWith("HTTP/1.1 400 Bad Request");
        assertThat(bad.get(4).get(20, TimeUnit.SECONDS)).startsWith("HTTP/1.1 413 Payload Too Large");
        assertThat(good.get(30, TimeUnit.SECONDS)).isEqualTo(50);
        assertThat(h.upstreams.sent).allMatch(s -> s.uri().startsWith("/good/")).hasSize(50);
        for (String reason : List.of("request_headers_timeout", "content_length_and_chunked", "headers_too_large",
                "bare_lf", "request_payload_too_large")) {
            assertThat(h.metrics.value(DownstreamRejections.METRIC, reason)).as(reason).isEqualTo(1);
        }
    }

    /** One response with a Content-Length body: its status line and headers. */
    private static String readResponse(InputStream in) throws Exception {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                return head.toString();
            }
            head.append((char) c);
        }
        int length = 0;
        for (String line : head.toString().split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        in.readNBytes(length);
        return head.toString();
    }
}
