package dev.ambit.ctl.install;

import io.fabric8.kubernetes.api.model.HasMetadata;

/**
 * The one place {@code ambitctl install}/{@code uninstall} write to the API server, so the
 * way of writing can change without touching the commands (Istio keeps its writes behind one
 * interface too). {@link Fabric8ClusterWriter} creates or replaces; a server-side-apply
 * writer fits here once the test server supports it (fabric8's mock server does not).
 */
public interface ClusterWriter {

    /** Creates the object, or replaces the existing one of the same kind, namespace and name. */
    void apply(HasMetadata object);

    /** Deletes the object; false when it did not exist. */
    boolean delete(HasMetadata object);
}
