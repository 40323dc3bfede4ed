package dev.ambit.istiod;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.model.MeshConfig;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * istiod-lite's settings, from command-line flags ({@code --name=value} or
 * {@code --name value}). Exactly one config source: {@code --config-dir} (a folder of
 * manifests) or {@code --kubernetes} (the cluster from the kubeconfig or the pod's
 * service account).
 */
public record IstiodConfig(
        Path configDir,
        boolean kubernetes,
        String listenAddress,
        int xdsPort,
        int securePort,
        int monitoringPort,
        MeshConfig mesh,
        Path caDir,
        Duration certTtl,
        Path nodeCredentials,
        String nodeAgentServiceAccount,
        Duration debounce,
        Duration maxDebounce) {

    static final String USAGE = """
            usage: istiod-lite (--config-dir DIR | --kubernetes) [options]
              --config-dir DIR            read manifests from DIR and watch it
              --kubernetes                read from the cluster (kubeconfig or in-cluster)
              --listen-address ADDR       address of every listener (default 0.0.0.0)
              --xds-port N                plaintext xDS (default 15010)
              --secure-port N             xDS and CA over TLS (default 15012)
              --monitoring-port N         Prometheus /metrics, /ready, /debug (default 15014)
              --trust-domain TD           SPIFFE trust domain (default cluster.local)
              --cluster-id ID             cluster name in workload uids (default Kubernetes)
              --domain-suffix S           service DNS suffix (default cluster.local)
              --root-namespace NS         mesh-wide policies live here (default istio-system)
              --ca-dir DIR                root key and certificate, generated on first start,
                                          or Istio plug-in CA files (default ./ca)
              --cert-ttl DURATION         workload certificate lifetime (default 24h)
              --node-credentials FILE     local mode: node credential hashes (ambitctl local)
              --node-agent-sa NS/NAME     Kubernetes mode: the node agents' service account
                                          (default istio-system/ztunnel)
              --debounce DURATION         quiet time before a push (default 100ms)
              --max-debounce DURATION     longest a push waits (default 1s)
            durations: 500ms, 30s, 10m, 24h
            """;

    public IstiodConfig {
        if ((configDir == null) == !kubernetes) {
            throw new IllegalArgumentException("config source: give exactly one of --config-dir DIR or --kubernetes");
        }
        requireNonNull(listenAddress, "listenAddress");
        port("xds-port", xdsPort);
        port("secure-port", securePort);
        port("monitoring-port", monitoringPort);
        requireNonNull(mesh, "mesh");
        requireNonNull(caDir, "caDir");
        positive("cert-ttl", certTtl);
        requireNonNull(nodeAgentServiceAccount, "nodeAgentServiceAccount");
        positive("debounce", debounce);
        positive("max-debounce", maxDebounce);
    }

    public InetSocketAddress address(int port) {
        return new InetSocketAddress(listenAddress, port);
    }

    /**
     * Parses flags.
     *
     * @throws IllegalArgumentException naming the flag and what was expected
     */
    public static IstiodConfig parse(String... args) {
        Map<String, String> flags = new LinkedHashMap<>();
        List<String> booleans = List.of("kubernetes");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("argument: " + a + " (expected: --flag; see --help)");
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (booleans.contains(name)) {
                value = "true";
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("--" + name + ": missing value");
            }
            flags.put(name, value);
        }
        List<String> known = new ArrayList<>(List.of("config-dir", "kubernetes", "listen-address", "xds-port",
                "secure-port", "monitoring-port", "trust-domain", "cluster-id", "domain-suffix", "root-namespace",
                "ca-dir", "cert-ttl", "node-credentials", "node-agent-sa", "debounce", "max-debounce"));
        for (String name : flags.keySet()) {
            if (!known.contains(name)) {
                throw new IllegalArgumentException("--" + name + ": unknown flag (expected one of: --"
                        + String.join(", --", known) + ")");
            }
        }
        MeshConfig defaults = MeshConfig.defaults();
        MeshConfig mesh = new MeshConfig(
                flags.getOrDefault("trust-domain", defaults.trustDomain()),
                flags.getOrDefault("cluster-id", defaults.clusterId()),
                flags.getOrDefault("domain-suffix", defaults.domainSuffix()),
                flags.getOrDefault("root-namespace", defaults.rootNamespace()),
                defaults.network());
        return new IstiodConfig(
                flags.containsKey("config-dir") ? Path.of(flags.get("config-dir")) : null,
                Boolean.parseBoolean(flags.getOrDefault("kubernetes", "false")),
                flags.getOrDefault("listen-address", "0.0.0.0"),
                intFlag(flags, "xds-port", 15010),
                intFlag(flags, "secure-port", 15012),
                intFlag(flags, "monitoring-port", 15014),
                mesh,
                Path.of(flags.getOrDefault("ca-dir", "ca")),
                duration("cert-ttl", flags.getOrDefault("cert-ttl", "24h")),
                flags.containsKey("node-credentials") ? Path.of(flags.get("node-credentials")) : null,
                flags.getOrDefault("node-agent-sa", "istio-system/ztunnel"),
                duration("debounce", flags.getOrDefault("debounce", "100ms")),
                duration("max-debounce", flags.getOrDefault("max-debounce", "1s")));
    }

    /** "500ms", "30s", "10m", "24h", or an ISO-8601 duration. */
    static Duration duration(String flag, String v) {
        try {
            if (v.startsWith("P") || v.startsWith("p")) {
                return Duration.parse(v);
            }
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            long n = Long.parseLong(v.substring(0, v.length() - 1));
            return switch (v.charAt(v.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                default -> throw new NumberFormatException();
            };
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--" + flag + ": " + v + " (expected: a duration like 500ms, 30s, 10m, 24h)");
        }
    }

    private static int intFlag(Map<String, String> flags, String name, int fallback) {
        String v = flags.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + ": " + v + " (expected: a port number 0-65535)");
        }
    }

    private static void port(String flag, int p) {
        if (p < 0 || p > 65535) {
            throw new IllegalArgumentException("--" + flag + ": " + p + " (expected: 0-65535, 0 picks a free port)");
        }
    }

    private static void positive(String flag, Duration d) {
        requireNonNull(d, flag);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("--" + flag + ": " + d + " (expected: positive)");
        }
    }
}
