package dev.ambit.perf.xds;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.security.v1.AuthorizationPolicyBuilder;
import io.fabric8.istio.api.security.v1.PeerAuthenticationBuilder;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLSMode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A cluster of the benchmark's size, built in memory: {@code pods} pods spread over
 * {@code nodes} nodes in ambient namespaces of 100 pods each, {@code services} services
 * each selecting an equal share of its namespace's pods, one selector policy per
 * namespace and mesh-wide STRICT.
 */
final class SyntheticMesh {

    private final Map<String, HasMetadata> objects = new LinkedHashMap<>();
    private final Map<String, Kind> kinds = new LinkedHashMap<>();
    private final int pods;

    SyntheticMesh(int pods, int services, int nodes) {
        this.pods = pods;
        int namespaces = Math.max(1, pods / 100);
        int servicesPerNs = Math.max(1, services / namespaces);
        put(Kind.NAMESPACE, new NamespaceBuilder().withNewMetadata().withName("istio-system").endMetadata().build());
        put(Kind.PEER_AUTHENTICATION, new PeerAuthenticationBuilder().withNewMetadata().withName("default")
                .withNamespace("istio-system").endMetadata().withNewSpec().withNewMtls()
                .withMode(PeerAuthenticationMutualTLSMode.STRICT).endMtls().endSpec().build());
        for (int n = 0; n < namespaces; n++) {
            String ns = "ns-" + n;
            put(Kind.NAMESPACE, new NamespaceBuilder().withNewMetadata().withName(ns)
                    .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build());
            for (int s = 0; s < servicesPerNs; s++) {
                put(Kind.SERVICE, new ServiceBuilder().withNewMetadata().withName("svc-" + s).withNamespace(ns)
                        .endMetadata().withNewSpec().addToSelector("app", "svc-" + s)
                        .withClusterIP(ip(10, 96 + n / 256, n % 256, s + 1))
                        .addNewPort().withName("http").withPort(80).withTargetPort(new IntOrString(8080)).endPort()
                        .endSpec().build());
            }
            put(Kind.AUTHORIZATION_POLICY, new AuthorizationPolicyBuilder().withNewMetadata().withName("allow-ns")
                    .withNamespace(ns).endMetadata().withNewSpec().withNewSelector().addToMatchLabels("app", "svc-0")
                    .endSelector().withAction(AuthorizationPolicyAction.ALLOW).addNewRule().addNewFrom()
                    .withNewSource().addToNamespaces(ns).endSource().endFrom().endRule().endSpec().build());
        }
        for (int i = 0; i < pods; i++) {
            int n = i / 100;
            String ns = "ns-" + n;
            int s = (i % 100) % servicesPerNs;
            put(Kind.POD, pod(ns, "pod-" + i, "svc-" + s, "node-" + (i % nodes), ip(10, 244, i / 250, i % 250 + 1), "v1"));
        }
    }

    int pods() {
        return pods;
    }

    ConfigSnapshot snapshot() {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        objects.forEach((k, o) -> b.put(kinds.get(k), o));
        return b.build();
    }

    /** Changes one pod's version label: exactly one workload differs afterwards. */
    void touchPod(int index, String version) {
        String key = Kind.POD + "/ns-" + (index / 100) + "/pod-" + index;
        Pod old = (Pod) objects.get(key);
        objects.put(key, new PodBuilder(old).editMetadata().addToLabels("version", version).endMetadata().build());
    }

    private void put(Kind kind, HasMetadata o) {
        String key = kind + "/" + (o.getMetadata().getNamespace() == null ? "" : o.getMetadata().getNamespace())
                + "/" + o.getMetadata().getName();
        objects.put(key, o);
        kinds.put(key, kind);
    }

    private static Pod pod(String ns, String name, String app, String node, String ip, String version) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace(ns)
                .addToLabels("app", app).addToLabels("version", version).endMetadata()
                .withNewSpec().withNodeName(node).withServiceAccountName(app)
                .addNewContainer().withName("app").withImage("app").addNewPort().withName("http")
                .withContainerPort(8080).endPort().endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).addNewCondition().withType("Ready")
                .withStatus("True").endCondition().endStatus().build();
    }

    private static String ip(int a, int b, int c, int d) {
        return a + "." + b + "." + c + "." + d;
    }
}
