package dev.ambit.proxy.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import java.util.List;
import java.util.Map;

/**
 * Where the {@link XdsClient} sends the resources of one type, as ztunnel's xDS client
 * hands each type to its handler: the node agent registers handlers for Istio's workload
 * and authorization types, a waypoint adds Envoy's types on the same stream.
 *
 * <p>The client calls a handler on its own thread, one response at a time, in the order
 * the responses arrive; a handler registered on one client has a single caller.
 *
 * @param <T> the resource message type
 */
public interface ResourceHandler<T extends Message> {

    /** The type URL handled, e.g. {@link dev.ambit.api.TypeUrls#ADDRESS}; one handler per type URL. */
    String typeUrl();

    /** The message class of {@link #typeUrl()}'s resources. */
    Class<T> messageType();

    /**
     * Parses one resource body of {@link #typeUrl()}: unpacks a {@link #messageType()}.
     *
     * @throws InvalidProtocolBufferException if it is not a {@code T}; the response is NACKed
     */
    default T parse(Any resource) throws InvalidProtocolBufferException {
        // unpack() checks the body's own type URL: a wrong message type is an error, not garbage.
        return resource.unpack(messageType());
    }

    /**
     * Applies one response: adds or replaces the resources in {@code updates} (name →
     * resource), then removes those named in {@code removes}; removing a name not held is
     * not an error. All or nothing: if any resource is rejected, nothing changes and the
     * rejections are returned, which the client NACKs (the other types on the stream are
     * unaffected).
     *
     * @return the rejected resources; empty when the response was applied
     */
    List<Rejection> apply(Map<String, T> updates, List<String> removes);

    /**
     * A resource a handler rejected, and why.
     *
     * @param name the resource name
     * @param reason what is wrong, naming the resource and what was expected; sent to the
     *        control plane in the NACK's {@code error_detail}
     */
    record Rejection(String name, String reason) {
        public Rejection {
            requireNonNull(name, "name");
            requireNonNull(reason, "reason");
        }
    }
}
