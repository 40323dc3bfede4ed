package dev.ambit.waypoint;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.config.Flags;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.identity.TlsContexts;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

/**
 * The waypoint's flags. A waypoint is one pod of the Deployment istiod-lite (or
 * {@code ambitctl local}'s controller) makes from a Gateway {@code NS/NAME} of class
 * {@code istio-waypoint}: it runs as service account {@code NAME} and identifies itself on
 * the xDS stream by its pod and Gateway (CONTRACT.md). Defaults are Istio's paths and ports;
 * like Istio's proxy, the pod's facts may come from the environment
 * ({@code POD_NAMESPACE}, {@code POD_NAME}, {@code INSTANCE_IP}, {@code SERVICE_ACCOUNT}), flags win.
 *
 * @param namespace the Gateway's (and pod's) namespace
 * @param name the Gateway's name
 * @param podName this pod's name (node id, metadata {@code NAME})
 * @param podIp this pod's IP (node id)
 * @param serviceAccount the pod's service account: its SPIFFE identity's; the Gateway's name by default
 * @param xdsAddress istiod-lite's ADS, {@code host:port}
 * @param caAddress istiod-lite's CA, {@code host:port}; the xDS address by default (one channel)
 * @param istiodName the name istiod-lite's serving certificate must carry (TLS)
 * @param plaintext xDS without TLS (istiod-lite's 15010); the CA is always reached over TLS
 * @param rootCert the mesh root certificate(s), PEM: trusts istiod-lite and peers
 * @param tokenFile the bearer token for the CA and xDS
 * @param trustDomain the SPIFFE trust domain
 * @param clusterId the cluster's id (node metadata {@code CLUSTER_ID})
 * @param listenAddress where the HBONE, stats and readiness listeners bind
 * @param hbonePort HBONE (the waypoint's Listener must be on this port)
 * @param adminPort admin, on loopback only: {@code /config_dump}, {@code /logging}
 * @param statsPort Prometheus {@code /metrics}
 * @param readyPort {@code /healthz/ready}
 * @param transport Netty transport: epoll or io_uring
 * @param tlsProvider BoringSSL (JDK as fallback when AUTO), or the JDK's
 * @param workerThreads the data path's event loops
 * @param drainTimeout how long open connections may finish on SIGTERM
 * @param logLevel the log specification, e.g. {@code info,dev.ambit.waypoint.config=debug}
 * @param logJson one JSON object per log line
 * @param mode waypoint (HBONE on {@code --hbone-port}) or gateway (an ingress gateway: every LDS
 *        listener's port bound on {@code --listen-address}, no HBONE listener)
 * @param labels the pod's labels (gateway mode: node metadata {@code LABELS}, how istiod-lite picks
 *        the Gateways that select this pod): {@code --label k=v} and {@code --labels-file}, sorted by key
 */
