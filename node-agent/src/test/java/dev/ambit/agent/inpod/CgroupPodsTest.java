package dev.ambit.agent.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link CgroupPods} on fake cgroup and /proc trees in a temporary folder. */
class CgroupPodsTest {

    private static final String UID = "0d5c8a3e-7f41-4b6a-9c1e-2f8d7a6b5c4d";
    private static final String UID_ = UID.replace('-', '_');

    @TempDir
    Path tmp;

    private Path root;
    private Path proc;
    private CgroupPods pods;

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectories(tmp.resolve("cgroup"));
        proc = Files.createDirectories(tmp.resolve("proc"));
        pods = new CgroupPods(root, proc, CgroupPods.DEFAULT_MAX_DEPTH);
        // Noise every layout has: other slices, other pods, container folders.
        mkdirs("system.slice/containerd.service");
        mkdirs("user.slice/user-0.slice/session-1.scope");
        mkdirs("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_3333_4444_555555555555.slice");
    }

    private Path mkdirs(String relative) throws IOException {
        return Files.createDirectories(root.resolve(relative));
    }

    /** A process in {@code cgroup} whose network namespace has inode {@code inode}. */
    private void process(Path cgroup, long pid, long inode) throws IOException {
        Path procs = cgroup.resolve("cgroup.procs");
        String before = Files.exists(procs) ? Files.readString(procs) : "";
        Files.writeString(procs, before + pid + "\n");
        Path ns = Files.createDirectories(proc.resolve(pid + "/ns"));
        Files.createSymbolicLink(ns.resolve("net"), Path.of("net:[" + inode + "]"));
    }

    @Test
    void systemdBurstable() throws IOException {
        Path pod = mkdirs("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice");
        assertThat(pods.findCgroup(UID)).contains(pod);
    }

    @Test
    void systemdBestEffort() throws IOException {
        Path pod = mkdirs("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + UID_ + ".slice");
        assertThat(pods.findCgroup(UID)).contains(pod);
    }

    @Test
    void systemdGuaranteedDirectlyUnderKubepods() throws IOException {
        Path pod = mkdirs("kubepods.slice/kubepods-pod" + UID_ + ".slice");
        assertThat(pods.findCgroup(UID)).contains(pod);
    }

    @Test
    void cgroupfsEveryQosClass() throws IOException {
        String other = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
        String third = "99999999-8888-7777-6666-555555555555";
        Path burstable = mkdirs("kubepods/burstable/pod" + UID);
        Path bestEffort = mkdirs("kubepods/besteffort/pod" + other);
        Path guaranteed = mkdirs("kubepods/pod" + third);

        assertThat(pods.findCgroup(UID)).contains(burstable);
        assertThat(pods.findCgroups(List.of(UID, other, third)))
                .isEqualTo(Map.of(UID, burstable, other, bestEffort, third, guaranteed));
    }

    @Test
    void uidWithDashesMatchesOnlyItsOwnSpellingPerDriver() throws IOException {
        // systemd writes the dashes as underscores, cgroupfs keeps them: both are found by search.
        Path nested = mkdirs("kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                + "kubelet-kubepods-besteffort-pod" + UID_ + ".slice");
        assertThat(pods.findCgroup(UID)).contains(nested);

        String other = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
        Path cgroupfs = mkdirs("custom-root/kubepods/pod" + other);
        assertThat(pods.findCgroup(other)).contains(cgroupfs);
        assertThat(CgroupPods.markers(UID)).containsExactly("pod" + UID, "pod" + UID_);
    }

    @Test
    void usualPlacesComeBeforeTheSearch() throws IOException {
        // A folder elsewhere that also names the pod, shallower than the usual place.
        mkdirs("pod" + UID_ + "-copy");
        Path usual = mkdirs("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + UID_ + ".slice");
        assertThat(pods.findCgroup(UID)).contains(usual);
    }

    @Test
    void searchIsBoundedInDepth() throws IOException {
        String atFour = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
        Path four = mkdirs("a/b/c/pod" + atFour);
        mkdirs("a/b/c/d/pod" + UID); // five levels down

        assertThat(pods.findCgroup(atFour)).contains(four);
        assertThat(pods.findCgroup(UID)).isEmpty();
        assertThat(new CgroupPods(root, proc, 5).findCgroup(UID)).contains(root.resolve("a/b/c/d/pod" + UID));
        assertThatThrownBy(() -> new CgroupPods(root, proc, 0)).hasMessageContaining("maxDepth: 0");
    }

    @Test
    void noMatch() throws IOException {
        assertThat(pods.findCgroup(UID)).isEmpty();
        assertThat(pods.findCgroups(List.of(UID, "ffffffff-0000-0000-0000-000000000000"))).isEmpty();
        // A UID that is not one path segment is never looked up.
        mkdirs("kubepods/pod..");
        assertThat(pods.findCgroup("..")).isEmpty();
        assertThat(pods.findCgroup("a/b")).isEmpty();
        assertThat(new CgroupPods(tmp.resolve("absent"), proc, 4).findCgroup(UID)).isEmpty();
    }

    @Test
    void processInAContainerBelowThePod() throws IOException {
        Path pod = mkdirs("kubepods/besteffort/pod" + UID);
        Path pause = Files.createDirectories(pod.resolve("cri-containerd-aaa.scope"));
        Path app = Files.createDirectories(pod.resolve("cri-containerd-bbb.scope/nested"));
        Files.writeString(pod.resolve("cgroup.procs"), "");
        process(pause, 4200, 4026532500L);
        process(app, 4100, 4026532500L);
        process(app, 4300, 4026532500L);

        assertThat(pods.processes(pod)).containsExactly(4100L, 4200L, 4300L);
        // Lowest PID unless the one used before is still there.
        assertThat(pods.findProcess(pod, -1)).contains(
                new CgroupPods.PodProcess(4100, proc.resolve("4100/ns/net"), 4026532500L));
        assertThat(pods.findProcess(pod, 4300)).get().extracting(CgroupPods.PodProcess::pid).isEqualTo(4300L);
    }

    @Test
    void processesThatExitedAreSkipped() throws IOException {
        Path pod = mkdirs("kubepods.slice/kubepods-pod" + UID_ + ".slice");
        Path container = Files.createDirectories(pod.resolve("cri-containerd-aaa.scope"));
        Files.writeString(container.resolve("cgroup.procs"), "17\n"); // listed, but no /proc/17 any more
        process(container, 23, 4026532600L);

        assertThat(pods.findProcess(pod, 17)).get().extracting(CgroupPods.PodProcess::pid).isEqualTo(23L);
    }

    @Test
    void podWithoutProcesses() throws IOException {
        Path pod = mkdirs("kubepods/pod" + UID);
        Files.createDirectories(pod.resolve("container"));
        Files.writeString(pod.resolve("container/cgroup.procs"), "");

        assertThat(pods.processes(pod)).isEmpty();
        assertThat(pods.findProcess(pod, -1)).isEmpty();
        assertThat(pods.findProcess(root.resolve("gone"), -1)).isEmpty();
    }

    @Test
    void netnsInodeOfTheRealProcess() {
        long inode = CgroupPods.netnsInode(Path.of("/proc/self/ns/net"));
        assertThat(inode).isPositive();
        assertThat(CgroupPods.netnsInode(proc.resolve("999999/ns/net"))).isEqualTo(-1);
    }
}
