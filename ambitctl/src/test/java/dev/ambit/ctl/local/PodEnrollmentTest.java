package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.agent.inpod.CniServer;
import dev.ambit.agent.inpod.PodSandbox;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The controller's gate on meshed pods ({@link PodEnrollment}) and its client of the agent's
 * enrollment socket ({@link CniClient}) against the agent's real server ({@link CniServer}).
 */
class PodEnrollmentTest {

    private static final CniClient.Pod POD = new CniClient.Pod("u-1", "shop", "web", Path.of("/run/netns/ambit-l-u1"),
            Path.of("/sys/fs/cgroup/ambit-local/pods/u-1"), List.of("10.244.2.5"));

    @TempDir
    Path dir;

    /** A fake agent: refuses while {@code up} is false; records calls. */
    private static final class FakeAgent implements PodEnrollment.Agent {
        boolean up;
        final List<String> calls = new ArrayList<>();

        @Override
        public void add(Path socket, CniClient.Pod pod) throws IOException {
            calls.add("add " + socket + " " + pod.uid());
            if (!up) {
                throw new IOException("cannot connect to " + socket + ": Connection refused (is the agent running?)");
            }
        }

        @Override
        public void del(Path socket, String uid) {
            calls.add("del " + socket + " " + uid);
        }
    }

    @Test
    void meshedFollowsIstiosLabels() {
        Map<String, String> ambient = Map.of(PodEnrollment.DATAPLANE_MODE, "ambient");
        Map<String, String> none = Map.of(PodEnrollment.DATAPLANE_MODE, "none");
        assertThat(PodEnrollment.meshed(Map.of(), ambient)).as("namespace label").isTrue();
        assertThat(PodEnrollment.meshed(none, ambient)).as("pod opts out").isFalse();
        assertThat(PodEnrollment.meshed(ambient, Map.of())).as("pod label alone").isTrue();
        assertThat(PodEnrollment.meshed(Map.of("app", "web"), Map.of())).as("neither").isFalse();
        assertThat(PodEnrollment.meshed(Map.of(), Map.of(PodEnrollment.DATAPLANE_MODE, "sidecar"))).isFalse();
    }

    @Test
    void podWaitsWhileItsAgentIsDownAndStartsOnceCaptured() {
        FakeAgent agent = new FakeAgent();
        Instant[] now = {Instant.parse("2026-01-01T00:00:00Z")};
        List<String> log = new ArrayList<>();
        PodEnrollment e = new PodEnrollment(node -> Path.of("/state/nodes/" + node + "/cni.sock"), agent,
                () -> now[0], log::add);

        assertThat(e.admit("node2", POD)).isFalse();
        assertThat(e.waiting("u-1")).isEqualTo("waiting for node2's node agent to capture the pod: cannot connect to"
                + " /state/nodes/node2/cni.sock: Connection refused (is the agent running?)");
        // Not asked again before the backoff.
        assertThat(e.admit("node2", POD)).isFalse();
        assertThat(agent.calls).hasSize(1);
        now[0] = now[0].plusMillis(PodEnrollment.RETRY_MIN_MILLIS);
        assertThat(e.admit("node2", POD)).isFalse();
        assertThat(agent.calls).hasSize(2);
        // Backoff doubles, capped.
        now[0] = now[0].plusMillis(PodEnrollment.RETRY_MIN_MILLIS);
        assertThat(e.admit("node2", POD)).isFalse();
        assertThat(agent.calls).hasSize(2);

        agent.up = true;
        now[0] = now[0].plusMillis(PodEnrollment.RETRY_MAX_MILLIS);
        assertThat(e.admit("node2", POD)).isTrue();
        assertThat(e.waiting("u-1")).isNull();
        assertThat(agent.calls).containsExactly("add /state/nodes/node2/cni.sock u-1",
                "add /state/nodes/node2/cni.sock u-1", "add /state/nodes/node2/cni.sock u-1");
        // Admitted for good: no more calls (restarts of its containers do not ask again).
        assertThat(e.admit("node2", POD)).isTrue();
        assertThat(agent.calls).hasSize(3);
        assertThat(log).anyMatch(l -> l.contains("captured by node2's agent (attempt 3)"));

        e.forget("node2", "u-1");
        assertThat(agent.calls).last().isEqualTo("del /state/nodes/node2/cni.sock u-1");
        e.forget("node2", "u-1"); // unknown now: nothing to tell
        assertThat(agent.calls).hasSize(4);
    }

    @Test
    void clientTalksToTheAgentsServer() throws Exception {
        Path socket = dir.resolve("cni.sock");
        List<String> seen = new ArrayList<>();
        boolean[] refuse = {false};
        CniServer server = CniServer.start(socket, new CniServer.Pods() {
            @Override
            public CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses) {
                seen.add(sandbox.key() + " " + sandbox.uid() + " " + sandbox.netns() + " " + sandbox.cgroup() + " "
                        + addresses);
                return refuse[0] ? CompletableFuture.failedFuture(new IllegalStateException("sandbox vanished"))
                        : CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> remove(String uid) {
                seen.add("del " + uid);
                return CompletableFuture.completedFuture(null);
            }
        });
        CniClient client = new CniClient(Duration.ofSeconds(5));
        try {
            client.add(socket, POD);
            assertThat(seen).containsExactly("shop/web u-1 /run/netns/ambit-l-u1 /sys/fs/cgroup/ambit-local/pods/u-1"
                    + " [/10.244.2.5]");
            refuse[0] = true;
            assertThatThrownBy(() -> client.add(socket, POD)).isInstanceOf(IOException.class)
                    .hasMessage("the agent answered 503: pod shop/web: not captured: sandbox vanished");
            client.del(socket, "u-1");
            assertThat(seen).last().isEqualTo("del u-1");
        } finally {
            server.close();
        }
        // The agent gone: refused at once, naming the socket.
        assertThatThrownBy(() -> client.add(socket, POD)).isInstanceOf(IOException.class)
                .hasMessageStartingWith("cannot connect to " + socket).hasMessageEndingWith("(is the agent running?)");
    }

    @Test
    void notHttpIsAnError() {
        assertThatThrownBy(() -> CniClient.parse("SSH-2.0-OpenSSH")).isInstanceOf(IOException.class)
                .hasMessage("not an HTTP answer: SSH-2.0-OpenSSH");
    }
}
