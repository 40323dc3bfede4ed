package dev.ambit.perf.l4;

import dev.ambit.testing.TestNetwork.Node;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A pair of TCP proxies from Debian's packages doing what Ambit's two agents do: the
 * client-side proxy accepts plaintext from the client pod on {@code 127.0.0.1} and opens a
 * mutual-TLS 1.3 connection (ECDSA P-256 certificates, the server's chain and name
 * verified) across the network to the server-side proxy, which requires and verifies the
 * client's certificate and connects to the backend on {@code 127.0.0.1}.
 *
 * <p>Placement: each proxy runs in its pod's network namespace (not in the pod's cgroup),
 * which is where Ambit's agent opens its sockets for that pod (the in-pod 15001 and 15008
 * listeners, the upstream sockets). So every scenario has the same hops: loopback, proxy,
 * the bridge between the nodes, proxy, loopback, nginx. One proxy per node, one worker
 * (thread or process) each unless {@code --workers} says otherwise, as the agent.
 *
 * <p>Two routes per proxy: HTTP ({@code httpPort} → backend {@value BenchEnv#HTTP_PORT}) and
 * iperf3 ({@code httpPort + 1000} → backend {@value BenchEnv#IPERF_PORT}); the TLS ports
 * are the same plus 400.
 */
final class PeerPair implements Scenario {

    private final String name;
    private final BenchEnv env;
    private final Node client;
    private final Node server;
    private final int httpPort;
    private final Kind kind;
    private Proc clientProxy;
    private Proc serverProxy;

    enum Kind { HAPROXY, NGINX_STREAM, STUNNEL }

    PeerPair(String name, Kind kind, BenchEnv env, Node client, Node server, int httpPort) {
        this.name = name;
        this.kind = kind;
        this.env = env;
        this.client = client;
        this.server = server;
        this.httpPort = httpPort;
    }

    private static int tls(int port) {
        return port + 400;
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
    public String iperfHost() {
        return "127.0.0.1";
    }

    @Override
    public int iperfPort() {
        return httpPort + 1000;
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
            case NGINX_STREAM -> {
                clientProxy = launch("client", dir, nginxClient(certs, dir), nginx(dir, "client"));
                serverProxy = launch("server", dir, nginxServer(certs, dir), nginx(dir, "server"));
            }
            case STUNNEL -> {
                clientProxy = launch("client", dir, stunnelClient(certs), List.of("stunnel4"));
                serverProxy = launch("server", dir, stunnelServer(certs), List.of("stunnel4"));
            }
        }
        BenchEnv.awaitListening(server, serverProxy, Duration.ofSeconds(10), tls(httpPort), tls(iperfPort()));
        BenchEnv.awaitListening(client, clientProxy, Duration.ofSeconds(10), httpPort, iperfPort());
    }

    private Proc launch(String side, Path dir, String config, List<String> command) throws IOException {
        Path conf = dir.resolve(side + ".conf");
        Files.writeString(conf, config);
        Node where = side.equals("client") ? client : server;
        List<String> cmd = new java.util.ArrayList<>(command);
        cmd.add(conf.toString());
        return Proc.start(name + "-" + side, where.netns(), null, env.serviceCpus(), dir.resolve(side + ".log"), cmd);
    }

    private static List<String> nginx(Path dir, String side) {
        return List.of("nginx", "-e", dir.resolve(side + "-error.log").toString(), "-p", dir.toString(), "-c");
    }

    private String target(int port) {
        return BenchEnv.ip(server) + ":" + tls(port);
    }

    // ---- HAProxy, TCP mode

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
                    mode tcp
                    timeout connect 5s
                    timeout client 600s
                    timeout server 600s
                """.formatted(env.workers(), PeerCerts.SUITES, PeerCerts.SUITES);
    }

    private String haproxyClient(PeerCerts c) {
        StringBuilder sb = new StringBuilder(haproxyGlobal());
        for (int port : new int[] {httpPort, iperfPort()}) {
            sb.append("""
                    frontend in%1$d
                        bind 127.0.0.1:%1$d
                        default_backend out%1$d
                    backend out%1$d
                        server s %2$s ssl crt %3$s ca-file %4$s verify required verifyhost %5$s sni str(%5$s)
                    """.formatted(port, target(port), c.clientPem(), c.ca(), PeerCerts.SERVER_NAME));
        }
        return sb.toString();
    }

    private String haproxyServer(PeerCerts c) {
        StringBuilder sb = new StringBuilder(haproxyGlobal());
        int[][] routes = {{httpPort, BenchEnv.HTTP_PORT}, {iperfPort(), BenchEnv.IPERF_PORT}};
        for (int[] r : routes) {
            sb.append("""
                    frontend tls%1$d
                        bind %2$s:%3$d ssl crt %4$s ca-file %5$s verify required
                        default_backend app%1$d
                    backend app%1$d
                        server app 127.0.0.1:%6$d
                    """.formatted(r[0], BenchEnv.ip(server), tls(r[0]), c.serverPem(), c.ca(), r[1]));
        }
        return sb.toString();
    }

    // ---- nginx stream module

    private String nginxMain(Path dir, String side) {
        return """
                load_module /usr/lib/nginx/modules/ngx_stream_module.so;
                user root;
                worker_processes %d;
                daemon off;
                pid %s/%s.pid;
                events { worker_connections 4096; }
                """.formatted(env.workers(), dir, side);
    }

    private String nginxClient(PeerCerts c, Path dir) {
        StringBuilder sb = new StringBuilder(nginxMain(dir, "client"));
        sb.append("""
                stream {
                    proxy_ssl on;
                    proxy_ssl_protocols TLSv1.3;
                    proxy_ssl_conf_command Ciphersuites %s;
                    proxy_ssl_certificate %s;
                    proxy_ssl_certificate_key %s;
                    proxy_ssl_trusted_certificate %s;
                    proxy_ssl_verify on;
                    proxy_ssl_name %s;
                    proxy_ssl_server_name on;
                    proxy_timeout 600s;
                """.formatted(PeerCerts.SUITES, c.clientCert(), c.clientKey(), c.ca(), PeerCerts.SERVER_NAME));
        for (int port : new int[] {httpPort, iperfPort()}) {
            sb.append("    server { listen 127.0.0.1:%d; proxy_pass %s; }\n".formatted(port, target(port)));
        }
        return sb.append("}\n").toString();
    }

    private String nginxServer(PeerCerts c, Path dir) {
        StringBuilder sb = new StringBuilder(nginxMain(dir, "server"));
        sb.append("""
                stream {
                    ssl_protocols TLSv1.3;
                    ssl_conf_command Ciphersuites %s;
                    ssl_certificate %s;
                    ssl_certificate_key %s;
                    ssl_client_certificate %s;
                    ssl_verify_client on;
                    proxy_timeout 600s;
                """.formatted(PeerCerts.SUITES, c.serverCert(), c.serverKey(), c.ca()));
        int[][] routes = {{httpPort, BenchEnv.HTTP_PORT}, {iperfPort(), BenchEnv.IPERF_PORT}};
        for (int[] r : routes) {
            sb.append("    server { listen %s:%d ssl; proxy_pass 127.0.0.1:%d; }\n"
                    .formatted(BenchEnv.ip(server), tls(r[0]), r[1]));
        }
        return sb.append("}\n").toString();
    }

    // ---- stunnel (a thread per connection: --workers does not apply)

    private static String stunnelGlobal() {
        return """
                foreground = yes
                pid =
                syslog = no
                debug = warning
                socket = l:TCP_NODELAY=1
                socket = r:TCP_NODELAY=1
                """;
    }

    private String stunnelClient(PeerCerts c) {
        StringBuilder sb = new StringBuilder(stunnelGlobal());
        for (int port : new int[] {httpPort, iperfPort()}) {
            sb.append("""
                    [out%d]
                    client = yes
                    accept = 127.0.0.1:%d
                    connect = %s
                    cert = %s
                    key = %s
                    CAfile = %s
                    verifyChain = yes
                    checkHost = %s
                    sni = %s
                    sslVersionMin = TLSv1.3
                    ciphersuites = %s
                    """.formatted(port, port, target(port), c.clientCert(), c.clientKey(), c.ca(),
                    PeerCerts.SERVER_NAME, PeerCerts.SERVER_NAME, PeerCerts.SUITES));
        }
        return sb.toString();
    }

    private String stunnelServer(PeerCerts c) {
        StringBuilder sb = new StringBuilder(stunnelGlobal());
        int[][] routes = {{httpPort, BenchEnv.HTTP_PORT}, {iperfPort(), BenchEnv.IPERF_PORT}};
        for (int[] r : routes) {
            sb.append("""
                    [in%d]
                    accept = %s:%d
                    connect = 127.0.0.1:%d
                    cert = %s
                    key = %s
                    CAfile = %s
                    verifyChain = yes
                    requireCert = yes
                    sslVersionMin = TLSv1.3
                    ciphersuites = %s
                    """.formatted(r[0], BenchEnv.ip(server), tls(r[0]), r[1], c.serverCert(), c.serverKey(), c.ca(),
                    PeerCerts.SUITES));
        }
        return sb.toString();
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
