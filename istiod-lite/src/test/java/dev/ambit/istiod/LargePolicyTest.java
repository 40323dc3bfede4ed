package dev.ambit.istiod;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.common.config.Limits;
import dev.ambit.istiod.xds.XdsTestClient;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A policy close to the object size limit passes every stage: folder, decoder, model, delta xDS. */
class LargePolicyTest {

    @TempDir
    Path tmp;

    @Test
    void denyPolicyOfTensOfThousandsOfPrincipalsIsServedOverDeltaXds() throws Exception {
        Path config = Files.createDirectories(tmp.resolve("config"));
        StringBuilder yaml = new StringBuilder("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: blocklist, namespace: shop}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals:
                """);
        int count = 0;
        while (yaml.length() < 1_400 * 1024) {
            yaml.append("        - cluster.local/ns/tenant-").append(count % 997).append("/sa/client-")
                    .append(count).append('\n');
            count++;
        }
        assertThat(yaml.length()).isLessThan(Limits.MAX_OBJECT_BYTES);
        Files.writeString(config.resolve("blocklist.yaml"), yaml);

        try (IstiodLite istiod = IstiodLite.start(IstiodConfig.parse(
                "--config-dir", config.toString(), "--listen-address", "127.0.0.1",
                "--xds-port", "0", "--secure-port", "0", "--monitoring-port", "0",
                "--ca-dir", tmp.resolve("ca").toString()))) {
            assertThat(istiod.rejected()).isEmpty();
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", istiod.xdsPort()).usePlaintext()
                    .maxInboundMessageSize(Limits.MAX_GRPC_MESSAGE_BYTES).build();
            try (XdsTestClient client = XdsTestClient.connect(channel, "large-policy")) {
                client.subscribeAll(TypeUrls.AUTHORIZATION);
                DeltaDiscoveryResponse r = client.next();
                var resource = r.getResourcesList().stream().filter(x -> x.getName().equals("shop/blocklist"))
                        .findFirst().orElseThrow();
                Authorization policy = resource.getResource().unpack(Authorization.class);
                assertThat(policy.getAction()).isEqualTo(Action.DENY);
                assertThat(policy.getRules(0).getClauses(0).getMatches(0).getPrincipalsCount()).isEqualTo(count);
                assertThat(count).isGreaterThan(25_000);
                assertThat(r.getSerializedSize()).isGreaterThan(1_000_000);
                client.ack(r);
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }
}
