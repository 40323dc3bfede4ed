package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;

/**
 * One named xDS resource as it goes on the wire: its name, its version and the packed
 * message. The version is a hash of the message's deterministic serialization, so two
 * resources with equal content have equal versions, in this process or the next.
 *
 * @param name the resource name, unique within its type URL
 * @param version the content hash, as sent in {@code Resource.version}
 * @param resource the message packed with its type URL
 */
public record XdsResource(String name, String version, Any resource) {

    public XdsResource {
        requireNonNull(name, "name");
        requireNonNull(version, "version");
        requireNonNull(resource, "resource");
    }
}
