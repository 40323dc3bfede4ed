package dev.ambit.agent.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.NetNs;
import dev.ambit.ffi.Sockets;
import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.testing.Host;
import dev.ambit.testing.NetnsServer;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Bad input to loading and enrollment: each error names the path or feature at fault,
 * and nothing is left attached or pinned afterwards.
 */
@ExtendWith(NoLeftovers.class)
class EnrollmentInputTest {

    private static int programsBefore;

    private TestNetwork net;
    private Node pod;
    private EbpfRedirector redirector;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeAll
    static void countPrograms() {
        programsBefore = Bpf.loadedPrograms("ambit_").size();
    }

    @BeforeEach
    void setUp() {
        net = TestNetwork.create();
        pod = net.pod("a");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        if (redirector != null) {
            redirector.close();
        }
        net.close(); // NoLeftovers then checks that nothing is left
    }

    private EbpfRedirector open() {
        return EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot()).build());
    }

    private int inboundListener(Node node) throws Exception {
        NetnsServer s = NetnsServer.start(node.netns(), new InetSocketAddress("0.0.0.0", 15006), c -> "IN");
        closeables.add(s);
        return s.fd();
    }

    private PodRedirection podWith(Path cgroup, Path netns, int listenerFd) {
        return new PodRedirection("uid-a", cgroup, netns, List.of(pod.address()), listenerFd);
    }

    /** Nothing of Ambit is attached to the pod's cgroup or namespace, and it is not enrolled. */
    private void assertNothingAttached(Node node) {
        try (NativeFd cg = Linux.open(node.cgroup(), true); NativeFd ns = NetNs.openNetns(node.netns())) {
            assertThat(Bpf.attachedPrograms(cg, libbpf_h.BPF_CGROUP_INET4_CONNECT)).isEmpty();
            assertThat(Bpf.attachedPrograms(cg, libbpf_h.BPF_CGROUP_INET6_CONNECT)).isEmpty();
            assertThat(Bpf.attachedPrograms(cg, libbpf_h.BPF_CGROUP_SOCK_OPS)).isEmpty();
            assertThat(Bpf.attachedPrograms(ns, libbpf_h.BPF_SK_LOOKUP)).isEmpty();
        }
        if (redirector != null) {
            assertThat(redirector.enrolledPods()).isEmpty();
        }
        assertThat(net.bpffsRoot().resolve("pods").resolve("uid-" + node.name())).doesNotExist();
    }

    @Test
    void missingCgroupIsNamed() throws Exception {
        redirector = open();
        Path missing = pod.cgroup().resolveSibling("no-such-pod");
        assertThatThrownBy(() -> redirector.enroll(podWith(missing, pod.netns(), inboundListener(pod))))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("cgroup " + missing + " does not exist");
        assertNothingAttached(pod);
    }

    @Test
    void missingNetworkNamespaceIsNamed() throws Exception {
        redirector = open();
        Path missing = Path.of("/run/netns/" + net.id() + "-gone");
        assertThatThrownBy(() -> redirector.enroll(podWith(pod.cgroup(), missing, inboundListener(pod))))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("network namespace " + missing + " does not exist");
        assertNothingAttached(pod);
    }

    @Test
    void aFileThatIsNotANetworkNamespaceIsRefused() throws Exception {
        redirector = open();
        int fd = inboundListener(pod);
        assertThatThrownBy(() -> redirector.enroll(podWith(pod.cgroup(), Path.of("/proc/self/ns/uts"), fd)))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("/proc/self/ns/uts")
                .hasMessageContaining("expected a network namespace");
        assertThatThrownBy(() -> redirector.enroll(podWith(pod.cgroup(), Path.of("/etc/hostname"), fd)))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("/etc/hostname")
                .hasMessageContaining("not a namespace file");
        assertNothingAttached(pod);
    }

    @Test
    void aCgroupV1PathIsRefusedByName() throws Exception {
        redirector = open();
        Path v1 = cgroupV1Folder();
        assertThatThrownBy(() -> redirector.enroll(podWith(v1, pod.netns(), inboundListener(pod))))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("cgroup " + v1 + " is on a cgroup v1 hierarchy")
                .hasMessageContaining("cgroup v2");
        assertNothingAttached(pod);
    }

    @Test
    void aListenerOutsideThePodIsRefused() throws Exception {
        redirector = open();
        Node other = net.host("b");
        int foreign = inboundListener(other);
        assertThatThrownBy(() -> redirector.enroll(podWith(pod.cgroup(), pod.netns(), foreign)))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("inbound listener fd " + foreign + " is not in the pod's network namespace");
        assertNothingAttached(pod);
    }

    @Test
    void anAddressOfAnotherPodIsRefusedAndNamesThatPod() throws Exception {
        redirector = open();
        redirector.enroll(podWith(pod.cgroup(), pod.netns(), inboundListener(pod)));
        Node thief = net.pod("b");
        PodRedirection stealing = new PodRedirection("uid-b", thief.cgroup(), thief.netns(), List.of(pod.address()),
                inboundListener(thief));
        assertThatThrownBy(() -> redirector.enroll(stealing))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("address " + pod.address().getHostAddress() + " is already enrolled by pod uid-a");
        assertThat(redirector.enrolledPods()).containsExactly("uid-a");
        try (NativeFd cg = Linux.open(thief.cgroup(), true)) {
            assertThat(Bpf.attachedPrograms(cg, libbpf_h.BPF_CGROUP_INET4_CONNECT)).isEmpty();
        }
    }

    @Test
    void aNewSandboxForTheSameUidKeepsTheCgroupLinksAndMovesTheNamespaceLink() throws Exception {
        redirector = open();
        redirector.enroll(podWith(pod.cgroup(), pod.netns(), inboundListener(pod)));
        // A pin recreated would be a new bpffs inode: the same inode means the same link.
        Path connectPin = net.bpffsRoot().resolve("pods/uid-a/cgroup_connect4");
        Object connectLink = Files.getAttribute(connectPin, "unix:ino");
        // The sandbox is recreated: a new namespace, the same UID, cgroup and address.
        Node sandbox = net.host("a2");
        redirector.enroll(new PodRedirection("uid-a", pod.cgroup(), sandbox.netns(), List.of(pod.address()),
                inboundListener(sandbox)));

        assertThat(redirector.enrolledPods()).containsExactly("uid-a");
        try (NativeFd cg = Linux.open(pod.cgroup(), true);
             NativeFd oldNs = NetNs.openNetns(pod.netns());
             NativeFd newNs = NetNs.openNetns(sandbox.netns())) {
            assertThat(Files.getAttribute(connectPin, "unix:ino")).isEqualTo(connectLink);
            assertThat(Bpf.attachedPrograms(cg, libbpf_h.BPF_CGROUP_INET4_CONNECT)).hasSize(1);
            assertThat(Bpf.attachedPrograms(oldNs, libbpf_h.BPF_SK_LOOKUP)).isEmpty();
            assertThat(Bpf.attachedPrograms(newNs, libbpf_h.BPF_SK_LOOKUP)).hasSize(1);
        }
        assertThat(redirector.unenroll("uid-a")).isTrue();
        assertNothingAttached(pod);
    }

    @Test
    void aListenerTheKernelRefusesLeavesNothingBehind() throws Exception {
        redirector = open();
        // Bound to the inbound port inside the pod but never listening: every check passes
        // until the kernel refuses it as a steering target.
        NativeFd notListening = NetNs.callIn(pod.netns(), () -> {
            NativeFd s = Sockets.tcpSocket();
            Sockets.bindSource(s.intValue(), pod.address(), 15006, false);
            return s;
        });
        closeables.add(notListening);
        assertThatThrownBy(() -> redirector.enroll(podWith(pod.cgroup(), pod.netns(), notListening.intValue())))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("enroll pod uid-a")
                .hasMessageContaining("ambit_in_lsnr");
        assertNothingAttached(pod);
    }

    @Test
    void aFailureAfterTheCgroupLinksAreAttachedDetachesThem() throws Exception {
        redirector = open();
        // Fill the pod's namespace with sk_lookup links up to the kernel's limit (64), so
        // the last attach of the enrollment fails after the cgroup links exist.
        List<NativeFd> filler = new ArrayList<>();
        Path program = net.bpffsRoot().resolve("progs").resolve(redirector.version()).resolve("ambit_sk_lookup");
        try (NativeFd prog = Bpf.open(program); NativeFd ns = NetNs.openNetns(pod.netns())) {
            while (filler.size() < 64) {
                filler.add(Bpf.createLink(prog, ns, libbpf_h.BPF_SK_LOOKUP));
            }
            assertThatThrownBy(() -> redirector.enroll(podWith(pod.cgroup(), pod.netns(), inboundListener(pod))))
                    .isInstanceOf(RedirectException.class)
                    .hasMessageContaining("enroll pod uid-a")
                    .hasMessageContaining("attach")
                    .hasMessageContaining(pod.netns().toString());
        } finally {
            filler.forEach(NativeFd::close); // closing the only reference detaches each link
        }
        assertNothingAttached(pod);
    }

    @Test
    void aKernelWithoutAProgramTypeIsReportedBeforeAnythingIsLoaded() {
        KernelFeatures noSkLookup = new KernelFeatures() {
            @Override
            public boolean supportsProgramType(int type) {
                return type != libbpf_h.BPF_PROG_TYPE_SK_LOOKUP && Bpf.probeProgramType(type);
            }

            @Override
            public boolean supportsMapType(int type) {
                return Bpf.probeMapType(type);
            }
        };
        assertThatThrownBy(() -> EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot())
                .kernelFeatures(noSkLookup).build()))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("lacks BPF program type sk_lookup")
                .hasMessageContaining("ambit_sk_lookup");
        assertThat(net.bpffsRoot()).doesNotExist();
        assertThat(Bpf.loadedPrograms("ambit_")).hasSize(programsBefore);
    }

    @Test
    void aKernelWithoutAMapTypeIsReportedBeforeAnythingIsLoaded() {
        KernelFeatures noSkStorage = new KernelFeatures() {
            @Override
            public boolean supportsProgramType(int type) {
                return Bpf.probeProgramType(type);
            }

            @Override
            public boolean supportsMapType(int type) {
                return type != libbpf_h.BPF_MAP_TYPE_SK_STORAGE && Bpf.probeMapType(type);
            }
        };
        assertThatThrownBy(() -> EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot())
                .kernelFeatures(noSkStorage).build()))
                .isInstanceOf(RedirectException.class)
                .hasMessageContaining("lacks BPF map type sk_storage");
        assertThat(net.bpffsRoot()).doesNotExist();
    }

    @Test
    void aRootOutsideBpffsIsRefused() throws Exception {
        Path notBpffs = Files.createTempDirectory(TestNetwork.PREFIX);
        try {
            assertThatThrownBy(() -> EbpfRedirector.open(RedirectConfig.builder()
                    .bpffsRoot(notBpffs.resolve("pins")).build()))
                    .isInstanceOf(RedirectException.class)
                    .hasMessageContaining(notBpffs + " is not on bpffs")
                    .hasMessageContaining("mount -t bpf bpf /sys/fs/bpf");
        } finally {
            Files.deleteIfExists(notBpffs);
        }
    }

    /** A folder on a cgroup v1 hierarchy: an existing one, or a named one mounted for this test. */
    private Path cgroupV1Folder() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/mounts"))) {
            String[] f = line.split(" ");
            if (f[2].equals("cgroup")) {
                return Path.of(f[1]);
            }
        }
        Path mnt = Files.createTempDirectory(TestNetwork.PREFIX + "-v1");
        Host.run("mount", "-t", "cgroup", "-o", "none,name=" + net.id(), "cgroup", mnt.toString());
        closeables.add(() -> {
            Host.run("umount", mnt.toString());
            Files.deleteIfExists(mnt);
        });
        return mnt;
    }
}
