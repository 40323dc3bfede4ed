package dev.ambit.perf.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.TestNetwork.Node;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The load client's name resolution: a hosts file of the scenario's own, mounted for the load alone. */
class ResolvingTest {

    @TempDir
    Path dir;

    private record Fake(String name, String hosts) implements Scenario {
        @Override public Node client() { return null; }
        @Override public String httpUrl() { return "https://app.example.com/"; }
        @Override public String iperfHost() { return ""; }
        @Override public int iperfPort() { return 0; }
        @Override public List<Proc> proxies() { return List.of(); }
        @Override public void start() { }
        @Override public void close() { }
    }

    @Test
    void aScenarioWithoutNamesRunsTheCommandAsIs() {
        BenchEnv env = new BenchEnv(null, dir, null, null, 1, List.of(), List.of());
        assertThat(Runner.resolving(env, new Fake("plain", ""), List.of("wrk", "-c1", "http://10.0.0.1/")))
                .containsExactly("wrk", "-c1", "http://10.0.0.1/");
    }

    @Test
    void namesAreBindMountedOverEtcHostsInAMountNamespaceOfTheLoadsOwn() throws Exception {
        BenchEnv env = new BenchEnv(null, dir, null, null, 1, List.of(), List.of());
        String[] cmd = Runner.resolving(env, new Fake("nginx-ingress", "10.244.77.9 app.example.com\n"),
                List.of("curl", "https://app.example.com/"));
        Path hosts = dir.resolve("hosts-nginx-ingress");
        assertThat(cmd).startsWith("unshare", "--mount", "--propagation", "private", "--", "sh", "-c")
                .endsWith(hosts.toString(), "curl", "https://app.example.com/");
        assertThat(cmd[7]).isEqualTo("mount --bind \"$0\" /etc/hosts && exec \"$@\"");
        assertThat(Files.readString(hosts)).isEqualTo("127.0.0.1 localhost\n10.244.77.9 app.example.com\n");
    }
}
