package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.waypoint.upstream.ClusterInfo;
import dev.ambit.waypoint.upstream.Resilience;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What istiod-lite translates from Istio's connectionPool and outlierDetection (its golden
 * case {@code l7/resilience}) is accepted by the waypoint, field for field, and read as meant.
 */
class IstioResilienceClustersTest {

    static final Path GOLDEN = Path.of("../istiod-lite/src/test/resources/l7/resilience/expected/shop.waypoint.json");

    @Test
    void istiodsCircuitBreakersAndOutlierDetectionAreAcceptedAndRead() throws Exception {
        JsonObject all = JsonParser.parseString(Files.readString(GOLDEN)).getAsJsonObject()
                .getAsJsonObject("type.googleapis.com/envoy.config.cluster.v3.Cluster");
        Map<String, Cluster> clusters = new HashMap<>();
        for (String name : all.keySet()) {
            Cluster.Builder b = Cluster.newBuilder();
            JsonFormat.parser().usingTypeRegistry(EnvoyConfigDump.TYPES).merge(all.get(name).toString(), b);
            Cluster c = b.build();
            assertThat(ResourceValidator.validate(name, c)).as("NACKs of %s", name).isEmpty();
            clusters.put(name, c);
        }
        Resilience main = ClusterInfo.of(clusters.get("outbound|9080||reviews.shop.svc.cluster.local")).resilience();
        assertThat(main.thresholds()).isEqualTo(new Resilience.Thresholds(1, 1, 4_294_967_295L, 2, true));
        assertThat(main.maxRequestsPerConnection()).isEqualTo(10);
        assertThat(main.idleTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(main.keepalive()).isEqualTo(new Resilience.Keepalive(3, 600, 75));
        assertThat(main.outlier().consecutive5xx()).isEqualTo(3);
        assertThat(main.outlier().consecutiveGatewayFailure()).isEqualTo(2);
        assertThat(main.outlier().enforcingGatewayFailure()).isEqualTo(100);
        assertThat(main.outlier().interval()).isEqualTo(Duration.ofMillis(100));
        assertThat(main.outlier().baseEjectionTime()).isEqualTo(Duration.ofSeconds(1));
        assertThat(main.outlier().maxEjectionPercent()).isEqualTo(50);
        assertThat(ClusterInfo.of(clusters.get("outbound|9080||reviews.shop.svc.cluster.local")).panicThreshold())
                .as("Istio's minHealthPercent 0 with outlier detection").isZero();
        assertThat(ClusterInfo.of(clusters.get("outbound|9080||reviews.shop.svc.cluster.local")).connectTimeout())
                .isEqualTo(Duration.ofMillis(250));

        ClusterInfo v2 = ClusterInfo.of(clusters.get("outbound|9080|v2|reviews.shop.svc.cluster.local"));
        assertThat(v2.resilience().thresholds().maxRequests()).isEqualTo(100);
        assertThat(v2.resilience().outlier().splitExternalLocalOriginErrors()).isTrue();
        assertThat(v2.resilience().outlier().consecutiveLocalOriginFailure()).isEqualTo(2);
        assertThat(v2.resilience().outlier().enforcing5xx()).as("consecutive5xxErrors 0 turns it off").isZero();
        assertThat(v2.panicThreshold()).isEqualTo(30.0);
    }
}
