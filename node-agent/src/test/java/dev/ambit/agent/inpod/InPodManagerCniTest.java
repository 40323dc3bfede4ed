package dev.ambit.agent.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.agent.redirect.PodRedirection;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateIssuer;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.identity.TestCa;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CNI path of {@link InPodManager}: a reported pod is captured at once, before xDS knows
 * it (and before the first sync), bound when its workload arrives, unenrolled when xDS says
 * it is not ambient or on DEL. Listeners on loopback ephemeral ports; capture is a recording
 * fake.
 */
class InPodManagerCniTest {

    private static final String UID = "0b6f-11ee";
    private static final String WORKLOAD = "Kubernetes//Pod/shop/web";

    @TempDir
    Path dir;

    private final ProxyState state = ProxyState.create();
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final List<String> captured = new CopyOnWriteArrayList<>();
    private final AtomicBoolean synced = new AtomicBoolean();
    private volatile RuntimeException captureFailure;
    private TestCa ca;
    private EventLoopGroup group;
    private CertificateManager certificates;
    private HbonePool pool;
    private InPodManager manager;
    private PodSandbox sandbox;
    /** What the sandbox source (the container runtime) knows; none unless a test says so. */
    private volatile PodSandbox known;

    @BeforeEach
    void setUp() throws Exception {
        ca = new TestCa(dir.resolve("ca"), Duration.ofHours(1));
        group = Transport.EPOLL.newEventLoopGroup(1, "inpod-test");
        CertificateIssuer never = id -> new CompletableFuture<>();
        certificates = CertificateManager.builder(never).metrics(metrics).build();
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        pool = HbonePool.builder(tls).metrics(metrics).build();
        Capture capture = new Capture() {
            @Override
            public void enroll(PodRedirection pod) {
                if (captureFailure != null) {
                    throw captureFailure;
                }
                captured.add("enroll " + pod.uid());
            }

            @Override
            public boolean unenroll(String uid) {
                captured.add("unenroll " + uid);
                return true;
            }

            @Override
            public List<String> enrolledPods() {
                return List.of();
            }
        };
        SandboxSource none = new SandboxSource() {
            @Override
            public void start(Runnable onChange) {
            }

            @Override
            public Optional<PodSandbox> find(String namespace, String name) {
                PodSandbox k = known;
                return k != null && k.namespace().equals(namespace) && k.name().equals(name) ? Optional.of(k)
                        : Optional.empty();
            }

            @Override
            public Collection<PodSandbox> all() {
                PodSandbox k = known;
                return k == null ? List.of() : List.of(k);
            }

            @Override
            public void close() {
            }
        };
        manager = InPodManager.builder("node2", new PodProxy.Shared(state, certificates, tls, pool, ch -> Optional.empty(),
                        group, metrics, new PodProxy.Ports(0, 0, freePort())), none, capture)
                .ready(synced::get)
                .networks((uid, s) -> PodNetwork.host(uid))
                .drainDeadline(Duration.ZERO)
                .build()
                .start();
        Path netns = Files.createFile(dir.resolve("netns"));
        sandbox = new PodSandbox("shop", "web", UID, dir.resolve("cgroup"), netns);
    }

    @AfterEach
    void tearDown() throws Exception {
        manager.close();
        pool.close();
        certificates.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        ca.close();
    }

    /** HBONE's port must be a real one (it is also the port dialled); others are ephemeral. */
    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private void workload(TunnelProtocol protocol) throws Exception {
        Workload w = Workload.newBuilder().setUid(WORKLOAD).setName("web").setNamespace("shop").setNode("node2")
                .setServiceAccount("web").setTunnelProtocol(protocol)
                .addAddresses(ByteString.copyFrom(InetAddress.getByName("10.244.2.5").getAddress())).build();
        state.applyAddresses(Map.of(WORKLOAD, Address.newBuilder().setWorkload(w).build()), List.of());
    }

