package dev.ambit.proxy.identity;

import static dev.ambit.proxy.identity.TestCa.BACKEND;
import static dev.ambit.proxy.identity.TestCa.FRONTEND;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateManagerTest {

    @TempDir
    Path dir;
    TestCa ca;
    CertificateManager manager;
    final MetricsRegistry metrics = MetricsRegistry.create();
    final BlockingQueue<WorkloadCertificate[]> changes = new LinkedBlockingQueue<>();

    private CertificateManager start(Duration leafLifetime) throws Exception {
        ca = new TestCa(dir, leafLifetime);
        manager = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(metrics)
                .backoff(Duration.ofMillis(100), Duration.ofMillis(400))
                .build();
        manager.addListener((id, previous, current) -> changes.add(new WorkloadCertificate[] {previous, current}));
        return manager;
    }

    @AfterEach
    void stop() throws Exception {
        if (manager != null) {
            manager.close();
        }
        if (ca != null) {
            ca.close();
        }
    }

    @Test
    void fetchCachesTheCertificate() throws Exception {
        start(Duration.ofHours(1));

        WorkloadCertificate first = manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate second = manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);

        assertThat(second).isSameAs(first);
        assertThat(ca.signed()).isEqualTo(1.0);
        assertThat(Certificates.uriSans(first.leaf())).containsExactly(FRONTEND.uri());
        assertThat(manager.current(FRONTEND)).containsSame(first);
        assertThat(manager.identities()).containsExactly(FRONTEND);
        assertThat(metrics.value(CertificateManager.EXPIRY, FRONTEND.uri())).isBetween(3500.0, 3600.0);
        WorkloadCertificate[] change = changes.poll(5, TimeUnit.SECONDS);
        assertThat(change[0]).isNull();
        assertThat(change[1]).isSameAs(first);
    }

    @Test
    void concurrentFetchesShareOneCaCall() throws Exception {
        start(Duration.ofHours(1));
        int callers = 16;
        ExecutorService pool = Executors.newFixedThreadPool(callers);
        CountDownLatch go = new CountDownLatch(1);
        List<java.util.concurrent.Future<CompletableFuture<WorkloadCertificate>>> submitted = new ArrayList<>();
        for (int i = 0; i < callers; i++) {
            submitted.add(pool.submit(() -> {
                go.await();
                return manager.fetch(FRONTEND);
            }));
        }
        go.countDown();
        List<WorkloadCertificate> got = new ArrayList<>();
        for (var f : submitted) {
            got.add(f.get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS));
        }
        pool.shutdown();

        assertThat(got).allSatisfy(c -> assertThat(c).isSameAs(got.getFirst()));
        assertThat(ca.signed()).isEqualTo(1.0);
    }

    @Test
    void distinctIdentitiesGetDistinctCertificates() throws Exception {
        start(Duration.ofHours(1));

        WorkloadCertificate a = manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);
        WorkloadCertificate b = manager.fetch(BACKEND).get(10, TimeUnit.SECONDS);

        assertThat(b.identity()).isEqualTo(BACKEND);
        assertThat(b.serialNumber()).isNotEqualTo(a.serialNumber());
        assertThat(ca.signed()).isEqualTo(2.0);
    }

    @Test
    void renewsAtHalfLifeAndTellsListeners() throws Exception {
        start(Duration.ofSeconds(4));
        long t0 = System.nanoTime();
        WorkloadCertificate first = manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);
        assertThat(changes.poll(5, TimeUnit.SECONDS)[1]).isSameAs(first);

        WorkloadCertificate[] renewal = changes.poll(10, TimeUnit.SECONDS);
        double elapsed = (System.nanoTime() - t0) / 1e9;

        assertThat(renewal).as("renewal within 10 s").isNotNull();
        assertThat(renewal[0]).isSameAs(first);
        assertThat(renewal[1].serialNumber()).isNotEqualTo(first.serialNumber());
        assertThat(renewal[1].privateKey()).isNotEqualTo(first.privateKey());
        // Half of 4 s, minus up to 5% jitter, plus CA round trips; well before expiry at 4 s.
        assertThat(elapsed).isBetween(1.7, 3.5);
        assertThat(manager.current(FRONTEND)).containsSame(renewal[1]);
        assertThat(metrics.value(CertificateManager.RENEWALS)).isEqualTo(1.0);
        assertThat(ca.signed()).isEqualTo(2.0);
    }

    @Test
    void deniedFetchFailsWithTheReasonThenRetriesWithBackoff() throws Exception {
        start(Duration.ofHours(1));
        ca.placeOnNode(BACKEND);

        assertThatThrownBy(() -> manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("PERMISSION_DENIED")
                .hasMessageContaining("identity " + FRONTEND.uri() + " does not run on node node-1");

        // The pod arrives in the model; a retry (100 ms, 200 ms, 400 ms, ...) picks it up.
        ca.placeOnNode(FRONTEND, BACKEND);
        WorkloadCertificate[] change = changes.poll(5, TimeUnit.SECONDS);
        assertThat(change).as("certificate after retries").isNotNull();
        assertThat(change[1].identity()).isEqualTo(FRONTEND);
        assertThat(metrics.value(CertificateManager.FAILURES)).isGreaterThanOrEqualTo(1.0);
        assertThat(manager.fetch(FRONTEND).get(1, TimeUnit.SECONDS)).isSameAs(change[1]);
    }

    @Test
    void failedRenewalKeepsTheOldCertificateUntilItExpires() throws Exception {
        // 5 s, not less: X.509 times have whole seconds, so the certificate's real life is
        // between 4 and 5 s (with 3 s it was sometimes just over 2, and expired before the check).
        start(Duration.ofSeconds(5));
        WorkloadCertificate first = manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);
        ca.placeOnNode(BACKEND);

        // Renewal is due at ~2.5 s and fails, as do its retries; the old one stays in use.
        Thread.sleep(3_000);
        assertThat(metrics.value(CertificateManager.FAILURES)).isGreaterThanOrEqualTo(1.0);
        assertThat(manager.current(FRONTEND)).containsSame(first);
        assertThat(manager.fetch(FRONTEND).getNow(null)).isSameAs(first);

        Thread.sleep(Math.max(0, first.notAfter().toEpochMilli() - System.currentTimeMillis()) + 200);
        assertThat(manager.current(FRONTEND)).isEmpty();
        assertThat(ca.signed()).isEqualTo(1.0);
    }

    @Test
    void forgetStopsRenewalAndDropsTheGauge() throws Exception {
        // Renewal would come at half life (2 s); the wait after forget passes that point. A
        // shorter TTL let a loaded machine renew between the fetch and the forget.
        start(Duration.ofSeconds(4));
        manager.fetch(FRONTEND).get(10, TimeUnit.SECONDS);
        assertThat(metrics.scrape()).contains(FRONTEND.uri());

        manager.forget(FRONTEND);
        Thread.sleep(2_500);

        assertThat(manager.identities()).isEmpty();
        assertThat(manager.current(FRONTEND)).isEmpty();
        assertThat(metrics.scrape()).doesNotContain(FRONTEND.uri());
        assertThat(ca.signed()).as("no renewal after forget").isEqualTo(1.0);
    }

    @Test
    void forgetFailsWaitingCallers() throws Exception {
        start(Duration.ofHours(1));
        ca.placeOnNode(BACKEND);
        manager.fetch(FRONTEND).exceptionally(e -> null).get(10, TimeUnit.SECONDS);
        // A retry is scheduled; this caller waits for it.
        CompletableFuture<WorkloadCertificate> waiting = manager.fetch(FRONTEND);

        manager.forget(FRONTEND);

        assertThatThrownBy(() -> waiting.get(5, TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("forgotten");
    }

    @Test
    void cancellingOneCallerDoesNotCancelOthers() throws Exception {
        start(Duration.ofHours(1));
        CompletableFuture<WorkloadCertificate> a = manager.fetch(FRONTEND);
        CompletableFuture<WorkloadCertificate> b = manager.fetch(FRONTEND);

        a.cancel(false);

        assertThat(b.get(10, TimeUnit.SECONDS).identity()).isEqualTo(FRONTEND);
    }

    @Test
    void builderValidatesWithClearMessages() throws Exception {
        CertificateIssuer nothing = id -> new CompletableFuture<>();
        assertThatThrownBy(() -> CertificateManager.builder(nothing).renewAt(0.0))
                .hasMessage("renewAt: 0.0 (expected: between 0 and 1)");
        assertThatThrownBy(() -> CertificateManager.builder(nothing).jitter(1.0))
                .hasMessage("jitter: 1.0 (expected: >= 0 and < 1)");
        assertThatThrownBy(() -> CertificateManager.builder(nothing).build())
                .hasMessage("metrics: null (expected: a MetricsRegistry)");
        assertThatThrownBy(() -> CertificateManager.builder(nothing).backoff(Duration.ofSeconds(2),
                Duration.ofSeconds(1))).hasMessage("max: PT1S (expected: >= initial PT2S)");
        assertThatThrownBy(() -> CertificateManager.builder(nothing).metrics(metrics).renewAt(0.1).jitter(0.2)
                .build()).hasMessage("jitter: 0.2 (expected: < renewAt 0.1)");
    }

    @Test
    void backoffDoublesUpToTheBound() throws Exception {
        try (CertificateManager m = CertificateManager.builder(id -> new CompletableFuture<>()).metrics(metrics)
                .backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build()) {
            assertThat(m.backoff(1).toMillis()).isBetween(80L, 100L);
            assertThat(m.backoff(2).toMillis()).isBetween(160L, 200L);
            assertThat(m.backoff(4).toMillis()).isBetween(640L, 800L);
            assertThat(m.backoff(5).toMillis()).isBetween(800L, 1000L);
            assertThat(m.backoff(1_000).toMillis()).isBetween(800L, 1000L);
        }
    }

    @Test
    void closedManagerRefusesFetches() throws Exception {
        start(Duration.ofHours(1));
        manager.close();
        assertThatThrownBy(() -> manager.fetch(SpiffeId.of("cluster.local", "a", "b")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("certificate manager closed");
    }
}
