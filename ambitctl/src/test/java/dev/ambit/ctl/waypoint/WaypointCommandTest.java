package dev.ambit.ctl.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.Ambitctl;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.KubeObject;
import dev.ambit.ctl.local.Manifests;
import dev.ambit.ctl.local.StateDir;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ambitctl waypoint} on the local cluster (a state folder, no daemons) and the YAML it generates. */
class WaypointCommandTest {

    record Run(int code, String out, String err) {}

    @TempDir
    Path dir;
    private StateDir state;

    @BeforeEach
    void cluster() throws IOException {
        state = new StateDir(dir);
        Files.createDirectories(state.manifests());
        Manifests.writeAtomically(state.clusterJson(), Manifests.toJson(new ClusterInfo(1, dir.toString(), "/r",
                "/sys/fs/cgroup", "2026-01-01T00:00:00Z", null, null, List.of(), null)));
    }

    private Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] all = new String[args.length + 1];
        System.arraycopy(args, 0, all, 0, args.length);
        all[args.length] = "--state-dir=" + dir;
        int code = Ambitctl.execute(new PrintWriter(out), new PrintWriter(err), all);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void generatePrintsIstioctlsGateway() {
        Run r = run("waypoint", "generate", "-n", "shop");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata:
                  labels:
                    istio.io/waypoint-for: service
                  name: waypoint
                  namespace: shop
                spec:
                  gatewayClassName: istio-waypoint
                  listeners:
                  - name: mesh
                    port: 15008
                    protocol: HBONE
                """);
        assertThat(run("waypoint", "generate", "--name", "reviews-wp", "--for", "workload").out())
                .contains("istio.io/waypoint-for: workload", "name: reviews-wp", "namespace: default");
    }

    @Test
    void anUnknownTrafficTypeOrNameIsRefused() {
        Run r = run("waypoint", "generate", "--for", "pods");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("--for: pods (expected: one of [service, workload, all, none])");
        assertThat(run("waypoint", "apply", "--name", "Bad_Name").err()).contains("--name: Bad_Name (expected: a DNS label");
        assertThat(state.manifests()).isEmptyDirectory();
    }

    @Test
    void applyStoresTheGatewayAndEnrollsTheNamespaceInTheLocalCluster() throws IOException {
        Run r = run("waypoint", "apply", "-n", "shop", "--enroll-namespace");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("""
                waypoint shop/waypoint applied
                namespace shop labeled with "istio.io/use-waypoint: waypoint"
                """);
        KubeObject gw = Manifests.readStored(state.manifests().resolve("gateway.shop.waypoint.yaml")).getFirst();
        assertThat(gw.tree().at("/spec/gatewayClassName").asText()).isEqualTo("istio-waypoint");
        KubeObject ns = Manifests.readStored(state.manifests().resolve("namespace.shop.yaml")).getFirst();
        assertThat(ns.labels()).containsEntry("istio.io/use-waypoint", "waypoint");

        // An applied namespace keeps its other labels; the waypoint label is overwritten.
        run("local", "label", "ns", "shop", "istio.io/dataplane-mode=ambient");
        assertThat(run("waypoint", "apply", "-n", "shop", "--name", "other", "--enroll-namespace").code()).isZero();
        ns = Manifests.readStored(state.manifests().resolve("namespace.shop.yaml")).getFirst();
        assertThat(ns.labels()).containsEntry("istio.io/use-waypoint", "other")
                .containsEntry("istio.io/dataplane-mode", "ambient");
    }

    @Test
    void listAndStatusShowTheControllersStatusOnlyForTheObjectItSaw() throws IOException {
        assertThat(run("waypoint", "list", "-n", "shop").out()).isEqualTo("No waypoints found.\n");
        run("waypoint", "apply", "-n", "shop");
        assertThat(run("waypoint", "list", "-n", "shop").out()).isEqualTo("""
                NAME       REVISION   PROGRAMMED
                waypoint   default    Unknown
                """);
        Run notYet = run("waypoint", "status", "-n", "shop");
        assertThat(notYet.code()).isEqualTo(1);
        assertThat(notYet.out()).contains("shop        waypoint   Unknown   Programmed");

        ObjectNode stored = Manifests.readStored(state.manifests().resolve("gateway.shop.waypoint.yaml")).getFirst().tree();
        report(programmed(stored.deepCopy()));
        assertThat(run("waypoint", "list", "-A").out()).isEqualTo("""
                NAMESPACE   NAME       REVISION   PROGRAMMED
                shop        waypoint   default    True
                """);
        Run status = run("waypoint", "status", "-n", "shop", "--name", "waypoint", "--wait", "--timeout", "5s");
        assertThat(status.code()).as(status.err()).isZero();
        assertThat(status.out()).contains("True", "Programmed", "Resource programmed");
        assertThat(run("waypoint", "apply", "-n", "shop", "--wait", "--timeout", "5s").out())
                .contains("waypoint shop/waypoint is programmed");

        // Applied again with another spec: the report is about the old one and does not count.
        run("waypoint", "apply", "-n", "shop", "--for", "all");
        assertThat(run("waypoint", "list", "-n", "shop").out()).contains("Unknown");
        Run timedOut = run("waypoint", "apply", "-n", "shop", "--for", "all", "--wait", "--timeout", "1s");
        assertThat(timedOut.code()).isEqualTo(1);
        assertThat(timedOut.err()).contains("error: waypoint shop/waypoint is not programmed after 1s in local cluster in");
    }

    @Test
    void localGetDeploymentsListsTheWaypointsDeployment() {
        run("waypoint", "apply", "-n", "shop");
        report(programmed(WaypointGateway.of("shop", "waypoint", "service")));
        Run r = run("local", "get", "deploy", "-n", "shop");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("NAME       READY   UP-TO-DATE   AVAILABLE   AGE\nwaypoint   0/1     0            0");
    }

    @Test
    void deleteRemovesOnlyWaypoints() throws IOException {
        run("waypoint", "apply", "-n", "shop");
        run("waypoint", "apply", "-n", "shop", "--name", "second");
        Files.writeString(dir.resolve("ingress.yaml"), Manifests.toYaml(WaypointGateway.of("shop", "ingress", "service")
                .put("kind", "Gateway")).replace("istio-waypoint", "istio"));
        assertThat(run("local", "apply", "-f", dir.resolve("ingress.yaml").toString()).code()).isZero();

        Run one = run("waypoint", "delete", "-n", "shop");
        assertThat(one.out()).isEqualTo("waypoint shop/waypoint deleted\n");
        Run notAWaypoint = run("waypoint", "delete", "-n", "shop", "ingress");
        assertThat(notAWaypoint.code()).isEqualTo(1);
        assertThat(notAWaypoint.err()).contains("error: waypoint shop/ingress not found");
        assertThat(run("waypoint", "delete", "-n", "shop", "--all").out()).isEqualTo("waypoint shop/second deleted\n");
        assertThat(state.manifests().resolve("gateway.shop.ingress.yaml")).exists();
        assertThat(state.manifests().resolve("gateway.shop.second.yaml")).doesNotExist();
    }

    @Test
    void aProgrammedConditionOfAnOlderGenerationIsStale() {
        ObjectNode gw = programmed(WaypointGateway.of("shop", "waypoint", "service"));
        assertThat(WaypointGateway.programmed(gw)).as("no generations: local objects").isTrue();
        gw.with("metadata").put("generation", 3);
        ((ObjectNode) WaypointGateway.condition(gw, "Programmed")).put("observedGeneration", 2);
        assertThat(WaypointGateway.programmed(gw)).isFalse();
        ((ObjectNode) WaypointGateway.condition(gw, "Programmed")).put("observedGeneration", 3);
        assertThat(WaypointGateway.programmed(gw)).isTrue();
    }

    private static ObjectNode programmed(ObjectNode gw) {
        ObjectNode status = gw.putObject("status");
        status.putArray("addresses").addObject().put("type", "IPAddress").put("value", "10.96.0.30");
        status.putArray("conditions").addObject().put("type", "Programmed").put("status", "True")
                .put("reason", "Programmed").put("message", "Resource programmed, assigned to service(s) x");
        return gw;
    }

    /** What the controller would have written. */
    private void report(ObjectNode gateway) {
        Manifests.writeAtomically(state.statusJson(), Manifests.toJson(new ClusterStatus("2026-01-01T00:00:00Z", 1,
                List.of(), List.of(), List.of(), List.of(gateway))));
    }
}