    private static void eventually(Runnable check) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                check.run();
                return;
            } catch (AssertionError e) {
                if (System.nanoTime() > end) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    @Test
    void reportedPodIsCapturedBeforeTheFirstSyncAndBoundWhenItsWorkloadArrives() throws Exception {
        manager.add(sandbox, List.of(InetAddress.getByName("10.244.2.5"))).get(10, TimeUnit.SECONDS);
        assertThat(captured).containsExactly("enroll " + UID);
        assertThat(manager.enrolled()).singleElement().satisfies(e -> {
            assertThat(e.uid()).isEqualTo(UID);
            assertThat(e.workloadUid()).isEmpty(); // not known yet: its connections wait
        });

        workload(TunnelProtocol.HBONE);
        synced.set(true);
        manager.schedule();
        eventually(() -> assertThat(manager.enrolled().getFirst().workloadUid()).isEqualTo(WORKLOAD));
        assertThat(captured).containsExactly("enroll " + UID); // bound in place, not redone
        assertThat(certificates.identities()).extracting(Object::toString)
                .containsExactly("spiffe://cluster.local/ns/shop/sa/web");

        // Idempotent ADD.
        manager.add(sandbox, List.of(InetAddress.getByName("10.244.2.5"))).get(10, TimeUnit.SECONDS);
        assertThat(captured).containsExactly("enroll " + UID);

        manager.remove(UID).get(10, TimeUnit.SECONDS);
        assertThat(captured).containsExactly("enroll " + UID, "unenroll " + UID);
        assertThat(manager.enrolled()).isEmpty();
    }

    @Test
    void delOfAPodXdsStillWantsWhoseNetnsExistsKeepsItCaptured() throws Exception {
        manager.add(sandbox, List.of(InetAddress.getByName("10.244.2.5"))).get(10, TimeUnit.SECONDS);
        workload(TunnelProtocol.HBONE);
        synced.set(true);
        known = sandbox; // the container runtime still has the sandbox
        manager.schedule();
        eventually(() -> assertThat(manager.enrolled().getFirst().workloadUid()).isEqualTo(WORKLOAD));

        // A DEL while the pod lives and xDS still marks it ambient: it must not leave the mesh.
        manager.remove(UID).get(10, TimeUnit.SECONDS);
        assertThat(captured).containsExactly("enroll " + UID);
        assertThat(manager.enrolled()).singleElement().satisfies(e -> assertThat(e.uid()).isEqualTo(UID));

        // Once its sandbox is gone it leaves, as any pod does.
        known = null;
        Files.delete(sandbox.netns());
        manager.schedule();
        // The snapshot is published after capture is undone: wait for both.
        eventually(() -> {
            assertThat(captured).containsExactly("enroll " + UID, "unenroll " + UID);
            assertThat(manager.enrolled()).isEmpty();
        });
    }

    @Test
    void reportedPodThatXdsSaysIsNotAmbientIsUnenrolled() throws Exception {
        manager.add(sandbox, List.of(InetAddress.getByName("10.244.2.5"))).get(10, TimeUnit.SECONDS);
        workload(TunnelProtocol.NONE);
        synced.set(true);
        manager.schedule();
        // The snapshot is published after capture is undone: wait for both.
        eventually(() -> {
            assertThat(captured).containsExactly("enroll " + UID, "unenroll " + UID);
            assertThat(manager.enrolled()).isEmpty();
        });
        // Reported again while xDS still says so: refused, naming why.
        assertThatThrownBy(() -> manager.add(sandbox, List.of(InetAddress.getByName("10.244.2.5")))
                .get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasMessageContaining("not in the ambient mesh");
    }

    @Test
    void captureFailureFailsTheAdd() throws Exception {
        captureFailure = new IllegalStateException("cgroup " + sandbox.cgroup() + " does not exist");
        assertThatThrownBy(() -> manager.add(sandbox, List.of(InetAddress.getByName("10.244.2.5")))
                .get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasMessageContaining("does not exist");
        assertThat(manager.enrolled()).isEmpty();
    }

    @Test
    void missingNetnsOrNoIpv4IsARequestError() throws Exception {
        PodSandbox gone = new PodSandbox("shop", "web", UID, dir.resolve("cgroup"), dir.resolve("no-such-netns"));
        assertThatThrownBy(() -> manager.add(gone, List.of(InetAddress.getByName("10.244.2.5"))).join())
                .hasCauseInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> manager.add(sandbox, new ArrayList<>(List.of(InetAddress.getByName("fd00::5"))))
                .join()).hasCauseInstanceOf(IllegalArgumentException.class).hasMessageContaining("no IPv4 address");
    }
}
