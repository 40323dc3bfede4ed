package dev.ambit.waypoint.http;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A real Zipkin server ({@code io.zipkin:zipkin-server:3.5.1:exec}, copied into
 * {@code target/zipkin} by the module's build) as a child process on a free loopback port, in-memory
 * storage. Starting takes 10-30 s: once per test class.
 */
final class ZipkinProcess implements AutoCloseable {

    static final Path JAR = Path.of("target/zipkin/zipkin-server.jar");

    private final Process process;
    final int port;
    private final HttpClient client = HttpClient.newHttpClient();

    private ZipkinProcess(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts the server and waits (at most 120 s) until its {@code /health} answers 200. */
    static ZipkinProcess start() throws IOException, InterruptedException {
        if (!Files.isRegularFile(JAR)) {
            throw new IllegalStateException(JAR.toAbsolutePath() + " missing (expected: copied by mvn "
                    + "process-test-resources of waypoint-proxy)");
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = Path.of("target/zipkin/zipkin-" + port + ".log");
        Process p = new ProcessBuilder(List.of(java, "-Xmx300m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-jar", JAR.toString(), "--server.port=" + port, "--server.address=127.0.0.1"))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        ZipkinProcess z = new ZipkinProcess(p, port);
        long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < end) {
            if (!p.isAlive()) {
                throw new IllegalStateException("zipkin exited with " + p.exitValue() + ": see " + log);
            }
            try {
                if (z.get("/health").statusCode() == 200) {
                    return z;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        z.close();
        throw new IllegalStateException("zipkin not healthy within 120 s: see " + log);
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
