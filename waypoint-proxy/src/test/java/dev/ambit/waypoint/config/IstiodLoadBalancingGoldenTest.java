package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Message;
import com.google.protobuf.TypeRegistry;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * What istiod-lite sends for DestinationRule {@code loadBalancer} (its golden case
 * {@code l7/load-balancing}: ring hash, Maglev, slow start, hash policies of every key) is
 * accepted whole by the waypoint, so the YAML users copy from Istio's docs is not NACKed.
 */
class IstiodLoadBalancingGoldenTest {

    static final Path GOLDEN = Path.of("../istiod-lite/src/test/resources/l7/load-balancing/expected/shop.waypoint.json");

    static final Map<String, Supplier<Message.Builder>> TYPES = Map.of(
            "type.googleapis.com/envoy.config.listener.v3.Listener", Listener::newBuilder,
            "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", RouteConfiguration::newBuilder,
            "type.googleapis.com/envoy.config.cluster.v3.Cluster", Cluster::newBuilder,
            "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", ClusterLoadAssignment::newBuilder);

    @Test
    void everyResourceOfTheLoadBalancingGoldenIsAccepted() throws Exception {
        assumeTrue(Files.isRegularFile(GOLDEN), "istiod-lite's golden files are beside this module");
        JsonFormat.Parser parser = JsonFormat.parser().usingTypeRegistry(TypeRegistry.newBuilder()
                .add(FieldTable.anyTypes()).build());
        JsonNode root = new ObjectMapper().readTree(GOLDEN.toFile());
        List<String> problems = new ArrayList<>();
        int resources = 0;
        boolean sawHashPolicy = false;
        for (Iterator<Map.Entry<String, JsonNode>> types = root.fields(); types.hasNext(); ) {
            Map.Entry<String, JsonNode> type = types.next();
            for (Iterator<Map.Entry<String, JsonNode>> it = type.getValue().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> r = it.next();
                Message.Builder b = TYPES.get(type.getKey()).get();
                parser.merge(r.getValue().toString(), b);
                Message m = b.build();
                sawHashPolicy |= m.toString().contains("hash_policy");
                problems.addAll(ResourceValidator.validate(r.getKey(), m));
                resources++;
            }
        }
        assertThat(resources).isGreaterThan(10);
        assertThat(sawHashPolicy).isTrue();
        assertThat(problems).isEmpty();
    }
}
