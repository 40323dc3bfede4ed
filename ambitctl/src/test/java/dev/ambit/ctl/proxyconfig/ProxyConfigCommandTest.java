package dev.ambit.ctl.proxyconfig;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.ctl.Ambitctl;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.LocalException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProxyConfigCommandTest {

    @TempDir Path dir;

    @Test
    void printsTablesAndJsonFromASavedDump() throws Exception {
        Path file = dir.resolve("dump.json");
        Files.writeString(file, ProxyConfigPrinterTest.resource(ProxyConfigPrinterTest.DUMP));

        Run routes = run("proxy-config", "routes", "--file", file.toString());
        assertThat(routes.code).isZero();
        assertThat(routes.out).isEqualTo(ProxyConfigPrinterTest.resource("/proxyconfig/routes.txt"));

        Run clusters = run("pc", "clusters", "-f", file.toString(), "-o", "json");
        assertThat(clusters.code).isZero();
        assertThat(clusters.out).contains("\"@type\": \"type.googleapis.com/envoy.admin.v3.ClustersConfigDump\"");

        Run all = run("proxy-config", "all", "--file", file.toString());
        assertThat(all.out).contains("\"configs\"", "\"waypoint\"", "\"certificates\"");

        Run bad = run("proxy-config", "routes", "--file", file.toString(), "-o", "yaml");
        assertThat(bad.code).isEqualTo(1);
        assertThat(bad.err).contains("error: -o yaml (expected: table or json)");
        Run noTarget = run("proxy-config", "routes");
        assertThat(noTarget.code).isEqualTo(1);
        assertThat(noTarget.err).contains("missing WAYPOINT");
    }

    @Test
    void aWaypointIsAPodOrAGatewaysPod() {
        ClusterStatus status = new ClusterStatus("now", 1, List.of(
                pod("shop", "waypoint-5b8c-aaaaa", "Pending", Map.of(ProxyConfigCommand.GATEWAY_LABEL, "waypoint")),
                pod("shop", "waypoint-5b8c-bbbbb", "Running", Map.of(ProxyConfigCommand.GATEWAY_LABEL, "waypoint")),
                pod("default", "reviews-v1", "Running", Map.of("app", "reviews"))), List.of(), List.of(), List.of());

        assertThat(ProxyConfigCommand.resolve(status, null, "shop/waypoint").name()).isEqualTo("waypoint-5b8c-bbbbb");
        assertThat(ProxyConfigCommand.resolve(status, "shop", "waypoint").name()).isEqualTo("waypoint-5b8c-bbbbb");
        assertThat(ProxyConfigCommand.resolve(status, "shop", "waypoint-5b8c-aaaaa").name())
                .isEqualTo("waypoint-5b8c-aaaaa");
        assertThat(ProxyConfigCommand.resolve(status, null, "reviews-v1").namespace()).isEqualTo("default");
        assertThatThrownBy(() -> ProxyConfigCommand.resolve(status, null, "waypoint"))
                .isInstanceOf(LocalException.class)
                .hasMessageContaining("no waypoint pod default/waypoint and no pod of the waypoint Gateway default/waypoint");
    }

    private static ClusterStatus.Pod pod(String ns, String name, String phase, Map<String, String> labels) {
        return new ClusterStatus.Pod(ns, name, "uid-" + name, "node1", "10.244.1.2", phase, "", 0, "now",
                "ambit-l-pod-" + name, "/sys/fs/cgroup/x", "", labels, List.of(), null);
    }

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }
}
