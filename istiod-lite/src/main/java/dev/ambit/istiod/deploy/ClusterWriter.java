package dev.ambit.istiod.deploy;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.Optional;

/**
 * The one way Ambit writes objects it owns to the API server: istiod-lite's
 * {@link WaypointDeployer} and {@code ambitctl install}/{@code uninstall}. Keeping every write
 * behind this interface lets the way of writing change (create-or-update, server-side apply)
 * without touching the callers, and lets tests count and fail writes.
 *
 * <p>{@link #apply} is declarative: the caller says what it wants the object to contain; the
 * writer creates it, leaves it alone when it already contains all of that, or updates it while
 * keeping what the API server and other controllers own (a Service's cluster IP, a
 * Deployment's replica count when the caller leaves it to an autoscaler, finalizers, status).
 * {@link Fabric8ClusterWriter} says how.
 */
public interface ClusterWriter {

    /** What {@link #apply} did. */
    enum Outcome {
        /** The object did not exist and was created. */
        CREATED,
        /** The object existed and differed from the desired one; it was updated. */
        UPDATED,
        /** The object already had every desired field; nothing was written. */
        UNCHANGED
    }

    /** The object as stored after an {@link #apply}, and what the apply did. */
    record Applied<T extends HasMetadata>(T object, Outcome outcome) {}

    /**
     * Creates {@code desired}, or brings the existing object of the same kind, namespace and
     * name up to it. Writes nothing when the stored object already contains every field
     * {@code desired} sets (with the same values), so calling it again is free.
     *
     * @return the object as the API server stores it (server-owned fields and status included)
     * @throws io.fabric8.kubernetes.client.KubernetesClientException when the API server refuses
     *         (RBAC, validation, a conflicting concurrent write)
     */
    <T extends HasMetadata> Applied<T> apply(T desired);

    /** The stored version of the object with {@code object}'s kind, namespace and name; empty if absent. */
    <T extends HasMetadata> Optional<T> read(T object);

    /**
     * Writes {@code object}'s status (the {@code status} subresource). {@code object} must carry
     * the {@code resourceVersion} the status was computed from: a concurrent change of the
     * object makes the API server refuse with 409 Conflict, and the caller computes again.
     *
     * @return the object as stored after the write
     */
    <T extends HasMetadata> T updateStatus(T object);

    /** Deletes the object; false when it did not exist. Dependents go with it (background propagation). */
    boolean delete(HasMetadata object);
}
