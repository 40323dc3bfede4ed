package dev.ambit.istiod.xds;

import com.google.protobuf.ByteString;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.NetworkAddress;
import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.istiod.model.MeshResources;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A small, mutable mesh for tests, built from real workload and authorization protos:
 * pods named by uid as Istio names them, one service, and policies.
 */
final class TestMesh {

    static final String NAMESPACE = "shop";

    private final Map<String, Address> addresses = new TreeMap<>();
    private final Map<String, Authorization> authorizations = new TreeMap<>();

    /** Three pods (a, b, c at revision v1), a service, and two policies. */
    static TestMesh standard() {
        return new TestMesh()
                .pod("a", "v1")
                .pod("b", "v1")
                .pod("c", "v1")
                .service("backend")
                .policy("allow-frontend", 8080)
                .policy("deny-admin", 9090);
    }

    static String uid(String pod) {
        return "Kubernetes//Pod/" + NAMESPACE + "/" + pod;
    }

    static String policyName(String policy) {
        return NAMESPACE + "/" + policy;
    }

    static String serviceName(String service) {
        return NAMESPACE + "/" + service + "." + NAMESPACE + ".svc.cluster.local";
    }

    /** Adds or replaces a pod; the revision stands for its {@code version} label. */
    TestMesh pod(String name, String revision) {
        return pod(name, revision, "");
    }

    /** Adds or replaces a pod whose hostname is padded to make the resource large. */
    TestMesh pod(String name, String revision, String padding) {
        int n = Math.floorMod(name.hashCode(), 250) + 1;
        Workload workload = Workload.newBuilder()
                .setUid(uid(name))
                .setName(name)
                .setNamespace(NAMESPACE)
                .addAddresses(ByteString.copyFrom(new byte[] {10, 1, 0, (byte) n}))
                .setHostname(padding.isEmpty() ? "" : name + "." + padding)
                .setNetwork("")
                .setTunnelProtocol(TunnelProtocol.HBONE)
                .setTrustDomain("cluster.local")
                .setServiceAccount("sa-" + name)
                .setNode("node-1")
                .setCanonicalName(name)
                .setCanonicalRevision(revision)
                .setWorkloadName(name)
                .putServices(serviceName("backend"), PortList.newBuilder()
                        .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080))
                        .build())
                .setClusterId("Kubernetes")
                .build();
        addresses.put(uid(name), Address.newBuilder().setWorkload(workload).build());
        return this;
    }

    TestMesh service(String name) {
        Service service = Service.newBuilder()
                .setName(name)
                .setNamespace(NAMESPACE)
                .setHostname(name + "." + NAMESPACE + ".svc.cluster.local")
                .addAddresses(NetworkAddress.newBuilder()
                        .setAddress(ByteString.copyFrom(new byte[] {10, 96, 0, 10})))
                .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080))
                .build();
        addresses.put(serviceName(name), Address.newBuilder().setService(service).build());
        return this;
    }

    /** Adds or replaces an ALLOW policy for one destination port. */
    TestMesh policy(String name, int port) {
        Authorization policy = Authorization.newBuilder()
                .setName(name)
                .setNamespace(NAMESPACE)
                .setScope(Scope.NAMESPACE)
                .setAction(Action.ALLOW)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder()
                        .addMatches(Match.newBuilder().addDestinationPorts(port))))
                .build();
        authorizations.put(policyName(name), policy);
        return this;
    }

    TestMesh removePod(String name) {
        if (addresses.remove(uid(name)) == null) {
            throw new IllegalArgumentException("no pod " + name + " in the test mesh");
        }
        return this;
    }

    TestMesh removePolicy(String name) {
        if (authorizations.remove(policyName(name)) == null) {
            throw new IllegalArgumentException("no policy " + name + " in the test mesh");
        }
        return this;
    }

    Address address(String resourceName) {
        return addresses.get(resourceName);
    }

    /** A fresh model: new maps each time, as the real model computation produces. */
    MeshResources build() {
        return new MeshResources(new TreeMap<>(addresses), new TreeMap<>(authorizations), Map.of(), List.of());
    }

    XdsSnapshot snapshot() {
        return XdsSnapshot.of(build());
    }
}
