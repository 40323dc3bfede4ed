package dev.ambit.ctl.config;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.KubectlPrinter;
import dev.ambit.ctl.local.Manifests;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * A node agent's {@code /config_dump} as tables, in the shape of
 * {@code istioctl ztunnel-config}: workloads, services, policies, certificates. Pure
 * functions of the dump (see the node agent's AgentAdmin for its JSON).
 */
public final class ConfigDumpPrinter {

    /** The sections {@code ambitctl config} shows, and their key in the dump. */
    public enum Section {
        WORKLOADS("workloads"), SERVICES("services"), POLICIES("policies"), CERTS("certificates");

        private final String key;

        Section(String key) {
            this.key = key;
        }

        public String key() {
            return key;
        }

        public static Section parse(String s) {
            return switch (s) {
                case "workloads", "workload", "wl" -> WORKLOADS;
                case "services", "service", "svc" -> SERVICES;
                case "policies", "policy", "authorization" -> POLICIES;
                case "certs", "certificates", "secrets" -> CERTS;
                default -> throw new IllegalArgumentException(s + " (expected: workloads, services, policies or certs)");
            };
        }
    }

    private ConfigDumpPrinter() {
    }

    /** The section as JSON, as the agent has it. */
    public static String json(JsonNode dump, Section section) {
        requireNonNull(dump, "dump");
        return Manifests.toJson(dump.path(section.key()));
    }

    /** The section as a table. */
    public static String table(JsonNode dump, Section section) {
        requireNonNull(dump, "dump");
        return switch (section) {
            case WORKLOADS -> workloads(dump);
            case SERVICES -> services(dump);
            case POLICIES -> policies(dump);
            case CERTS -> certs(dump);
        };
    }

    static String workloads(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode w : dump.path("workloads")) {
            List<String> ips = new ArrayList<>();
            w.path("addresses").forEach(a -> ips.add(ip(a.asText())));
            rows.add(List.of(w.path("namespace").asText(), w.path("name").asText(), ips.isEmpty() ? "None" : String.join(",", ips),
                    or(w.path("node").asText(), "None"), waypoint(w.path("waypoint")),
                    w.path("tunnelProtocol").asText("NONE"), w.path("serviceAccount").asText(),
                    w.path("status").asText("HEALTHY")));
        }
        rows.sort((a, b) -> (a.get(0) + "/" + a.get(1)).compareTo(b.get(0) + "/" + b.get(1)));
        return KubectlPrinter.table(List.of("NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL",
                "SERVICE ACCOUNT", "STATUS"), rows);
    }

    static String services(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : dump.path("services").properties()) {
            JsonNode s = e.getValue();
            List<String> vips = new ArrayList<>();
            s.path("addresses").forEach(a -> vips.add(ip(a.path("address").asText())));
            int total = 0;
            int healthy = 0;
            for (JsonNode w : dump.path("workloads")) {
                if (w.path("services").has(e.getKey())) {
                    total++;
                    if (w.path("status").asText("HEALTHY").equals("HEALTHY")) {
                        healthy++;
                    }
                }
            }
            List<String> ports = new ArrayList<>();
            s.path("ports").forEach(p -> ports.add(p.path("servicePort").asText() + "->" + p.path("targetPort").asText()));
            rows.add(List.of(s.path("namespace").asText(), s.path("hostname").asText(),
                    vips.isEmpty() ? "None" : String.join(",", vips), ports.isEmpty() ? "None" : String.join(",", ports),
                    waypoint(s.path("waypoint")), healthy + "/" + total));
        }
        return KubectlPrinter.table(List.of("NAMESPACE", "SERVICE NAME", "SERVICE VIP", "PORTS", "WAYPOINT", "ENDPOINTS"),
                rows);
    }

    static String policies(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode p : dump.path("policies")) {
            rows.add(List.of(p.path("namespace").asText(), p.path("name").asText(), p.path("action").asText("ALLOW"),
                    p.path("scope").asText("GLOBAL"), String.valueOf(p.path("rules").size()),
                    String.valueOf(p.path("dryRun").asBoolean(false))));
        }
        return KubectlPrinter.table(List.of("NAMESPACE", "POLICY NAME", "ACTION", "SCOPE", "RULES", "DRY RUN"), rows);
    }

    static String certs(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode c : dump.path("certificates")) {
            boolean valid = c.path("state").asText().equals("valid");
            rows.add(List.of(c.path("identity").asText(), valid ? "Available" : "Pending",
                    valid ? c.path("serial").asText() : "-", valid ? c.path("notBefore").asText() : "-",
                    valid ? c.path("notAfter").asText() : "-",
                    valid ? c.path("secondsToExpiry").asLong() / 3600 + "h" : "-"));
        }
        return KubectlPrinter.table(List.of("IDENTITY", "STATUS", "SERIAL NUMBER", "NOT BEFORE", "NOT AFTER", "EXPIRES IN"),
                rows);
    }

    private static String waypoint(JsonNode w) {
        if (w.isMissingNode() || w.isNull() || w.isEmpty()) {
            return "None";
        }
        if (w.has("hostname")) {
            return w.path("hostname").path("hostname").asText();
        }
        if (w.has("address")) {
            return ip(w.path("address").path("address").asText());
        }
        return "None";
    }

    /** A protobuf JSON bytes field (base64) holding an IP address, as text. */
    static String ip(String base64) {
        try {
            return InetAddress.getByAddress(Base64.getDecoder().decode(base64)).getHostAddress();
        } catch (IllegalArgumentException | UnknownHostException e) {
            return base64;
        }
    }

    private static String or(String s, String fallback) {
        return s == null || s.isEmpty() ? fallback : s;
    }
}
