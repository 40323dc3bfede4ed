package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.ctl.Ambitctl;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gateway API GRPCRoutes in {@code ambitctl local}: {@code apply} checks them with
 * istiod-lite's decoder and stores them (no "not read" warning: istiod-lite reads them),
 * {@code get grpcroutes} lists them as kubectl does, an invalid one is refused naming file,
 * object and field while the stored version stays.
 */
class GrpcRouteLocalTest {

    private static final String ROUTE = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GRPCRoute
            metadata: {name: ratings, namespace: shop}
            spec:
              hostnames: [ratings.example.com]
              parentRefs: [{kind: Service, name: ratings, port: 7070}]
              rules:
              - matches: [{method: {service: helloworld.Greeter, method: SayHello}}]
                backendRefs:
                - {name: ratings-v1, port: 7070, weight: 90}
                - {name: ratings-v2, port: 7070, weight: 10}
            """;

    @TempDir
    Path dir;

    @BeforeEach
    void cluster() throws IOException {
        StateDir state = new StateDir(dir);
        Files.createDirectories(state.manifests());
        new ClusterInfo(1, dir.toString(), "/r", "/sys/fs/cgroup", "2026-01-01T00:00:00Z", null, null, List.of(), null)
                .write(state);
    }

    @Test
    void aGrpcRouteIsStoredAndListed() throws IOException {
        Run r = run("apply", "-f", file("route.yaml", ROUTE));
        assertThat(r.code).as("stderr: %s", r.err).isZero();
        assertThat(r.out).isEqualTo("grpcroute.gateway.networking.k8s.io/ratings created\n");
        assertThat(r.err).as("istiod-lite reads GRPCRoutes: no 'has no effect' warning").isEmpty();

        Run table = run("get", "grpcroute", "-n", "shop");
        assertThat(table.code).as("stderr: %s", table.err).isZero();
        assertThat(table.out).startsWith("NAME      HOSTNAMES                 AGE\n")
                .contains("ratings   [\"ratings.example.com\"]");
        assertThat(run("get", "grpcroutes", "-A", "-o", "name").out)
                .isEqualTo("grpcroute.gateway.networking.k8s.io/ratings\n");
        assertThat(run("get", "grpcroutes", "-n", "shop", "-o", "yaml").out).contains("kind: GRPCRoute")
                .contains("service: helloworld.Greeter");
        Run none = run("get", "grpcroutes");
        assertThat(none.out).isEmpty();
        assertThat(none.err).contains("No resources found in default namespace.");
        assertThat(run("get", "httproutes", "-n", "shop").err).contains("No resources found in shop namespace.");
    }

    @Test
    void anInvalidGrpcRouteIsRefusedNamingFileObjectAndFieldAndTheStoredOneStays() throws IOException {
        assertThat(run("apply", "-f", file("route.yaml", ROUTE)).code).isZero();
        String bad = file("bad.yaml", ROUTE.replace("{service: helloworld.Greeter, method: SayHello}",
                "{type: RegularExpression, method: \"Say(?=Hello)\"}"));
        Run r = run("apply", "-f", bad);
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("error: " + bad + ": document 1: GRPCRoute shop/ratings: "
                + "spec.rules[0].matches[0].method.method: invalid RE2 regex \"Say(?=Hello)\"")
                .contains("nothing applied");
        assertThat(run("get", "grpcroute", "ratings", "-n", "shop", "-o", "yaml").out)
                .as("the stored version stays").contains("method: SayHello");
    }

    private record Run(int code, String out, String err) {}

    private Run run(String sub, String... args) {
        List<String> argv = new ArrayList<>(List.of("local", sub));
        argv.addAll(List.of(args));
        argv.add("--state-dir=" + dir);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out), new PrintWriter(err), argv.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    private String file(String name, String content) throws IOException {
        Path f = dir.resolve("in").resolve(name);
        Files.createDirectories(f.getParent());
        Files.writeString(f, content, StandardCharsets.UTF_8);
        return f.toString();
    }
}
