package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * (7) Whatever state a cluster is in, {@code local down} leaves nothing: here one that was
 * deliberately broken (daemons SIGKILLed mid-flight so nothing was drained or unenrolled, a
 * stray process left in a pod, and its cluster.json corrupted so down cannot learn pids or
 * paths from it) is removed by one {@code local down}: namespaces, /etc/netns, cgroups,
 * pins, the very BPF programs and maps (by id), processes, host interfaces, state.
 *
 * <p>The cluster is built under another state folder, as a user's own would be: while it
 * is up the suite's guard ({@link LocalMesh#requireMachine}) must refuse to run rather than
 * touch it. The class manages its own cluster (no {@link LocalMesh} extension) and takes it
 * down in a finally.
 */
// First of all: it needs the machine without the shared cluster, so it runs before one is up
// (after one, it costs that cluster's down and the next class's up: ~25 s).
@Order(0)
class CleanupTest {

    private static final Path FOREIGN = Path.of("/run/ambit/it-foreign");
    private static final String NS = "it-broken";

    @BeforeAll
    static void machineToOurselves() {
        LocalMesh.release(); // the shared cluster of earlier classes, if still up
        LocalMesh.requireMachine();
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void downAfterADeliberatelyBrokenClusterLeavesNothing() throws IOException {
        List<String> linksBefore = hostLinks();
        boolean removed = false;
        try {
            Ambitctl.Result up = foreign(Duration.ofMinutes(3), "up", "--nodes", "2");
            assertThat(up.ok()).as("local up: %s", up).isTrue();

            // Someone's cluster is up: the suite refuses (in CI it would take it over instead).
            if (!LocalMesh.ci() && !Boolean.getBoolean("ambit.it.takeOver")) {
                assertThatThrownBy(LocalMesh::requireMachine).isInstanceOf(AssertionError.class)
                        .hasMessageContaining("a local cluster already exists on this machine")
                        .hasMessageContaining("-Dambit.it.takeOver=true");
                assertThat(Leftovers.namespaces()).as("refusing touched nothing").contains("ambit-l-node1");
            }

            // Something to break: meshed pods on both nodes with traffic between them.
            Path yaml = Files.createTempFile("ambit-it", ".yaml");
            Files.writeString(yaml, Yaml.namespace(NS, true) + Yaml.serverDeployment(NS, "web", 2, "default")
                    + Yaml.service(NS, "web", "web") + Yaml.clientPod(NS, "client", "default", "node1", Map.of()));
            assertThat(foreign(Ambitctl.DEFAULT_TIMEOUT, "apply", "-f", yaml.toString()).ok()).isTrue();
            Files.delete(yaml);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            Ambitctl.Result call;
            do {
                call = foreign(Duration.ofSeconds(30), "exec", "-n", NS, "client", "--timeout", "10s", "--",
                        "curl", "-sS", "-m", "3", "http://web:8080/");
                LocalMesh.sleep(call.ok() ? 0 : 500);
            } while (!call.ok() && System.nanoTime() < deadline);
            assertThat(call.out()).as("%s", call).startsWith("hello from web-");

            // What must be gone afterwards: the BPF objects by id, the daemons and pods by pid.
            List<String> bpfIds = pinnedBpfIds();
            assertThat(bpfIds).as("pinned programs and maps").hasSizeGreaterThan(10);
            List<Long> pids = new ArrayList<>();
            for (String line : foreign(Ambitctl.DEFAULT_TIMEOUT, "status").out().split("\n")) {
                for (String f : line.trim().split("\\s+")) {
                    if (f.matches("\\d{2,}")) {
                        pids.add(Long.parseLong(f));
                    }
                }
            }
            assertThat(pids).as("istiod, two agents, controller").hasSize(4);
            assertThat(hostLinks()).as("local up's veth into the node network").contains("ambit-l-host");

            // Break it: crash the control plane, the controller and one agent (no drain, no
            // unenrollment: node1's pods stay enrolled, pins and maps full), leave a process in a
            // pod that nothing tracks, and corrupt cluster.json as a crash mid-write would.
            assertThat(foreign(Ambitctl.DEFAULT_TIMEOUT, "kill", "controller", "istiod", "node1").ok()).isTrue();
            Ambitctl.Result stray = foreign(Duration.ofSeconds(30), "exec", "-n", NS, "client", "--timeout", "10s",
                    "--", "sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!");
            long strayPid = Long.parseLong(stray.out().strip().lines().reduce((a, b) -> b).orElseThrow());
            pids.add(strayPid);
            Files.writeString(FOREIGN.resolve("cluster.json"), "{\"version\":1,\"nodes\":[{\"name\":\"node1\",");

            // One down, and nothing is left.
            Ambitctl.Result down = foreign(Duration.ofMinutes(2), "down");
            assertThat(down.ok()).as("one local down after the breakage: %s", down).isTrue();
            removed = true;
            assertThat(Leftovers.find(FOREIGN)).as("leftovers after local down").isEmpty();
            for (long pid : pids) {
                assertThat(ProcessHandle.of(pid).filter(ProcessHandle::isAlive)).as("process %s", pid).isEmpty();
            }
            for (String id : bpfIds) {
                String[] kind = id.split(" ");
                Ambitctl.Result show = Ambitctl.host(Duration.ofSeconds(10), "bpftool", kind[0], "show", "id", kind[1]);
                assertThat(show.ok()).as("BPF %s still loaded: %s", id, show.out()).isFalse();
            }
            assertThat(hostLinks()).as("interfaces of the machine's own namespace").isEqualTo(linksBefore)
                    .doesNotContain("ambit-l-host");
            assertThat(Ambitctl.host(Duration.ofSeconds(10), "ip", "-4", "route", "show").out())
                    .as("the route to the node network").doesNotContain("10.250.0.0/24");
        } finally {
            if (!removed || !Leftovers.find(FOREIGN).isEmpty()) {
                foreign(Duration.ofMinutes(2), "down");
            }
        }
    }

    /** {@code ambitctl local SUB --state-dir=/run/ambit/it-foreign ARGS...}. */
    private static Ambitctl.Result foreign(Duration timeout, String sub, String... args) {
        List<String> cmd = new ArrayList<>(List.of("local", sub, "--state-dir=" + FOREIGN));
        cmd.addAll(List.of(args));
        Ambitctl.Result r = Ambitctl.raw(timeout, cmd);
        Ambitctl.trace(r);
        return r;
    }

    /** "prog ID" / "map ID" of everything pinned under /sys/fs/bpf/ambit-local. */
    private static List<String> pinnedBpfIds() throws IOException {
        List<String> ids = new ArrayList<>();
        List<Path> pins;
        try (Stream<Path> s = Files.walk(Leftovers.BPFFS)) {
            pins = s.filter(Files::isRegularFile).toList();
        }
        for (Path pin : pins) {
            for (String kind : List.of("prog", "map")) {
                Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(10), "bpftool", "-j", kind, "show", "pinned",
                        pin.toString());
                if (r.ok()) {
                    JsonNode j = LocalMesh.JSON.readTree(r.out());
                    if (j.has("id")) {
                        ids.add(kind + " " + j.path("id").asText());
                        break;
                    }
                }
            }
        }
        return ids.stream().distinct().toList();
    }

    /** Interface names in the machine's own network namespace. */
    private static List<String> hostLinks() {
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(10), "ip", "-o", "link", "show");
        return r.out().lines().map(l -> l.split(":\\s+")[1].replaceAll("@.*", "")).sorted().toList();
    }
}