public record WaypointFlags(
        String namespace,
        String name,
        String podName,
        String podIp,
        String serviceAccount,
        String xdsAddress,
        String caAddress,
        String istiodName,
        boolean plaintext,
        Path rootCert,
        Path tokenFile,
        String trustDomain,
        String clusterId,
        String listenAddress,
        int hbonePort,
        int adminPort,
        int statsPort,
        int readyPort,
        String transport,
        TlsContexts.Provider tlsProvider,
        int workerThreads,
        Duration drainTimeout,
        String logLevel,
        boolean logJson,
        Mode mode,
        Map<String, String> labels) {

    /** What the process is: an ambient waypoint or an ingress gateway (the same engine). */
    public enum Mode {
        WAYPOINT, GATEWAY;

        static Mode parse(String v) {
            return switch (v) {
                case "waypoint" -> WAYPOINT;
                case "gateway" -> GATEWAY;
                default -> throw new IllegalArgumentException("--mode: " + v + " (expected: waypoint or gateway)");
            };
        }
    }

    static final String USAGE = """
            usage: waypoint-proxy --namespace NS --name GATEWAY --pod-ip IP [options]
              --namespace NS            the Gateway's namespace (default: $POD_NAMESPACE)
              --name NAME               the Gateway's name (gatewayClassName istio-waypoint);
                                        gateway mode: the gateway's Deployment (telemetry's source_workload)
              --pod-name NAME           this pod (default: $POD_NAME, else the Gateway's name)
              --pod-ip IP               this pod's IP (default: $INSTANCE_IP)
              --service-account SA      the pod's service account (default: $SERVICE_ACCOUNT, else the Gateway's name)
              --xds-address HOST:PORT   istiod-lite's ADS (default istiod.istio-system.svc:15012)
              --ca-address HOST:PORT    istiod-lite's CA (default: the xDS address)
              --istiod-name NAME        name in istiod-lite's certificate (default istiod.istio-system.svc)
              --plaintext               xDS without TLS (istiod-lite's 15010); the CA stays on TLS
              --root-cert FILE          mesh root certificate (default /var/run/secrets/istio/root-cert.pem)
              --token-file FILE         bearer token for the CA and xDS (default /var/run/secrets/tokens/istio-token)
              --trust-domain TD         SPIFFE trust domain (default cluster.local)
              --cluster-id ID           this cluster's id (default Kubernetes)
              --listen-address IP       where HBONE, stats and readiness listen (default 0.0.0.0)
              --hbone-port N            HBONE, the mesh port (default 15008)
              --admin-port N            admin on 127.0.0.1: /config_dump, /logging (default 15000)
              --stats-port N            Prometheus /metrics (default 15020)
              --ready-port N            /healthz/ready (default 15021)
              --transport T             epoll (default) or io_uring
              --tls-provider P          auto (default: BoringSSL, else the JDK), openssl or jdk
              --worker-threads N        data-path event loops (default: one per core)
              --drain-timeout D         connections' grace on shutdown (default 5s; durations 500ms, 30s, 10m)
              --log-level SPEC          log levels, e.g. info,dev.ambit.waypoint.config=debug (default info)
              --log-json                log lines as JSON objects
              --mode M                  waypoint (default) or gateway: an ingress gateway binding each
                                        LDS listener's port on --listen-address (no HBONE listener)
              --label K=V               a pod label (repeatable; gateway mode: node metadata LABELS)
              --labels-file FILE        pod labels, Kubernetes downward API format (k="v" per line)
              --help, --version
            """;

    public WaypointFlags {
        namespace = required(namespace, "namespace", "the Gateway's namespace; or set POD_NAMESPACE");
        name = required(name, "name", "the Gateway's name");
        podName = required(podName, "pod-name", "this pod's name; or set POD_NAME");
        podIp = required(podIp, "pod-ip", "this pod's IP; or set INSTANCE_IP");
        if (!podIp.matches("[0-9A-Fa-f:.]+")) {
            throw new IllegalArgumentException("--pod-ip: " + podIp + " (expected: an IP address)");
        }
        serviceAccount = required(serviceAccount, "service-account", "the pod's service account");
        hostPort("xds-address", requireNonNull(xdsAddress, "xdsAddress"));
        hostPort("ca-address", requireNonNull(caAddress, "caAddress"));
        requireNonNull(istiodName, "istiodName");
        requireNonNull(rootCert, "rootCert");
        requireNonNull(tokenFile, "tokenFile");
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(clusterId, "clusterId");
        requireNonNull(listenAddress, "listenAddress");
        if (!listenAddress.matches("[0-9A-Fa-f:.]+")) {
            throw new IllegalArgumentException("--listen-address: " + listenAddress + " (expected: an IP address)");
        }
        requireNonNull(transport, "transport");
        requireNonNull(tlsProvider, "tlsProvider");
        requireNonNull(drainTimeout, "drainTimeout");
        Checks.notNegative(drainTimeout, "--drain-timeout");
        requireNonNull(logLevel, "logLevel");
        requireNonNull(mode, "mode");
        labels = java.util.Collections.unmodifiableSortedMap(new java.util.TreeMap<>(requireNonNull(labels, "labels")));
        // Checked here, so a bad namespace or account fails the start with the flag named.
        try {
            SpiffeId.of(trustDomain, namespace, serviceAccount);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--trust-domain/--namespace/--service-account: " + e.getMessage(), e);
        }
    }

    /**
     * Parses {@code args}; {@code env} gives the pod's facts a flag does not.
     *
     * @throws IllegalArgumentException naming the flag and what was expected
     */
    public static WaypointFlags parse(Map<String, String> env, String... args) {
        requireNonNull(env, "env");
        Map<String, String> labels = new java.util.TreeMap<>();
        args = takeLabels(args, labels);
        Flags f = Flags.parse(args, Set.of("mode", "labels-file", "namespace", "name", "pod-name", "pod-ip", "service-account", "xds-address",
                "ca-address", "istiod-name", "plaintext", "root-cert", "token-file", "trust-domain", "cluster-id",
                "listen-address", "hbone-port", "admin-port", "stats-port", "ready-port", "transport", "tls-provider",
                "worker-threads", "drain-timeout", "log-level", "log-json"), Set.of("plaintext", "log-json"));
        String name = f.string("name", "");
        String xds = f.string("xds-address", "istiod.istio-system.svc:" + IstioPorts.ISTIOD_SECURE);
        return new WaypointFlags(
                f.string("namespace", env.getOrDefault("POD_NAMESPACE", "")),
                name,
                f.string("pod-name", env.getOrDefault("POD_NAME", name)),
                f.string("pod-ip", env.getOrDefault("INSTANCE_IP", "")),
                f.string("service-account", env.getOrDefault("SERVICE_ACCOUNT", name)),
                xds,
                f.string("ca-address", xds),
                f.string("istiod-name", "istiod.istio-system.svc"),
                f.bool("plaintext"),
                f.path("root-cert", Path.of("/var/run/secrets/istio/root-cert.pem")),
                f.path("token-file", Path.of("/var/run/secrets/tokens/istio-token")),
                f.string("trust-domain", "cluster.local"),
                f.string("cluster-id", "Kubernetes"),
                f.string("listen-address", "0.0.0.0"),
                f.port("hbone-port", IstioPorts.HBONE),
                f.port("admin-port", IstioPorts.ADMIN),
                f.port("stats-port", IstioPorts.MERGED_METRICS),
                f.port("ready-port", IstioPorts.HEALTH),
                f.string("transport", "epoll"),
                provider(f.string("tls-provider", "auto")),
                f.integer("worker-threads", Runtime.getRuntime().availableProcessors(), 1, 256),
                f.duration("drain-timeout", "5s"),
                f.string("log-level", "info"),
                f.bool("log-json"),
                Mode.parse(f.string("mode", "waypoint")),
                withLabelsFile(labels, f.has("labels-file") ? f.path("labels-file", null) : null));
    }

    /** Whether this process is an ingress gateway ({@code --mode gateway}). */
    public boolean gateway() {
        return mode == Mode.GATEWAY;
    }

    /** Removes every {@code --label K=V} (or {@code --label=K=V}) from {@code args} into {@code labels}. */
    private static String[] takeLabels(String[] args, Map<String, String> labels) {
        java.util.List<String> rest = new java.util.ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v;
            if (a.equals("--label")) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("--label: missing value (expected: KEY=VALUE)");
                }
                v = args[++i];
            } else if (a.startsWith("--label=")) {
                v = a.substring("--label=".length());
            } else {
                rest.add(a);
                continue;
            }
            int eq = v.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--label: " + v + " (expected: KEY=VALUE)");
            }
            labels.put(v.substring(0, eq), v.substring(eq + 1));
        }
        return rest.toArray(String[]::new);
    }

    /**
     * {@code labels} plus those of {@code file} (the downward API's {@code metadata.labels}
     * volume: one {@code key="value"} per line, the value a Go-quoted string); a flag's label
     * wins over the file's.
     */
    static Map<String, String> withLabelsFile(Map<String, String> labels, Path file) {
        if (file == null) {
            return labels;
        }
        java.util.List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(file, java.nio.charset.StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("--labels-file: " + file + ": cannot read: " + e.getMessage(), e);
        }
        Map<String, String> all = new java.util.TreeMap<>();
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n).strip();
            if (line.isEmpty()) {
                continue;
            }
            int eq = line.indexOf('=');
            String value = eq <= 0 ? null : unquote(line.substring(eq + 1));
            if (value == null) {
                throw new IllegalArgumentException("--labels-file: " + file + " line " + (n + 1) + ": " + line
                        + " (expected: key=\"value\")");
            }
            all.put(line.substring(0, eq), value);
        }
        all.putAll(labels);
        return all;
    }

    /** A Go-quoted string's value ({@code "a\"b"} → {@code a"b}), or null if it is not one. */
    private static String unquote(String q) {
        if (q.length() < 2 || q.charAt(0) != '"' || q.charAt(q.length() - 1) != '"') {
            return null;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 1; i < q.length() - 1; i++) {
            char c = q.charAt(i);
            if (c == '\\' && i + 1 < q.length() - 1) {
                char e = q.charAt(++i);
                b.append(switch (e) {
                    case 'n' -> '\n';
                    case 't' -> '\t';
                    default -> e;
                });
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** This waypoint's SPIFFE identity: {@code spiffe://<trust domain>/ns/<namespace>/sa/<service account>}. */
    public SpiffeId identity() {
        return SpiffeId.of(trustDomain, namespace, serviceAccount);
    }

    /**
     * Istio's node id: {@code waypoint~<pod ip>~<pod>.<ns>~<ns>.svc.cluster.local} for a waypoint,
     * {@code router~...} for a gateway (Istio's proxy type of gateways).
     */
    public String nodeId() {
        return (gateway() ? "router~" : "waypoint~") + podIp + "~" + podName + "." + namespace + "~" + namespace + ".svc.cluster.local";
    }

    /** The host and port of {@link #xdsAddress()}. */
    public InetSocketAddress xds() {
        return hostPort("xds-address", xdsAddress);
    }

    /** The host and port of {@link #caAddress()}. */
    public InetSocketAddress ca() {
        return hostPort("ca-address", caAddress);
    }

    /** Whether xDS and the CA share one channel (same address, both TLS), as the node agent's do. */
    public boolean sharedChannel() {
        return !plaintext && xdsAddress.equals(caAddress);
    }

    private static String required(String v, String flag, String expected) {
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException("--" + flag + ": missing (expected: " + expected + ")");
        }
        return v;
    }

    private static TlsContexts.Provider provider(String v) {
        return switch (v) {
            case "auto" -> TlsContexts.Provider.AUTO;
            case "openssl", "boringssl" -> TlsContexts.Provider.OPENSSL;
            case "jdk" -> TlsContexts.Provider.JDK;
            default -> throw new IllegalArgumentException("--tls-provider: " + v + " (expected: auto, openssl or jdk)");
        };
    }

    private static InetSocketAddress hostPort(String flag, String v) {
        int colon = v.lastIndexOf(':');
        if (colon <= 0 || colon == v.length() - 1) {
            throw new IllegalArgumentException("--" + flag + ": " + v + " (expected: HOST:PORT)");
        }
        String host = v.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        try {
            int port = Integer.parseInt(v.substring(colon + 1));
            if (port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
            return InetSocketAddress.createUnresolved(host, port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + flag + ": " + v + " (expected: HOST:PORT with a port 1-65535)");
        }
    }
}
