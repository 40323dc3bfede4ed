package dev.ambit.perf.l4;

import dev.ambit.testing.TestNetwork.Node;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A pair of HTTP (L7) proxies from Debian's packages doing what the client's agent, the
 * waypoint and the server's agent do together: the client-side proxy accepts HTTP/1.1 from
 * the client pod on {@code 127.0.0.1}, parses and routes every request (with a retry policy,
 * as the waypoint's route has) and sends it over pooled keep-alive mutual-TLS 1.3
 * connections (ECDSA P-256, the server's chain and name verified) to the server-side proxy,
 * which requires and verifies the client's certificate, parses the request again and sends
 * it to the backend on {@code 127.0.0.1} over keep-alive HTTP/1.1.
 *
 * <p>{@code haproxy-l7}: HAProxy in {@code mode http}, {@code http-reuse always},
 * {@code retry-on conn-failure empty-response 503}. {@code nginx-l7}: nginx's
 * {@code proxy_pass} with an {@code upstream} {@code keepalive} pool, {@code proxy_ssl_*} and
 * {@code proxy_next_upstream error timeout http_503}. One thread or worker process each
 * ({@code --workers}), placed as {@link PeerPair}'s (each in its pod's network namespace).
 * No iperf3: an HTTP proxy carries requests, not a byte stream.
 */
final class L7Pair implements Scenario {

    enum Kind { HAPROXY, NGINX }

    private final String name;
    private final Kind kind;
    private final BenchEnv env;
    private final Node client;
    private final Node server;
    private final int httpPort;
    private Proc clientProxy;
    private Proc serverProxy;

    L7Pair(String name, Kind kind, BenchEnv env, Node client, Node server, int httpPort) {
        this.name = name;
        this.kind = kind;
        this.env = env;
        this.client = client;
        this.server = server;
        this.httpPort = httpPort;
    }

    private int tlsPort() {
        return httpPort + 400;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Node client() {
        return client;
    }

    @Override
    public String httpUrl() {
        return "http://127.0.0.1:" + httpPort + "/";
    }

    @Override
    public boolean carriesIperf() {
        return false;
    }

    @Override
    public String iperfHost() {
        return "127.0.0.1";
    }

    @Override
    public int iperfPort() {
        return httpPort;
    }

    @Override
    public List<Proc> proxies() {
        return List.of(clientProxy, serverProxy);
    }

    @Override
    public void start() throws Exception {
        Path dir = Files.createDirectories(env.dir().resolve(name));
        PeerCerts certs = PeerCerts.create(dir.resolve("certs"));
        switch (kind) {
            case HAPROXY -> {
                clientProxy = launch("client", dir, haproxyClient(certs), List.of("haproxy", "-db", "-f"));
                serverProxy = launch("server", dir, haproxyServer(certs), List.of("haproxy", "-db", "-f"));
            }
            case NGINX -> {
                Files.createDirectories(dir.resolve("tmp"));
                clientProxy = launch("client", dir, nginxClient(certs, dir), nginx(dir, "client"));
                serverProxy = launch("server", dir, nginxServer(certs, dir), nginx(dir, "server"));
            }
        }
        BenchEnv.awaitListening(server, serverProxy, Duration.ofSeconds(10), tlsPort());
        BenchEnv.awaitListening(client, clientProxy, Duration.ofSeconds(10), httpPort);
    }

    private Proc launch(String side, Path dir, String config, List<String> command) throws IOException {
        Path conf = dir.resolve(side + ".conf");
        Files.writeString(conf, config);
        Node where = side.equals("client") ? client : server;
        List<String> cmd = new ArrayList<>(command);
        cmd.add(conf.toString());
        return Proc.start(name + "-" + side, where.netns(), null, env.serviceCpus(), dir.resolve(side + ".log"), cmd);
    }

    private static List<String> nginx(Path dir, String side) {
        return List.of("nginx", "-e", dir.resolve(side + "-error.log").toString(), "-p", dir.toString(), "-c");
    }

    // ---- HAProxy, HTTP mode

    private String haproxyGlobal() {
        return """
                global
                    nbthread %d
                    maxconn 4096
                    ssl-default-bind-options ssl-min-ver TLSv1.3
                    ssl-default-bind-ciphersuites %s
                    ssl-default-server-options ssl-min-ver TLSv1.3
                    ssl-default-server-ciphersuites %s
                defaults
                    mode http
                    option http-keep-alive
                    http-reuse always
                    timeout connect 5s
                    timeout client 600s
                    timeout server 600s
                    timeout http-keep-alive 600s
                """.formatted(env.workers(), PeerCerts.SUITES, PeerCerts.SUITES);
    }

    private String haproxyClient(PeerCerts c) {
        return haproxyGlobal() + """
                frontend in
                    bind 127.0.0.1:%1$d
                    default_backend out
                backend out
                    retries 2
                    retry-on conn-failure empty-response 503
                    server s %2$s:%3$d ssl crt %4$s ca-file %5$s verify required verifyhost %6$s sni str(%6$s)
                """.formatted(httpPort, BenchEnv.ip(server), tlsPort(), c.clientPem(), c.ca(), PeerCerts.SERVER_NAME);
    }

    private String haproxyServer(PeerCerts c) {
        return haproxyGlobal() + """
                frontend tls
                    bind %1$s:%2$d ssl crt %3$s ca-file %4$s verify required
                    default_backend app
                backend app
                    server app 127.0.0.1:%5$d
                """.formatted(BenchEnv.ip(server), tlsPort(), c.serverPem(), c.ca(), BenchEnv.HTTP_PORT);
    }

    // ---- nginx, proxy_pass

    private String nginxMain(Path dir, String side) {
        return """
                user root;
                worker_processes %1$d;
                daemon off;
                pid %2$s/%3$s.pid;
                events { worker_connections 4096; }
                http {
                    access_log off;
                    keepalive_requests 100000000;
                    keepalive_timeout 600s;
                    client_body_temp_path %2$s/tmp/%3$s-body;
                    proxy_temp_path %2$s/tmp/%3$s-proxy;
                    fastcgi_temp_path %2$s/tmp/%3$s-fastcgi;
                    uwsgi_temp_path %2$s/tmp/%3$s-uwsgi;
                    scgi_temp_path %2$s/tmp/%3$s-scgi;
                """.formatted(env.workers(), dir, side);
    }

    private String nginxClient(PeerCerts c, Path dir) {
        return nginxMain(dir, "client") + """
                    upstream tls {
                        server %1$s:%2$d;
                        keepalive 64;
                        keepalive_requests 100000000;
                        keepalive_timeout 600s;
                    }
                    server {
                        listen 127.0.0.1:%3$d;
                        location / {
                            proxy_pass https://tls;
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                            proxy_next_upstream error timeout http_503;
                            proxy_next_upstream_tries 3;
                            proxy_ssl_protocols TLSv1.3;
                            proxy_ssl_conf_command Ciphersuites %4$s;
                            proxy_ssl_certificate %5$s;
                            proxy_ssl_certificate_key %6$s;
                            proxy_ssl_trusted_certificate %7$s;
                            proxy_ssl_verify on;
                            proxy_ssl_name %8$s;
                            proxy_ssl_server_name on;
                            proxy_ssl_session_reuse on;
                        }
                    }
                }
                """.formatted(BenchEnv.ip(server), tlsPort(), httpPort, PeerCerts.SUITES, c.clientCert(),
                c.clientKey(), c.ca(), PeerCerts.SERVER_NAME);
    }

    private String nginxServer(PeerCerts c, Path dir) {
        return nginxMain(dir, "server") + """
                    upstream app {
                        server 127.0.0.1:%1$d;
                        keepalive 64;
                        keepalive_requests 100000000;
                        keepalive_timeout 600s;
                    }
                    server {
                        listen %2$s:%3$d ssl;
                        ssl_protocols TLSv1.3;
                        ssl_conf_command Ciphersuites %4$s;
                        ssl_certificate %5$s;
                        ssl_certificate_key %6$s;
                        ssl_client_certificate %7$s;
                        ssl_verify_client on;
                        location / {
                            proxy_pass http://app;
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                        }
                    }
                }
                """.formatted(BenchEnv.HTTP_PORT, BenchEnv.ip(server), tlsPort(), PeerCerts.SUITES, c.serverCert(),
                c.serverKey(), c.ca());
    }

    @Override
    public void close() {
        for (Proc p : new Proc[] {clientProxy, serverProxy}) {
            if (p != null) {
                p.close();
            }
        }
    }
}
