package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Map;

/**
 * Which pods reported by the CNI plugin belong in the ambient mesh, decided as Istio's CNI
 * plugin does from the API server: label {@code istio.io/dataplane-mode} on the pod
 * ({@code ambient} in, any other value such as {@code none} out), else on its namespace;
 * host-network pods and pods with an injected sidecar ({@code sidecar.istio.io/status}) never.
 * istiod-lite's enrollment rule is the same ({@code ServiceCatalog}), so a pod captured here
 * is one xDS will call ambient.
 *
 * <p>The pod is read afresh (not from an informer that may lag behind its creation): the
 * kubelet only creates a sandbox for a pod the API server has. A pod the API server does not
 * know (yet), or knows under another UID, is answered "cannot tell" (503): the plugin fails
 * the sandbox and the kubelet asks again.
 */
public final class KubernetesAdmission implements CniServer.Admission {

    static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    static final String SIDECAR_STATUS = "sidecar.istio.io/status";

    private final KubernetesClient client;

    private KubernetesAdmission(KubernetesClient client) {
        this.client = client;
    }

    /** Reads pods and namespaces with {@code client} (the caller's; not closed here). */
    public static KubernetesAdmission of(KubernetesClient client) {
        return new KubernetesAdmission(requireNonNull(client, "client"));
    }

    @Override
    public CniServer.Decision admit(String namespace, String name, String uid) {
        Pod pod = client.pods().inNamespace(namespace).withName(name).get();
        if (pod == null) {
            throw new IllegalStateException("pod " + namespace + "/" + name + " is not in the API server "
                    + client.getMasterUrl() + " (yet)");
        }
        String actual = pod.getMetadata().getUid();
        if (uid != null && !uid.equals(actual)) {
            throw new IllegalStateException("pod " + namespace + "/" + name + " has uid " + actual
                    + " in the API server, the runtime reported " + uid + " (an old or a new pod of that name)");
        }
        if (pod.getSpec() != null && Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            return CniServer.Decision.notAmbient(actual, "host network");
        }
        Map<String, String> annotations = pod.getMetadata().getAnnotations();
        if (annotations != null && annotations.containsKey(SIDECAR_STATUS)) {
            return CniServer.Decision.notAmbient(actual, "has an injected sidecar");
        }
        Map<String, String> labels = pod.getMetadata().getLabels();
        String mode = labels == null ? null : labels.get(DATAPLANE_MODE);
        if (mode != null) {
            // The pod's own label decides, whatever its namespace says.
            return "ambient".equals(mode) ? CniServer.Decision.ambient(actual)
                    : CniServer.Decision.notAmbient(actual, "pod label " + DATAPLANE_MODE + "=" + mode);
        }
        Namespace ns = client.namespaces().withName(namespace).get();
        Map<String, String> nsLabels = ns == null ? null : ns.getMetadata().getLabels();
        if (nsLabels != null && "ambient".equals(nsLabels.get(DATAPLANE_MODE))) {
            return CniServer.Decision.ambient(actual);
        }
        return CniServer.Decision.notAmbient(actual, "neither the pod nor namespace " + namespace + " is labelled "
                + DATAPLANE_MODE + "=ambient");
    }
}
