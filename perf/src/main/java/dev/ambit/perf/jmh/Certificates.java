package dev.ambit.perf.jmh;

import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.TrustBundle;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.testing.InProcessCa;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Workload certificates as the agent gets them in production: issued by istiod-lite's CA
 * (in process, {@link InProcessCa}) through the agent's {@link CaClient}, ECDSA P-256 with SPIFFE IDs, for the frontend (client) and
 * the backend (server); and the agent's TLS contexts (BoringSSL, TLS 1.3, AES-GCM, h2).
 */
final class Certificates implements AutoCloseable {

    final WorkloadCertificate frontend;
    final WorkloadCertificate backend;
    final TlsContexts tls;
    private final InProcessCa ca;
    private final Path dir;

    Certificates() throws Exception {
        dir = Files.createTempDirectory("ambit-jmh-ca-");
        ca = new InProcessCa(dir, Duration.ofHours(1));
        TrustBundle bundle = TrustBundle.of(InProcessCa.TRUST_DOMAIN, ca.ca.roots());
        CaClient client = CaClient.builder(ca.channel, ca.tokenFile).trustBundle(bundle).build();
        frontend = client.issue(InProcessCa.FRONTEND).get(10, TimeUnit.SECONDS);
        backend = client.issue(InProcessCa.BACKEND).get(10, TimeUnit.SECONDS);
        tls = TlsContexts.builder(bundle).provider(TlsContexts.Provider.OPENSSL).build();
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
