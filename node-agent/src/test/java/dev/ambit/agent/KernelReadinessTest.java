package dev.ambit.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent started on a node whose kernel lacks a feature (here: no bpffs under its pin root, a
 * real file system check) stays up but unready, names the feature and its fix in its readiness
 * answer, and enrols nothing.
 */
class KernelReadinessTest {

    @TempDir
    Path tmp;

    @Test
    void anAgentWhoseKernelLacksAFeatureStaysUnreadyNamingItAndEnrolsNothing() throws Exception {
        Path cniSocket = tmp.resolve("cni.sock");
        // A temporary folder is not a bpffs: the check the DaemonSet's init container would fix.
        NodeAgentConfig config = NodeAgentConfig.parse("node-k", "--pods-dir", tmp.resolve("pods").toString(),
                "--bpffs-root", tmp.resolve("pins").toString(), "--cni-socket", cniSocket.toString(),
                "--root-cert", tmp.resolve("absent-root.pem").toString(), "--token", tmp.resolve("absent").toString(),
                "--stats-port", "0", "--readiness-port", "0", "--admin-address", "127.0.0.1:0");
        try (NodeAgent agent = NodeAgent.start(config)) {
            HttpResponse<String> r;
            try (HttpClient http = HttpClient.newHttpClient()) {
                r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                        + agent.readinessAddress().getPort() + "/healthz/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
            }
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.body()).startsWith("not ready:\nkernel: ")
                    .contains("bpffs: " + tmp).contains("mount -t bpf");
            // No capture loaded, no pod manager, no enrollment socket: the CNI plugin fails
            // sandboxes (the kubelet retries) and ambitctl local does not start pods here.
            assertThat(agent.redirector()).isNull();
            assertThat(agent.pods()).isNull();
            assertThat(Files.exists(cniSocket)).isFalse();
        }
    }
}
