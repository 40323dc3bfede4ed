package dev.ambit.istiod.l7;

import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.BackendObjectReference;

/**
 * Whether a route may send to a backend. Gateways answer with Gateway API's ReferenceGrants
 * (a backend in another namespace needs one there); waypoints' GAMMA routes resolve
 * cross-namespace backends as Istio's mesh mode does, without asking ({@link #ALL}).
 */
@FunctionalInterface
public interface BackendReferences {

    /** Every reference is permitted. */
    BackendReferences ALL = (kind, route, backend) -> true;

    /** Whether {@code route} (of {@code kind}) may reference {@code backend}. */
    boolean permitted(Kind kind, HasMetadata route, BackendObjectReference backend);
}
