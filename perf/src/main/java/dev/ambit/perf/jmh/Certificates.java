package dev.ambit.perf.jmh;

import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.testing.TestCa;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

/**
 * Workload certificates as the agent gets them in production: issued by istiod-lite's CA
 * (in process, {@link TestCa}), ECDSA P-256 with SPIFFE IDs, for the frontend (client) and
 * the backend (server); and the agent's TLS contexts (BoringSSL, TLS 1.3, AES-GCM, h2).
 */
final class Certificates implements AutoCloseable {

    final WorkloadCertificate frontend;
    final WorkloadCertificate backend;
    final TlsContexts tls;
    private final TestCa ca;
    private final Path dir;

    Certificates() throws Exception {
        dir = Files.createTempDirectory("ambit-jmh-ca-");
        ca = new TestCa(dir, Duration.ofHours(1));
        frontend = ca.issue(TestCa.FRONTEND);
        backend = ca.issue(TestCa.BACKEND);
        tls = TlsContexts.builder(ca.bundle()).provider(TlsContexts.Provider.OPENSSL).build();
    }

    @Override
    public void close() {
        ca.close();
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
