package dev.ambit.testing;

import com.google.protobuf.ByteString;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.NetworkAddress;
import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;
import java.util.TreeMap;

/**
 * A small mesh, shaped as istiod-lite's {@code AmbientModel} shapes it: namespace
 * {@code shop} with a frontend and three backend pods, two services (one with a named
 * target port only some pods resolve), and policies of every scope.
 */
public final class MeshFixture {

    public static final String BACKEND = "shop/backend.shop.svc.cluster.local";
    public static final String FRONTEND = "shop/frontend.shop.svc.cluster.local";
    public static final String BACKEND_VIP = "10.96.0.10";
    public static final String FRONTEND_VIP = "10.96.0.11";

    private MeshFixture() {}

    public static String uid(String pod) {
        return "Kubernetes//Pod/shop/" + pod;
    }

    /** Address resources by name (uid or service key). */
    public static Map<String, Address> addresses() {
        Map<String, Address> out = new TreeMap<>();
        put(out, workload("frontend", WorkloadStatus.HEALTHY, new String[] {"10.0.0.1"},
                Map.of(FRONTEND, ports(80, 8080))));
        put(out, workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"10.0.0.2"},
                Map.of(BACKEND, ports(8080, 9090, 9443, 8443)), "shop/backend-allow"));
        put(out, workload("backend-2", WorkloadStatus.UNHEALTHY, new String[] {"10.0.0.3", "fd00::3"},
                Map.of(BACKEND, ports(8080, 9091))));
        // No port mapping of its own: the service's numeric target port applies.
        put(out, workload("backend-3", WorkloadStatus.HEALTHY, new String[] {"10.0.0.4"},
                Map.of(BACKEND, PortList.getDefaultInstance())));
        put(out, service("backend", BACKEND_VIP, 8080, 9000, 9443, 0));
        put(out, service("frontend", FRONTEND_VIP, 80, 8080));
        return out;
    }

    /** Authorization resources by {@code <ns>/<name>}. */
    public static Map<String, Authorization> authorizations() {
        Map<String, Authorization> out = new TreeMap<>();
        put(out, policy("istio-system", "global-deny", Scope.GLOBAL, Action.DENY, "evil"));
        put(out, policy("shop", "ns-allow", Scope.NAMESPACE, Action.ALLOW, "shop"));
        put(out, policy("shop", "backend-allow", Scope.WORKLOAD_SELECTOR, Action.ALLOW, "shop"));
        put(out, policy("other", "ns-allow", Scope.NAMESPACE, Action.ALLOW, "other"));
        return out;
    }

    public static void put(Map<String, Address> out, Address a) {
        out.put(a.hasWorkload() ? a.getWorkload().getUid() : a.getService().getNamespace() + "/"
                + a.getService().getHostname(), a);
    }

    public static void put(Map<String, Authorization> out, Authorization p) {
        out.put(p.getNamespace() + "/" + p.getName(), p);
    }

    public static Address workload(String pod, WorkloadStatus status, String[] ips, Map<String, PortList> services,
                                   String... policies) {
        Workload.Builder w = Workload.newBuilder()
                .setUid(uid(pod))
                .setName(pod)
                .setNamespace("shop")
                .setTunnelProtocol(TunnelProtocol.HBONE)
                .setTrustDomain("cluster.local")
                .setServiceAccount(pod.replaceAll("-\\d+$", ""))
                .setNode("node-1")
                .setStatus(status)
                .putAllServices(services);
        for (String ip : ips) {
            w.addAddresses(ByteString.copyFrom(ip(ip).getAddress()));
        }
        for (String p : policies) {
            w.addAuthorizationPolicies(p);
        }
        return Address.newBuilder().setWorkload(w).build();
    }

    /** A service in {@code shop}; {@code ports} are (service port, target port) pairs. */
    public static Address service(String name, String vip, int... ports) {
        Service.Builder s = Service.newBuilder()
                .setName(name)
                .setNamespace("shop")
                .setHostname(name + ".shop.svc.cluster.local")
                .addAddresses(NetworkAddress.newBuilder().setAddress(ByteString.copyFrom(ip(vip).getAddress())));
        for (int i = 0; i < ports.length; i += 2) {
            s.addPorts(Port.newBuilder().setServicePort(ports[i]).setTargetPort(ports[i + 1]));
        }
        return Address.newBuilder().setService(s).build();
    }

    /** (service port, target port) pairs. */
    public static PortList ports(int... pairs) {
        PortList.Builder b = PortList.newBuilder();
        for (int i = 0; i < pairs.length; i += 2) {
            b.addPorts(Port.newBuilder().setServicePort(pairs[i]).setTargetPort(pairs[i + 1]));
        }
        return b.build();
    }

    public static Authorization policy(String ns, String name, Scope scope, Action action, String fromNamespace) {
        return Authorization.newBuilder()
                .setName(name)
                .setNamespace(ns)
                .setScope(scope)
                .setAction(action)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNamespaces(StringMatch.newBuilder().setExact(fromNamespace)))))
                .build();
    }

    public static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal); // a literal: no DNS
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
