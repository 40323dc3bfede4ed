package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.service.discovery.v3.Resource;

/**
 * One named xDS resource as it goes on the wire: its name, its version and the packed
 * message. The version is a hash of the message's deterministic serialization, so two
 * resources with equal content have equal versions, in this process or the next.
 *
 * <p>{@link #wire()} is the {@code Resource} entry of a {@code DeltaDiscoveryResponse},
 * built once here so that every stream sending this resource puts the same immutable
 * message in its response: protobuf memoizes a message's serialized size, so gRPC sizes
 * it once for all streams instead of once per stream, and no stream allocates its own.
 *
 * @param name the resource name, unique within its type URL
 * @param version the content hash, as sent in {@code Resource.version}
 * @param resource the message packed with its type URL
 * @param wire {@code name}, {@code version} and {@code resource} as a response entry
 */
public record XdsResource(String name, String version, Any resource, Resource wire) {

    public XdsResource {
        requireNonNull(name, "name");
        requireNonNull(version, "version");
        requireNonNull(resource, "resource");
        requireNonNull(wire, "wire");
        if (!wire.getName().equals(name) || !wire.getVersion().equals(version) || wire.getResource() != resource) {
            throw new IllegalArgumentException("wire resource of " + name
                    + ": does not match name, version and resource (expected: the same three)");
        }
    }

    /** A resource with its wire entry built from {@code name}, {@code version} and {@code resource}. */
    public XdsResource(String name, String version, Any resource) {
        this(name, version, resource, Resource.newBuilder()
                .setName(requireNonNull(name, "name"))
                .setVersion(requireNonNull(version, "version"))
                .setResource(requireNonNull(resource, "resource"))
                .build());
    }

    /** Without {@link #wire()}, which repeats the other three. */
    @Override
    public String toString() {
        return "XdsResource[name=" + name + ", version=" + version + ", type=" + resource.getTypeUrl() + "]";
    }
}
