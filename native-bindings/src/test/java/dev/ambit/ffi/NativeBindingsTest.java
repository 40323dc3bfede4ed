package dev.ambit.ffi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.ffi.linux.linux_h;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class NativeBindingsTest {

    private static void requireRoot() {
        boolean root = "root".equals(System.getProperty("user.name"));
        if (System.getenv("CI") != null && !root) {
            throw new IllegalStateException("root tests must run as root in CI");
        }
        assumeTrue(root, "needs root");
    }

    @Test
    void librariesAreAvailableWithAReasonOtherwise() {
        assertThat(Linux.isAvailable()).as(String.valueOf(Linux.unavailabilityCause())).isTrue();
        assertThat(Bpf.isAvailable()).as(String.valueOf(Bpf.unavailabilityCause())).isTrue();
        assertThat(Bpf.unavailabilityCause()).isNull();
        assertThat(Bpf.libbpfVersion()).matches("1\\.\\d+");
    }

    @Test
    void generatedConstantsMatchTheKernelAbi() {
        // Fixed by the kernel's UAPI: a drift means the generator read the wrong headers.
        assertThat(libbpf_h.BPF_CGROUP_INET4_CONNECT).isEqualTo(10);
        assertThat(libbpf_h.BPF_SK_LOOKUP).isEqualTo(36);
        assertThat(linux_h.SO_COOKIE).isEqualTo(57);
        assertThat(linux_h.SO_ORIGINAL_DST).isEqualTo(80);
        assertThat(dev.ambit.ffi.linux.sockaddr_in.SIZEOF).isEqualTo(16);
        assertThat(dev.ambit.ffi.libbpf.bpf_prog_info.id$OFFSET).isEqualTo(4);
    }

    @Test
    void errorsNameTheCallTheObjectAndTheErrno() {
        NativeException e = new NativeException("open", "/nowhere", 2, "is the pod running?");
        assertThat(e).hasMessage("open /nowhere: No such file or directory (errno 2 ENOENT): is the pod running?");
        assertThat(e.errno()).isEqualTo(2);
        assertThat(Errno.name(95)).isEqualTo("EOPNOTSUPP");
        assertThat(Errno.describe(9999)).contains("errno 9999");

        assertThatThrownBy(() -> Linux.open(Path.of("/no/such/cgroup"), true))
                .isInstanceOf(NativeException.class)
                .hasMessage("open /no/such/cgroup: No such file or directory (errno 2 ENOENT)");
        assertThatThrownBy(() -> Bpf.open(Path.of("/sys/fs/bpf/ambit-no-such-pin")))
                .isInstanceOf(NativeException.class)
                .hasMessageContaining("open pinned BPF object /sys/fs/bpf/ambit-no-such-pin")
                .hasMessageContaining("ENOENT");
    }

    @Test
    void socketOptions() throws Exception {
        requireRoot();
        try (NativeFd a = Sockets.tcpSocket(); NativeFd b = Sockets.tcpSocket()) {
            assertThat(Sockets.cookie(a.intValue())).isPositive().isNotEqualTo(Sockets.cookie(b.intValue()));
            Sockets.setMark(a.intValue(), 0x539);
            assertThat(Sockets.mark(a.intValue())).isEqualTo(0x539);
            Inet4Address loopback = (Inet4Address) InetAddress.getByName("127.0.0.1");
            Sockets.bindSource(a.intValue(), loopback, 0, false);
            assertThat(Sockets.localAddress(a.intValue())).isEqualTo(new InetSocketAddress(loopback, 0));
            assertThatThrownBy(() -> Sockets.originalDestinationNetfilter(b.intValue()))
                    .isInstanceOf(NativeException.class)
                    .hasMessageContaining("SO_ORIGINAL_DST")
                    .hasMessageContaining("not redirected by netfilter");
            assertThatThrownBy(() -> Sockets.bindSource(b.intValue(), loopback, 70000, false))
                    .hasMessage("port: 70000 (expected: 0-65535)");
        }
    }

    @Test
    void enteringANamespaceAndComingBack() throws Exception {
        requireRoot();
        String ns = "ambit-tffi" + ProcessHandle.current().pid();
        Process add = new ProcessBuilder("ip", "netns", "add", ns).inheritIO().start();
        assertThat(add.waitFor()).isZero();
        try {
            Path path = Path.of("/run/netns", ns);
            long home = NetNs.cookie(Path.of("/proc/thread-self/ns/net"));
            long inside = NetNs.cookie(path);
            assertThat(inside).isNotEqualTo(home);
            try (NativeFd s = Sockets.tcpSocket()) {
                assertThat(Sockets.netnsCookie(s.intValue())).as("thread came back").isEqualTo(home);
            }
            assertThatThrownBy(() -> NetNs.callIn(Path.of("/run/netns/ambit-tffi-missing"), () -> 1))
                    .isInstanceOf(NativeException.class)
                    .hasMessageContaining("/run/netns/ambit-tffi-missing");
            // A virtual thread may change carriers mid-call: refused, not silently wrong.
            Throwable[] fromVirtual = new Throwable[1];
            Thread.ofVirtual().start(() -> {
                try {
                    NetNs.runIn(path, () -> { });
                } catch (Throwable t) {
                    fromVirtual[0] = t;
                }
            }).join();
            assertThat(fromVirtual[0]).isInstanceOf(IllegalStateException.class).hasMessageContaining("virtual thread");
        } finally {
            new ProcessBuilder("ip", "netns", "delete", ns).inheritIO().start().waitFor();
        }
    }
}
