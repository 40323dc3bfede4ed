package dev.ambit.ctl.waypoint;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * Where {@code ambitctl waypoint} reads and writes: the local cluster's manifests
 * ({@link LocalWaypointCluster}) or a Kubernetes API server ({@link KubernetesWaypointCluster}).
 * Gateways are passed as their JSON trees, the one shape both sides have.
 */
interface WaypointCluster extends AutoCloseable {

    /** Names the cluster in messages: {@code local cluster in /run/ambit/local}, {@code Kubernetes context kind-x}. */
    String describe();

    /** Creates or updates the Gateway; returns kubectl's word for what happened (created, configured, unchanged). */
    String apply(ObjectNode gateway);

    /** Sets label {@code key=value} on namespace {@code namespace}, creating the namespace if it does not exist. */
    void labelNamespace(String namespace, String key, String value);

    /** The waypoint Gateways of {@code namespace} (every namespace when null), with their status as known now. */
    List<ObjectNode> waypoints(String namespace);

    /** Deletes Gateway {@code namespace/name}; false when there was none. */
    boolean delete(String namespace, String name);

    @Override
    void close();
}
