package dev.ambit.perf.l4;

import dev.ambit.testing.TestNetwork.Node;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * An ingress from Debian's packages doing what the seeds' ingress-nginx does: terminates TLS
 * for {@value IngressCerts#HOST} (TLS 1.2 and 1.3, the certificate of {@link IngressCerts}) on
 * port 443 of a host of its own, routes by host name, adds the forwarding headers
 * ({@code x-forwarded-for}, {@code x-forwarded-proto}, {@code x-request-id}) and sends each
 * request over pooled keep-alive HTTP/1.1 to the backend pod (plain text, as ingress-nginx
 * reaches pods). Session resumption as each ships it (ingress-nginx's {@code ssl_session_cache
 * shared:SSL:10m} without tickets; HAProxy's default cache and tickets), as Envoy resumes by
 * default: {@code tls-new} resumes where they allow it, {@code tls-full} never does.
 *
 * <p>{@code nginx-ingress}: nginx's {@code proxy_pass} with an {@code upstream} {@code keepalive}
 * pool. {@code haproxy-ingress}: HAProxy in {@code mode http}, {@code http-reuse always}. One
 * worker process or thread each ({@code --workers}); the client is the shared client pod.
 */
final class IngressProxy implements Scenario {

    enum Kind { NGINX, HAPROXY }

    static final int HTTPS_PORT = 443;

    private final String name;
    private final Kind kind;
    private final BenchEnv env;
    private final Node client;
    private final Node host;
    private final Node server;
    private IngressCerts certs;
    private Proc proxy;

    IngressProxy(String name, Kind kind, BenchEnv env, Node client, Node host, Node server) {
        this.name = name;
        this.kind = kind;
        this.env = env;
        this.client = client;
        this.host = host;
        this.server = server;
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
        return "https://" + IngressCerts.HOST + "/";
    }

    @Override
    public boolean terminatesTls() {
        return true;
    }

    @Override
    public String hosts() {
        return BenchEnv.ip(host) + " " + IngressCerts.HOST + "\n";
    }

    @Override
    public List<String> curlOptions() {
        return List.of("--cacert", certs.ca().toString());
    }

    @Override
    public boolean carriesIperf() {
        return false;
    }

    @Override
    public String iperfHost() {
        return BenchEnv.ip(host);
    }

    @Override
    public int iperfPort() {
        return HTTPS_PORT;
    }

    @Override
    public List<Proc> proxies() {
        return List.of(proxy);
    }

    @Override
    public Proc l7Proxy() {
        return proxy;
    }

    @Override
    public int l7Port() {
        return HTTPS_PORT;
    }

    @Override
    public Node l7Node() {
        return host;
    }

    @Override
    public void start() throws Exception {
        Path dir = Files.createDirectories(env.dir().resolve(name));
        certs = IngressCerts.shared(env.dir().resolve("ingress-certs"));
        Path conf = dir.resolve(kind == Kind.NGINX ? "nginx.conf" : "haproxy.cfg");
        List<String> cmd = new ArrayList<>();
        if (kind == Kind.NGINX) {
            Files.createDirectories(dir.resolve("tmp"));
            Files.writeString(conf, nginx(dir));
            cmd.addAll(List.of("nginx", "-e", dir.resolve("error.log").toString(), "-p", dir.toString(), "-c"));
        } else {
            Files.writeString(conf, haproxy());
            cmd.addAll(List.of("haproxy", "-db", "-f"));
        }
        cmd.add(conf.toString());
        proxy = Proc.start(name, host.netns(), null, env.serviceCpus(), dir.resolve(name + ".log"), cmd);
        BenchEnv.awaitListening(host, proxy, Duration.ofSeconds(10), HTTPS_PORT);
    }

    private String nginx(Path dir) {
        return """
                user root;
                worker_processes %1$d;
                daemon off;
                pid %2$s/nginx.pid;
                events { worker_connections 4096; }
                http {
                    access_log off;
                    keepalive_requests 100000000;
                    keepalive_timeout 600s;
                    client_body_temp_path %2$s/tmp/body;
                    proxy_temp_path %2$s/tmp/proxy;
                    fastcgi_temp_path %2$s/tmp/fastcgi;
                    uwsgi_temp_path %2$s/tmp/uwsgi;
                    scgi_temp_path %2$s/tmp/scgi;
                    ssl_protocols TLSv1.2 TLSv1.3;
                    ssl_session_cache shared:SSL:10m;
                    ssl_session_tickets off;
                    upstream app {
                        server %3$s:%4$d;
                        keepalive 64;
                        keepalive_requests 100000000;
                        keepalive_timeout 600s;
                    }
                    server {
                        listen %5$s:%6$d ssl default_server;
                        server_name _;
                        ssl_certificate %8$s;
                        ssl_certificate_key %9$s;
                        return 404;
                    }
                    server {
                        listen %5$s:%6$d ssl;
                        server_name %7$s;
                        ssl_certificate %8$s;
                        ssl_certificate_key %9$s;
                        location / {
                            proxy_pass http://app;
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                            proxy_set_header Host $host;
                            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                            proxy_set_header X-Forwarded-Proto $scheme;
                            proxy_set_header X-Request-ID $request_id;
                        }
                    }
                }
                """.formatted(env.workers(), dir, BenchEnv.ip(server), BenchEnv.HTTP_PORT, BenchEnv.ip(host),
                HTTPS_PORT, IngressCerts.HOST, certs.cert(), certs.key());
    }

    private String haproxy() {
        return """
                global
                    nbthread %1$d
                    maxconn 4096
                    ssl-default-bind-options ssl-min-ver TLSv1.2
                defaults
                    mode http
                    option http-keep-alive
                    http-reuse always
                    timeout connect 5s
                    timeout client 600s
                    timeout server 600s
                    timeout http-keep-alive 600s
                frontend https
                    bind %2$s:%3$d ssl crt %4$s alpn h2,http/1.1
                    option forwardfor
                    unique-id-format %%{+X}o%%ci:%%cp_%%fi:%%fp_%%Ts_%%rt:%%pid
                    http-request set-header X-Request-ID %%[unique-id]
                    http-request set-header X-Forwarded-Proto https
                    use_backend app if { req.hdr(host),field(1,:) -i %5$s }
                    default_backend none
                backend app
                    server app %6$s:%7$d
                backend none
                    http-request return status 404
                """.formatted(env.workers(), BenchEnv.ip(host), HTTPS_PORT, certs.pem(), IngressCerts.HOST,
                BenchEnv.ip(server), BenchEnv.HTTP_PORT);
    }

    @Override
    public void close() {
        if (proxy != null) {
            proxy.close();
        }
    }
}
