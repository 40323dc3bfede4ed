package dev.ambit.ctl.install;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.NonDeletingOperation;

/** Create-or-update with fabric8's client (what {@code kubectl apply} does, less the three-way merge). */
public final class Fabric8ClusterWriter implements ClusterWriter {

    private final KubernetesClient client;

    public Fabric8ClusterWriter(KubernetesClient client) {
        this.client = requireNonNull(client, "client");
    }

    @Override
    public void apply(HasMetadata object) {
        client.resource(object).createOr(NonDeletingOperation::update);
    }

    @Override
    public boolean delete(HasMetadata object) {
        return !client.resource(object).delete().isEmpty();
    }
}
