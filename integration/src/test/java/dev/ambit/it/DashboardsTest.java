package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The dashboards' query reader ({@link Dashboards}) without a mesh: that it finds every metric
 * name of an expression and nothing else, and that the repository's dashboards are the six the
 * issue lists, each with queries. Whether those queries parse and find data is
 * {@link PrometheusAddonTest}'s check on a real Prometheus.
 */
class DashboardsTest {

    @Test
    void metricNamesAreTheSelectorsNotFunctionsLabelsOrKeywords() {
        String expr = Dashboards.expand("""
                histogram_quantile(0.99, sum by (le, destination_workload) (rate(\
                istio_request_duration_milliseconds_bucket{reporter=~"$reporter", app="a:b{c}"}[$__rate_interval])))
                / on (destination_workload) group_left sum without (pod) (up offset 5m) \
                or vector(0) and ambit_agent_enrolled_pods > bool 1e3""");
        assertThat(expr).contains("[1m]").contains("reporter=~\".*\"").doesNotContain("$");
        assertThat(Dashboards.metricNames(expr))
                .containsExactly("ambit_agent_enrolled_pods", "istio_request_duration_milliseconds_bucket", "up");
        assertThat(Dashboards.metricNames("sum(rate(istio_tcp_sent_bytes_total{reporter=\"destination\"}[1m]))"
                + " / time()")).containsExactly("istio_tcp_sent_bytes_total");
    }

    @Test
    void theRepositorysDashboardsAreMeshServiceWorkloadNodeAgentWaypointAndControlPlane() {
        List<Path> files = Dashboards.files(Ambitctl.REPO.resolve("dashboards"));
        assertThat(files.stream().map(p -> p.getFileName().toString())).containsExactly("ambit-control-plane.json",
                "ambit-mesh.json", "ambit-node-agent.json", "ambit-service.json", "ambit-waypoint.json",
                "ambit-workload.json");
        for (Path f : files) {
            List<Dashboards.Query> queries = Dashboards.queries(f);
            assertThat(queries).as("queries of %s", f).hasSizeGreaterThan(5);
            assertThat(queries).allSatisfy(q -> assertThat(Dashboards.metricNames(q.expr())).as("%s", q).isNotEmpty());
        }
    }
}
