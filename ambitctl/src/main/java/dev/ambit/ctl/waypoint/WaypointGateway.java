package dev.ambit.ctl.waypoint;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The Gateway a waypoint is, as {@code istioctl waypoint generate} writes it: class
 * {@value #GATEWAY_CLASS}, one listener {@code {name: mesh, port: 15008, protocol: HBONE}},
 * label {@value #WAYPOINT_FOR} saying which traffic it takes. Pure.
 */
public final class WaypointGateway {

    public static final String GATEWAY_CLASS = "istio-waypoint";
    public static final String API_VERSION = "gateway.networking.k8s.io/v1";
    public static final String WAYPOINT_FOR = "istio.io/waypoint-for";
    public static final String USE_WAYPOINT = "istio.io/use-waypoint";
    /** The values of {@value #WAYPOINT_FOR} Istio knows. */
    public static final List<String> TRAFFIC_TYPES = List.of("service", "workload", "all", "none");

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private WaypointGateway() {
    }

    /**
     * The Gateway {@code namespace/name} for traffic type {@code waypointFor}.
     *
     * @throws IllegalArgumentException for a traffic type Istio does not know
     */
    public static ObjectNode of(String namespace, String name, String waypointFor) {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        requireNonNull(waypointFor, "waypointFor");
        if (!TRAFFIC_TYPES.contains(waypointFor)) {
            throw new IllegalArgumentException("--for: " + waypointFor + " (expected: one of " + TRAFFIC_TYPES + ")");
        }
        if (!name.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
            throw new IllegalArgumentException("--name: " + name + " (expected: a DNS label, lower case letters, digits"
                    + " and '-', at most 63)");
        }
        ObjectNode gw = NODES.objectNode();
        gw.put("apiVersion", API_VERSION).put("kind", "Gateway");
        ObjectNode meta = gw.putObject("metadata");
        meta.putObject("labels").put(WAYPOINT_FOR, waypointFor);
        meta.put("name", name).put("namespace", namespace);
        ObjectNode spec = gw.putObject("spec");
        spec.put("gatewayClassName", GATEWAY_CLASS);
        spec.putArray("listeners").addObject().put("name", "mesh").put("port", 15008).put("protocol", "HBONE");
        return gw;
    }

    /** Whether {@code gateway} (a Gateway API Gateway's JSON) is a waypoint: of class {@value #GATEWAY_CLASS}. */
    public static boolean isWaypoint(JsonNode gateway) {
        return gateway.path("kind").asText().equals("Gateway")
                && gateway.path("apiVersion").asText().startsWith("gateway.networking.k8s.io/")
                && gateway.path("spec").path("gatewayClassName").asText().equals(GATEWAY_CLASS);
    }

    /** The {@code status.conditions} entry of {@code type}, or null. */
    public static JsonNode condition(JsonNode gateway, String type) {
        for (JsonNode c : gateway.path("status").path("conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c;
            }
        }
        return null;
    }

    /**
     * Whether the Gateway's {@code Programmed} condition is True for its current spec: a
     * condition observed for an older {@code metadata.generation} is stale (Gateway API), so an
     * updated waypoint is not reported programmed before its controller saw the update.
     */
    public static boolean programmed(JsonNode gateway) {
        JsonNode c = condition(gateway, "Programmed");
        if (c == null || !c.path("status").asText().equals("True")) {
            return false;
        }
        JsonNode generation = gateway.path("metadata").path("generation");
        JsonNode observed = c.path("observedGeneration");
        return !generation.canConvertToLong() || !observed.canConvertToLong() || observed.asLong() >= generation.asLong();
    }
}
