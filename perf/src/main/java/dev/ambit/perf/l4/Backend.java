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
 */
final class Backend implements AutoCloseable {

    /** The body: 99 letters and a newline. */
    static final String BODY = "a".repeat(99) + "\n";

    private final Proc nginx;
    private final Proc iperf;

    private Backend(Proc nginx, Proc iperf) {
        this.nginx = nginx;
        this.iperf = iperf;
    }

    static Backend start(BenchEnv env, Node pod) throws IOException, InterruptedException {
        Path dir = Files.createDirectories(env.dir().resolve("backend-" + pod.name()));
        Files.createDirectories(dir.resolve("tmp"));
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
                }
                """.formatted(dir, BenchEnv.HTTP_PORT, BODY.replace("\n", "\\n")));
        Proc nginx = Proc.start("backend-nginx-" + pod.name(), pod.netns(), pod.cgroup(), env.serviceCpus(),
                dir.resolve("nginx.log"), List.of("nginx", "-e", dir.resolve("error.log").toString(), "-p",
                        dir.toString(), "-c", conf.toString()));
        Proc iperf = Proc.start("backend-iperf3-" + pod.name(), pod.netns(), pod.cgroup(), env.serviceCpus(),
                dir.resolve("iperf3.log"), List.of("iperf3", "-s", "-p", Integer.toString(BenchEnv.IPERF_PORT)));
        Backend b = new Backend(nginx, iperf);
        try {
            BenchEnv.awaitListening(pod, nginx, Duration.ofSeconds(10), BenchEnv.HTTP_PORT);
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
