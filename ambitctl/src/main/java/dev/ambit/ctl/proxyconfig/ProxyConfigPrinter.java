package dev.ambit.ctl.proxyconfig;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.KubectlPrinter;
import dev.ambit.ctl.local.Manifests;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * A waypoint's {@code /config_dump} (Envoy's shape: {@code configs[]} holding the
 * {@code envoy.admin.v3} Listeners, Routes, Clusters and Endpoints dumps, field names in
 * snake_case) as the tables {@code istioctl proxy-config} prints. Pure functions of the
 * dump's JSON, so they work on a dump saved from any waypoint (or an Envoy).
 */
public final class ProxyConfigPrinter {

    /** What {@code ambitctl proxy-config} shows, and the {@code @type} of its dump in {@code configs}. */
    public enum Kind {
        LISTENERS("envoy.admin.v3.ListenersConfigDump"),
        ROUTES("envoy.admin.v3.RoutesConfigDump"),
        CLUSTERS("envoy.admin.v3.ClustersConfigDump"),
        ENDPOINTS("envoy.admin.v3.EndpointsConfigDump");

        private final String dumpType;

        Kind(String dumpType) {
            this.dumpType = dumpType;
        }

        public static Kind parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "listeners", "listener", "l" -> LISTENERS;
                case "routes", "route", "r" -> ROUTES;
                case "clusters", "cluster", "c" -> CLUSTERS;
                case "endpoints", "endpoint", "ep" -> ENDPOINTS;
                default -> throw new IllegalArgumentException(s + " (expected: listeners, routes, clusters, endpoints or all)");
            };
        }
    }

    private ProxyConfigPrinter() {}

    /** The {@code configs[]} entry of {@code kind}, or a missing node when the dump has none. */
    public static JsonNode section(JsonNode dump, Kind kind) {
        requireNonNull(dump, "dump");
        for (JsonNode c : dump.path("configs")) {
            if (c.path("@type").asText().endsWith("/" + kind.dumpType)) {
                return c;
            }
        }
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }

    /** The kind's dump as JSON, as the waypoint has it. */
    public static String json(JsonNode dump, Kind kind) {
        JsonNode s = section(dump, kind);
        if (s.isMissingNode()) {
            throw new IllegalArgumentException("the config dump has no " + kind.dumpType + " (is this a waypoint's dump?)");
        }
        return Manifests.toJson(s);
    }

    /** The kind's dump as a table. */
    public static String table(JsonNode dump, Kind kind) {
        JsonNode s = section(dump, kind);
        if (s.isMissingNode()) {
            throw new IllegalArgumentException("the config dump has no " + kind.dumpType + " (is this a waypoint's dump?)");
        }
        return switch (kind) {
            case LISTENERS -> listeners(s);
            case ROUTES -> routes(s);
            case CLUSTERS -> clusters(s);
            case ENDPOINTS -> endpoints(s);
        };
    }

    // ---------------------------------------------------------------- listeners

    /** One row per filter chain: its match and where it sends traffic (istioctl's waypoint listener view). */
    static String listeners(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode d : dump.path("dynamic_listeners")) {
            JsonNode l = d.path("active_state").path("listener");
            String name = d.path("name").asText();
            if (l.isMissingNode()) {
                rows.add(List.of(name, "-", "-", "NACKED: " + firstLine(d.path("error_state").path("details").asText())));
                continue;
            }
            for (JsonNode fc : l.path("filter_chains")) {
                rows.add(List.of(name, fc.path("name").asText("-"), chainMatch(fc.path("filter_chain_match")),
                        destination(fc)));
            }
            JsonNode def = l.path("default_filter_chain");
            if (!def.isMissingNode()) {
                rows.add(List.of(name, def.path("name").asText("-"), "ALL", destination(def)));
            }
        }
        return KubectlPrinter.table(List.of("LISTENER", "CHAIN", "MATCH", "DESTINATION"), rows);
    }

    private static String chainMatch(JsonNode m) {
        List<String> ips = new ArrayList<>();
        for (JsonNode r : m.path("prefix_ranges")) {
            ips.add(r.path("address_prefix").asText() + "/" + r.path("prefix_len").asText("0"));
        }
        String port = m.path("destination_port").asText("");
        String ip = ips.isEmpty() ? "" : "ip=" + String.join(",", ips);
        if (ip.isEmpty() && port.isEmpty()) {
            return "ALL";
        }
        return ip.isEmpty() ? "port=" + port : port.isEmpty() ? ip : ip + " -> port=" + port;
    }

    private static String destination(JsonNode chain) {
        JsonNode f = chain.path("filters").path(0).path("typed_config");
        String type = f.path("@type").asText();
        if (type.endsWith(".HttpConnectionManager")) {
            return "Route: " + f.path("rds").path("route_config_name").asText("-");
        }
        if (type.endsWith(".TcpProxy")) {
            return "Cluster: " + f.path("cluster").asText("-");
        }
        return type.isEmpty() ? "-" : type.substring(type.lastIndexOf('.') + 1);
    }

    // ---------------------------------------------------------------- routes

    /** One row per route: route config, virtual host, domains, match and the VirtualService it came from. */
    static String routes(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode d : dump.path("dynamic_route_configs")) {
            JsonNode rc = d.path("route_config");
            if (rc.isMissingNode()) {
                rows.add(List.of("-", "-", "-", "-", "NACKED: " + firstLine(d.path("error_state").path("details").asText())));
                continue;
            }
            String name = rc.path("name").asText();
            for (JsonNode vh : rc.path("virtual_hosts")) {
                String domains = domains(vh.path("domains"));
                for (JsonNode r : vh.path("routes")) {
                    rows.add(List.of(name, vh.path("name").asText(), domains, match(r.path("match")),
                            virtualService(r.path("name").asText())));
                }
            }
        }
        return KubectlPrinter.table(List.of("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"), rows);
    }

    private static String domains(JsonNode domains) {
        List<String> all = new ArrayList<>();
        domains.forEach(d -> all.add(d.asText()));
        if (all.size() <= 2) {
            return all.isEmpty() ? "-" : String.join(", ", all);
        }
        return all.get(0) + ", " + all.get(1) + " +" + (all.size() - 2) + " more";
    }

    /** istioctl's notation: {@code /*} for a prefix, the path for an exact match, the regex; then header and query matches. */
    static String match(JsonNode m) {
        String path;
        if (m.has("prefix")) {
            path = m.path("prefix").asText() + "*";
        } else if (m.has("path")) {
            path = m.path("path").asText();
        } else if (m.has("safe_regex")) {
            path = m.path("safe_regex").path("regex").asText();
        } else {
            path = "-";
        }
        List<String> extra = new ArrayList<>();
        for (JsonNode h : m.path("headers")) {
            extra.add(h.path("name").asText() + stringMatch(h) + (h.path("invert_match").asBoolean() ? " (inverted)" : ""));
        }
        for (JsonNode q : m.path("query_parameters")) {
            extra.add("?" + q.path("name").asText() + stringMatch(q));
        }
        return extra.isEmpty() ? path : path + " [" + String.join(", ", extra) + "]";
    }

    private static String stringMatch(JsonNode matcher) {
        if (matcher.path("present_match").asBoolean(false)) {
            return " present";
        }
        JsonNode s = matcher.path("string_match");
        if (s.has("exact")) {
            return "=" + s.path("exact").asText();
        }
        if (s.has("prefix")) {
            return "=" + s.path("prefix").asText() + "*";
        }
        if (s.has("suffix")) {
            return "=*" + s.path("suffix").asText();
        }
        if (s.has("safe_regex")) {
            return "~" + s.path("safe_regex").path("regex").asText();
        }
        return "";
    }

    /**
     * The VirtualService (or HTTPRoute) of a route named {@code <ns>/<name>/<route>} by istiod-lite,
     * as istioctl writes it: {@code name.ns}; {@code -} for the default route.
     */
    static String virtualService(String routeName) {
        String[] parts = routeName.split("/");
        return parts.length >= 2 ? parts[1] + "." + parts[0] : "-";
    }

    // ---------------------------------------------------------------- clusters

    /**
     * One row per cluster, Istio's name {@code <direction>|<port>|<subset>|<host>} taken apart,
     * sorted as istioctl sorts them: by host, port, subset (none first), direction.
     */
    static String clusters(JsonNode dump) {
        List<String[]> parsed = new ArrayList<>();
        List<List<String>> nacked = new ArrayList<>();
        for (JsonNode d : dump.path("dynamic_active_clusters")) {
            JsonNode c = d.path("cluster");
            if (c.isMissingNode()) {
                nacked.add(List.of("-", "-", "-", "-", "-", "NACKED: " + firstLine(d.path("error_state").path("details").asText())));
                continue;
            }
            String name = c.path("name").asText();
            String type = c.path("type").asText("STATIC");
            String[] parts = name.split("\\|", -1);
            parsed.add(parts.length == 4 ? new String[] {parts[3], parts[1], parts[2], parts[0], type}
                    : new String[] {name, "", "", "", type});
        }
        parsed.sort(Comparator.comparing((String[] r) -> r[0]).thenComparingInt(r -> port(r[1]))
                .thenComparing(r -> r[2]).thenComparing(r -> r[3]));
        List<List<String>> rows = new ArrayList<>();
        for (String[] r : parsed) {
            rows.add(List.of(r[0], or(r[1]), or(r[2]), or(r[3]), r[4], "-"));
        }
        rows.addAll(nacked);
        return KubectlPrinter.table(List.of("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"),
                rows);
    }

    private static int port(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    // ---------------------------------------------------------------- endpoints

    /** One row per endpoint of every cluster: address, health from EDS, outlier state, cluster; sorted as istioctl, by address then cluster. */
    static String endpoints(JsonNode dump) {
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode d : dump.path("dynamic_endpoint_configs")) {
            JsonNode cla = d.path("endpoint_config");
            String cluster = cla.path("cluster_name").asText();
            for (JsonNode locality : cla.path("endpoints")) {
                for (JsonNode e : locality.path("lb_endpoints")) {
                    JsonNode a = e.path("endpoint").path("address").path("socket_address");
                    // UNKNOWN (unset) is healthy to Envoy's load balancer, as istioctl shows it.
                    String health = e.path("health_status").asText("HEALTHY");
                    rows.add(List.of(a.path("address").asText() + ":" + a.path("port_value").asText(),
                            health.equals("UNKNOWN") ? "HEALTHY" : health, "OK", cluster));
                }
            }
        }
        rows.sort(Comparator.comparing((List<String> r) -> r.get(0)).thenComparing(r -> r.get(3)));
        return KubectlPrinter.table(List.of("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"), rows);
    }

    private static String or(String s) {
        return s.isEmpty() ? "-" : s;
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
