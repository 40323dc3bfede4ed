package dev.ambit.common.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class MetricsRegistryTest {

    @Test
    void prometheusTextFormat() {
        MetricsRegistry registry = MetricsRegistry.create();
        registry.counter("pushes_total", "Pushes.", "type").labels("a\"b").inc(2);
        registry.gauge("clients", "Connected clients.").labels().set(3);
        Histogram.Family h = registry.histogram("latency_seconds", "Latency.", new double[] {0.1, 1}, "type");
        h.labels("x").observe(0.05);
        h.labels("x").observe(0.5);
        h.labels("x").observe(5);

        assertThat(registry.scrape()).isEqualTo("""
                # HELP clients Connected clients.
                # TYPE clients gauge
                clients 3
                # HELP latency_seconds Latency.
                # TYPE latency_seconds histogram
                latency_seconds_bucket{type="x",le="0.1"} 1
                latency_seconds_bucket{type="x",le="1"} 2
                latency_seconds_bucket{type="x",le="+Inf"} 3
                latency_seconds_sum{type="x"} 5.55
                latency_seconds_count{type="x"} 3
                # HELP pushes_total Pushes.
                # TYPE pushes_total counter
                pushes_total{type="a\\"b"} 2
                """);
        assertThat(registry.value("pushes_total", "a\"b")).isEqualTo(2);
        assertThat(registry.value("latency_seconds", "x")).isEqualTo(3);
    }

    @Test
    void sameNameSameShapeIsShared() {
        MetricsRegistry registry = MetricsRegistry.create();
        registry.counter("c_total", "C.", "a").labels("1").inc();
        registry.counter("c_total", "C.", "a").labels("1").inc();
        assertThat(registry.value("c_total", "1")).isEqualTo(2);
        assertThatThrownBy(() -> registry.gauge("c_total", "C.", "a"))
                .hasMessageContaining("c_total is already registered as counter");
        assertThatThrownBy(() -> registry.counter("c_total", "C.", "a").labels("1", "2"))
                .hasMessageContaining("expected: 1");
        assertThatThrownBy(() -> registry.counter("c_total", "C.", "a").labels("1").inc(-1))
                .hasMessageContaining("counters only go up");
    }

    @Test
    void extraLabelsFollowTheFamilysOwnAndKeepTheirChildApart() {
        MetricsRegistry r = MetricsRegistry.create();
        Counter.Family c = r.counter("istio_requests_total", "Requests.", "reporter", "response_code");
        c.labels(new String[] {"waypoint", "200"}, new String[] {"custom_label"}, new String[] {"blue"}).inc();
        c.labels("waypoint", "200").inc(2);
        Histogram.Family h = r.histogram("istio_request_bytes", "Sizes.", new double[] {10}, "reporter");
        h.labels(new String[] {"waypoint"}, new String[] {"custom_label"}, new String[] {"a\"b"}).observe(5);
        String text = r.scrape();
        org.assertj.core.api.Assertions.assertThat(text)
                .contains("istio_requests_total{reporter=\"waypoint\",response_code=\"200\",custom_label=\"blue\"} 1\n")
                .contains("istio_requests_total{reporter=\"waypoint\",response_code=\"200\"} 2\n")
                .contains("istio_request_bytes_bucket{reporter=\"waypoint\",custom_label=\"a\\\"b\",le=\"10\"} 1\n");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.labels(new String[] {"waypoint", "200"},
                new String[] {"reporter"}, new String[] {"x"})).hasMessageContaining("extra label name: reporter");
    }
}
