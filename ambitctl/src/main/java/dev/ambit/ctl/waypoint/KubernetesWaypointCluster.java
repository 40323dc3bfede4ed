package dev.ambit.ctl.waypoint;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.istiod.deploy.ClusterWriter;
import dev.ambit.istiod.deploy.Fabric8ClusterWriter;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A Kubernetes API server through fabric8: Gateways are written through ambitctl's one
 * {@link ClusterWriter} (create or update), as {@code install} writes; istiod-lite's deployer on
 * the cluster creates the waypoint's objects and the Gateway's status.
 */
final class KubernetesWaypointCluster implements WaypointCluster {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final KubernetesClient client;
    private final ClusterWriter writer;
    private final String context;

    /** @param context the kubeconfig context it was made for, for messages ("" for the current one) */
    KubernetesWaypointCluster(KubernetesClient client, String context) {
        this.client = requireNonNull(client, "client");
        this.writer = Fabric8ClusterWriter.of(client);
        this.context = requireNonNull(context, "context");
    }

    @Override
    public String describe() {
        return "Kubernetes " + (context.isEmpty() ? "current context" : "context " + context) + " ("
                + client.getMasterUrl() + ")";
    }

    @Override
    public String apply(ObjectNode gateway) {
        return call("apply the waypoint Gateway", () -> doApply(gateway));
    }

    private String doApply(ObjectNode gateway) {
        Gateway gw = JSON.convertValue(gateway, Gateway.class);
        Gateway before = client.resources(Gateway.class).inNamespace(gw.getMetadata().getNamespace())
                .withName(gw.getMetadata().getName()).get();
        writer.apply(gw);
        if (before == null) {
            return "created";
        }
        return Objects.equals(before.getSpec(), gw.getSpec())
                && Objects.equals(before.getMetadata().getLabels(), gw.getMetadata().getLabels()) ? "unchanged" : "configured";
    }

    @Override
    public void labelNamespace(String namespace, String key, String value) {
        call("label namespace " + namespace, () -> {
            doLabel(namespace, key, value);
            return null;
        });
    }

    private void doLabel(String namespace, String key, String value) {
        Namespace ns = client.namespaces().withName(namespace).get();
        if (ns == null) {
            ns = new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build();
        }
        if (ns.getMetadata().getLabels() == null) {
            ns.getMetadata().setLabels(new HashMap<>());
        }
        ns.getMetadata().getLabels().put(key, value);
        writer.apply(ns);
    }

    @Override
    public List<ObjectNode> waypoints(String namespace) {
        return call("list Gateways", () -> doList(namespace));
    }

    private List<ObjectNode> doList(String namespace) {
        var gateways = namespace == null ? client.resources(Gateway.class).inAnyNamespace().list()
                : client.resources(Gateway.class).inNamespace(namespace).list();
        List<ObjectNode> out = new ArrayList<>();
        for (Gateway g : gateways.getItems()) {
            ObjectNode tree;
            try {
                tree = (ObjectNode) JSON.readTree(Serialization.asJson(g));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("Gateway " + g.getMetadata().getNamespace() + "/"
                        + g.getMetadata().getName() + ": cannot read it as JSON: " + e.getMessage(), e);
            }
            // The list's items come without apiVersion and kind from some servers: they are Gateways.
            tree.put("apiVersion", WaypointGateway.API_VERSION).put("kind", "Gateway");
            if (WaypointGateway.isWaypoint(tree)) {
                out.add(tree);
            }
        }
        return out;
    }

    @Override
    public boolean delete(String namespace, String name) {
        return call("delete Gateway " + namespace + "/" + name, () -> doDelete(namespace, name));
    }

    private boolean doDelete(String namespace, String name) {
        Gateway gw = client.resources(Gateway.class).inNamespace(namespace).withName(name).get();
        if (gw == null || gw.getSpec() == null || !WaypointGateway.GATEWAY_CLASS.equals(gw.getSpec().getGatewayClassName())) {
            return false;
        }
        // The deployer's Deployment, Service and ServiceAccount go with it: they are owned by the Gateway.
        return writer.delete(new GatewayBuilder().withNewMetadata().withNamespace(namespace).withName(name)
                .endMetadata().build());
    }

    @Override
    public void close() {
        client.close();
    }

    /**
     * Runs one API call, turning the client's failure into one line naming the cluster, what
     * was attempted and the likely causes (no cluster there, no Gateway API CRDs, no rights).
     */
    private <T> T call(String what, Supplier<T> call) {
        try {
            return call.get();
        } catch (KubernetesClientException e) {
            // fabric8's own message names the operation only; the reason is the server's status or the root cause.
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String reason = e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage()
                    : root.getMessage() != null ? root.getMessage() : root.toString();
            String hint = e.getCode() == 404 ? " (are the Gateway API CRDs installed?)"
                    : e.getCode() == 401 || e.getCode() == 403 ? " (the kubeconfig's user may not do this)"
                    : e.getCode() <= 0 ? " (no API server answered: is the kubeconfig's cluster up? for the local"
                            + " cluster start it with ambitctl local up, or pass --context local)" : "";
            throw new LocalException(describe() + ": cannot " + what + ": " + reason + hint, e);
        }
    }
}
