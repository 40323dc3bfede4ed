package dev.ambit.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import dev.ambit.api.ca.IstioCertificateServiceGrpc;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Workload;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The names and field numbers a real ztunnel or istiod puts on the wire. A change to a
 * .proto that breaks interop fails here.
 */
class WireCompatibilityTest {

    @Test
    void typeUrlsAreIstios() {
        assertThat(Any.pack(Address.getDefaultInstance()).getTypeUrl())
                .isEqualTo("type.googleapis.com/istio.workload.Address");
        assertThat(Any.pack(Authorization.getDefaultInstance()).getTypeUrl())
                .isEqualTo("type.googleapis.com/istio.security.Authorization");
        assertThat(IstioCertificateServiceGrpc.getCreateCertificateMethod().getFullMethodName())
                .isEqualTo("istio.v1.auth.IstioCertificateService/CreateCertificate");
    }

    @Test
    void typeUrlConstantsAreWhatAnyPackWrites() {
        assertThat(TypeUrls.ADDRESS).isEqualTo(Any.pack(Address.getDefaultInstance()).getTypeUrl());
        assertThat(TypeUrls.WORKLOAD).isEqualTo(Any.pack(Workload.getDefaultInstance()).getTypeUrl());
        assertThat(TypeUrls.AUTHORIZATION).isEqualTo(Any.pack(Authorization.getDefaultInstance()).getTypeUrl());
        assertThat(TypeUrls.LISTENER).isEqualTo(TypeUrls.of(Listener.getDescriptor()));
        assertThat(TypeUrls.ROUTE_CONFIGURATION).isEqualTo(TypeUrls.of(RouteConfiguration.getDescriptor()));
        assertThat(TypeUrls.CLUSTER).isEqualTo(TypeUrls.of(Cluster.getDescriptor()));
        assertThat(TypeUrls.CLUSTER_LOAD_ASSIGNMENT).isEqualTo(TypeUrls.of(ClusterLoadAssignment.getDescriptor()));
        assertThat(TypeUrls.SECRET).isEqualTo(TypeUrls.of(Secret.getDescriptor()));
        assertThat(TypeUrls.STATS_CONFIG).isEqualTo(Any.pack(dev.ambit.api.telemetry.StatsConfig.getDefaultInstance())
                .getTypeUrl());
        assertThat(TypeUrls.messageName(TypeUrls.ADDRESS)).isEqualTo("istio.workload.Address");
    }

    @Test
    void workloadFieldNumbers() throws IOException {
        Workload w = Workload.newBuilder()
                .setUid("Kubernetes//Pod/ns/p")
                .setName("p")
                .setNamespace("ns")
                .addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, 1}))
                .setServiceAccount("sa")
                .setNode("node1")
                .addAuthorizationPolicies("ns/allow")
                .build();
        assertThat(fieldNumbers(w.toByteString())).containsExactly(1, 2, 3, 7, 9, 16, 20);
    }

    @Test
    void authorizationFieldNumbers() throws IOException {
        Authorization a = Authorization.newBuilder()
                .setName("n")
                .setNamespace("ns")
                .setScopeValue(2)
                .setActionValue(1)
                .addRules(dev.ambit.api.security.Rule.newBuilder().addClauses(
                        dev.ambit.api.security.Clause.newBuilder().addMatches(
                                dev.ambit.api.security.Match.newBuilder().addNotPrincipals(
                                        StringMatch.newBuilder().setPresence(
                                                com.google.protobuf.Empty.getDefaultInstance())))))
                .build();
        assertThat(fieldNumbers(a.toByteString())).containsExactly(1, 2, 3, 4, 5);
        var match = a.getRules(0).getClauses(0).getMatches(0);
        assertThat(fieldNumbers(match.toByteString())).containsExactly(4);
        assertThat(fieldNumbers(match.getNotPrincipals(0).toByteString())).containsExactly(4);
    }

    private static List<Integer> fieldNumbers(ByteString bytes) throws IOException {
        CodedInputStream in = bytes.newCodedInput();
        List<Integer> fields = new ArrayList<>();
        int tag;
        while ((tag = in.readTag()) != 0) {
            fields.add(WireFormat.getTagFieldNumber(tag));
            in.skipField(tag);
        }
        return fields;
    }
}
