package dev.ambit.ctl.analyze;

import static java.util.Objects.requireNonNull;

import java.util.Locale;

/**
 * One kind of analysis message: Istio's code, name and level where Istio has one
 * ({@code IST0101 ReferencedResourceNotFound}, from Istio's {@code messages.yaml}), else
 * Ambit's own ({@code AMB0xxx}) for findings istioctl reports no code for.
 */
public record MessageType(String code, String name, Level level) {

    /** Severity, ordered as istioctl orders them. */
    public enum Level {
        INFO("Info"), WARNING("Warning"), ERROR("Error");

        private final String display;

        Level(String display) {
            this.display = display;
        }

        /** Istio's spelling: {@code Error}, {@code Warning}, {@code Info}. */
        public String display() {
            return display;
        }

        /** {@code error}, {@code Warning}, ... to a level; anything else is refused naming the choices. */
        public static Level parse(String value) {
            for (Level l : values()) {
                if (l.display.equalsIgnoreCase(value)) {
                    return l;
                }
            }
            throw new IllegalArgumentException("level: \"" + value + "\" (expected one of: Info, Warning, Error)");
        }
    }

    // Istio's (pkg/config/analysis/msg/messages.yaml).
    public static final MessageType REFERENCED_RESOURCE_NOT_FOUND =
            new MessageType("IST0101", "ReferencedResourceNotFound", Level.ERROR);
    public static final MessageType SCHEMA_VALIDATION_ERROR =
            new MessageType("IST0106", "SchemaValidationError", Level.ERROR);
    public static final MessageType NO_MATCHING_WORKLOADS_FOUND =
            new MessageType("IST0127", "NoMatchingWorkloadsFound", Level.WARNING);
    public static final MessageType INVALID_GATEWAY_CREDENTIAL =
            new MessageType("IST0161", "InvalidGatewayCredential", Level.ERROR);
    public static final MessageType NEGATIVE_CONDITION_STATUS =
            new MessageType("IST0171", "NegativeConditionStatus", Level.WARNING);
    public static final MessageType UNKNOWN_DESTINATION_RULE_HOST =
            new MessageType("IST0174", "UnknownDestinationRuleHost", Level.WARNING);

    // Ambit's: istioctl has no code for these.
    /** A namespace names a waypoint but is not in the ambient mesh: the label has no effect. */
    public static final MessageType WAYPOINT_NAMESPACE_NOT_ENROLLED =
            new MessageType("AMB0001", "WaypointNamespaceNotEnrolled", Level.WARNING);
    /** Two namespace-wide (or two mesh-wide) PeerAuthentications: only the oldest applies. */
    public static final MessageType CONFLICTING_PEER_AUTHENTICATIONS =
            new MessageType("AMB0002", "ConflictingPeerAuthentications", Level.WARNING);

    public MessageType {
        requireNonNull(code, "code");
        requireNonNull(name, "name");
        requireNonNull(level, "level");
    }

    /** Istio's page for its codes; empty for Ambit's. */
    public String documentationUrl() {
        return code.startsWith("IST")
                ? "https://istio.io/latest/docs/reference/config/analysis/" + code.toLowerCase(Locale.ROOT) + "/"
                : "";
    }
}
