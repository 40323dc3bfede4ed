package dev.ambit.istiod.config;

import io.fabric8.istio.api.api.networking.v1alpha3.Server;
import io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettingsTLSmode;
import io.fabric8.istio.api.networking.v1.Gateway;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What Istio's validation refuses in a {@code networking.istio.io} {@code Gateway}: servers
 * without a port or hosts, ports outside 1-65535, unknown protocols, hosts that are not
 * {@code [namespace/]host} with {@code *}, {@code *.suffix} or a DNS name, HTTPS or TLS servers
 * without TLS settings, and SIMPLE or MUTUAL TLS without {@code credentialName} (the only
 * certificate source a gateway proxy reads). Each problem names the field.
 */
final class IstioGatewayValidation {

    /** The protocols a gateway server may declare (Istio's names, case-insensitive). */
    static final Set<String> PROTOCOLS = Set.of("HTTP", "HTTPS", "HTTP2", "GRPC", "TCP", "TLS");

    private static final Pattern DNS_NAME =
            Pattern.compile("(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\.?");
    private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

    private IstioGatewayValidation() {
    }

    static void validate(Gateway gateway, ObjectValidator.Problems problems) {
        var spec = gateway.getSpec();
        if (spec == null) {
            problems.add("spec", "a Gateway without spec (expected: selector and servers)");
            return;
        }
        if (spec.getSelector() != null) {
            spec.getSelector().forEach((k, v) -> {
                String kp = ObjectValidator.labelKeyProblem(k);
                String vp = ObjectValidator.labelValueProblem(v);
                if (kp != null || vp != null) {
                    problems.add("spec.selector." + k, kp != null ? kp : vp);
                }
            });
        }
        List<Server> servers = spec.getServers() == null ? List.of() : spec.getServers();
        if (servers.isEmpty()) {
            problems.add("spec.servers", "no servers (expected: at least one)");
        }
        for (int i = 0; i < servers.size(); i++) {
            server("spec.servers[" + i + "]", servers.get(i), problems);
        }
    }

    private static void server(String f, Server s, ObjectValidator.Problems problems) {
        if (s == null) {
            problems.add(f, "empty server (expected: port and hosts)");
            return;
        }
        String protocol = null;
        if (s.getPort() == null) {
            problems.add(f + ".port", "missing (expected: number, protocol and name)");
        } else {
            Long n = s.getPort().getNumber();
            if (n == null || n < 1 || n > 65535) {
                problems.add(f + ".port.number", "port " + n + " (expected: 1-65535)");
            }
            Long target = s.getPort().getTargetPort();
            if (target != null && (target < 1 || target > 65535)) {
                problems.add(f + ".port.targetPort", "port " + target + " (expected: 1-65535)");
            }
            protocol = s.getPort().getProtocol() == null ? null : s.getPort().getProtocol().toUpperCase(Locale.ROOT);
            if (protocol == null || !PROTOCOLS.contains(protocol)) {
                problems.add(f + ".port.protocol", "\"" + s.getPort().getProtocol() + "\" (expected one of: "
                        + String.join(", ", PROTOCOLS.stream().sorted().toList()) + ")");
            }
        }
        List<String> hosts = s.getHosts() == null ? List.of() : s.getHosts();
        if (hosts.isEmpty()) {
            problems.add(f + ".hosts", "no hosts (expected: at least one, e.g. \"*\" or \"app.example.com\")");
        }
        for (int j = 0; j < hosts.size(); j++) {
            String problem = hostProblem(hosts.get(j));
            if (problem != null) {
                problems.add(f + ".hosts[" + j + "]", problem);
            }
        }
        tls(f, protocol, s.getTls(), problems);
    }

    /** Why {@code [namespace/]host} is not a gateway host; null when it is one. */
    static String hostProblem(String value) {
        if (value == null || value.isEmpty()) {
            return "empty host (expected: [namespace/]host)";
        }
        String host = value;
        int slash = value.indexOf('/');
        if (slash >= 0) {
            String ns = value.substring(0, slash);
            host = value.substring(slash + 1);
            if (!ns.equals("*") && !ns.equals(".") && !(ns.length() <= 63 && NAMESPACE.matcher(ns).matches())) {
                return "\"" + value + "\": namespace \"" + ns + "\" (expected: a namespace name, \".\" or \"*\")";
            }
        }
        String h = host.toLowerCase(Locale.ROOT);
        if (h.equals("*") || (h.length() <= 253 && DNS_NAME.matcher(h).matches())) {
            return null;
        }
        return "\"" + value + "\" is not a host (expected: [namespace/]host where host is \"*\", \"*.suffix\" "
                + "or a DNS name)";
    }

    private static void tls(String f, String protocol, ServerTLSSettings tls, ObjectValidator.Problems problems) {
        boolean needsTls = "HTTPS".equals(protocol) || "TLS".equals(protocol);
        if (tls == null) {
            if (needsTls) {
                problems.add(f + ".tls", "protocol " + protocol + " needs tls settings (expected: tls.mode)");
            }
            return;
        }
        ServerTLSSettingsTLSmode mode = tls.getMode();
        boolean redirectOnly = Boolean.TRUE.equals(tls.getHttpsRedirect()) && !needsTls;
        if (redirectOnly) {
            return; // an HTTP server's {httpsRedirect: true}: no TLS of its own
        }
        if (mode == null) {
            mode = ServerTLSSettingsTLSmode.SIMPLE; // Istio's default
        }
        if ("TLS".equals(protocol) && mode != ServerTLSSettingsTLSmode.PASSTHROUGH
                && mode != ServerTLSSettingsTLSmode.AUTO_PASSTHROUGH && mode != ServerTLSSettingsTLSmode.SIMPLE
                && mode != ServerTLSSettingsTLSmode.MUTUAL && mode != ServerTLSSettingsTLSmode.ISTIO_MUTUAL) {
            problems.add(f + ".tls.mode", "mode " + mode + " on a TLS server");
        }
        if ((mode == ServerTLSSettingsTLSmode.SIMPLE || mode == ServerTLSSettingsTLSmode.MUTUAL
                || mode == ServerTLSSettingsTLSmode.OPTIONAL_MUTUAL)
                && (tls.getCredentialName() == null || tls.getCredentialName().isEmpty())) {
            problems.add(f + ".tls.credentialName", "TLS mode " + mode + " needs credentialName (expected: the name "
                    + "of a Secret in the gateway's namespace; file paths are not read by Ambit's gateway)");
        }
        if ((mode == ServerTLSSettingsTLSmode.PASSTHROUGH || mode == ServerTLSSettingsTLSmode.AUTO_PASSTHROUGH)
                && !"TLS".equals(protocol)) {
            problems.add(f + ".tls.mode", "mode " + mode + " needs protocol TLS (found: " + protocol + ")");
        }
    }
}
