package dev.ambit.agent;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.config.Flags;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.proxy.identity.TlsContexts;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

/**
 * The node agent's flags. Defaults are a Kubernetes DaemonSet's (Istio's paths and
 * ports); {@code ambitctl local} passes the local ones.
 *
 * @param node this node's name: workloads whose {@code node} is this are enrolled here
 * @param podsDir local mode: the folder where {@code ambitctl local} reports pods
 * @param kubernetes Kubernetes mode: pods from the API server and the cgroup tree
 * @param istiod host:port of istiod-lite's TLS port (xDS and CA)
 * @param istiodName the name istiod-lite's serving certificate must carry
 * @param rootCert the mesh root certificate(s), PEM: trusts istiod-lite and peers
 * @param token the node credential (local) or service-account token (Kubernetes)
 * @param trustDomain the SPIFFE trust domain peers must belong to
 * @param cgroupRoot the cgroup v2 mount (Kubernetes mode)
 * @param bpffsRoot where the BPF programs, maps and links are pinned
 * @param adminAddress admin endpoints (localhost only: they reveal configuration)
 * @param statsPort Prometheus {@code /metrics}
 * @param readinessPort {@code /healthz/ready}
 * @param transport Netty transport: epoll, or io_uring
 * @param tlsProvider BoringSSL (with the JDK's as fallback when AUTO), or the JDK's
 * @param workerThreads the event loops of the data path
 * @param drainTimeout how long connections may finish on SIGTERM and on unenrollment
 * @param cniSocket the unix socket of the enrollment endpoint ({@code CniServer})
 * @param connectionWait how long a connection of a captured pod whose workload or certificate
 *     is not known yet waits before it is reset
 * @param log the log specification, e.g. {@code info,dev.ambit.agent.proxy=debug}
 * @param logJson one JSON object per log line instead of text
 */
public record NodeAgentConfig(
        String node,
        Path podsDir,
        boolean kubernetes,
        String istiod,
        String istiodName,
        Path rootCert,
        Path token,
        String trustDomain,
        Path cgroupRoot,
        Path bpffsRoot,
        InetSocketAddress adminAddress,
        int statsPort,
        int readinessPort,
        String transport,
        TlsContexts.Provider tlsProvider,
        int workerThreads,
        Duration drainTimeout,
        Path cniSocket,
        Duration connectionWait,
        String log,
        boolean logJson) {

    static final String USAGE = """
            usage: node-agent --node NAME (--pods-dir DIR | --kubernetes) [options]
              --node NAME              this node (default: $NODE_NAME)
              --pods-dir DIR           local mode: pods reported by ambitctl local
              --kubernetes             pods from the API server (in-cluster or kubeconfig) and the cgroup tree
              --istiod HOST:PORT       istiod-lite's xDS and CA over TLS (default istiod.istio-system.svc:15012)
              --istiod-name NAME       name in istiod-lite's certificate (default istiod.istio-system.svc)
              --root-cert FILE         mesh root certificate (default /var/run/secrets/istio/root-cert.pem)
              --token FILE             node credential or service-account token
                                       (default /var/run/secrets/tokens/istio-token)
              --trust-domain TD        SPIFFE trust domain (default cluster.local)
              --cgroup-root DIR        cgroup v2 mount (default /sys/fs/cgroup)
              --bpffs-root DIR         BPF pins (default /sys/fs/bpf/ambit)
              --admin-address IP:PORT  admin: /config_dump, /logging (default 127.0.0.1:15000)
              --stats-port N           Prometheus /metrics (default 15020)
              --readiness-port N       /healthz/ready (default 15021)
              --transport T            epoll (default) or io_uring
              --tls-provider P         auto (default: BoringSSL, else the JDK), openssl or jdk
              --worker-threads N       data-path event loops (default: one per core)
              --drain-timeout D        connections' grace on shutdown and unenrollment (default 5s)
              --cni-socket FILE        enrollment endpoint, HTTP/JSON on a unix socket (default /var/run/ambit/cni.sock)
              --connection-wait D      how long a captured pod's connections wait for its workload and
                                       certificate before they are reset (default 10s)
              --log SPEC               log levels, e.g. info,dev.ambit.agent.proxy=debug (default info)
              --log-json               log lines as JSON objects
            durations: 500ms, 30s, 10m
            """;

    public NodeAgentConfig {
        requireNonNull(node, "node");
        if (node.isBlank()) {
            throw new IllegalArgumentException("--node: missing (expected: this node's name; or set NODE_NAME)");
        }
        if ((podsDir == null) == !kubernetes) {
            throw new IllegalArgumentException("pods: give exactly one of --pods-dir DIR or --kubernetes");
        }
        requireNonNull(istiod, "istiod");
        hostPort("istiod", istiod);
        requireNonNull(istiodName, "istiodName");
        requireNonNull(rootCert, "rootCert");
        requireNonNull(token, "token");
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(cgroupRoot, "cgroupRoot");
        requireNonNull(bpffsRoot, "bpffsRoot");
        requireNonNull(adminAddress, "adminAddress");
        requireNonNull(transport, "transport");
        requireNonNull(tlsProvider, "tlsProvider");
        requireNonNull(drainTimeout, "drainTimeout");
        Checks.notNegative(drainTimeout, "--drain-timeout");
        requireNonNull(cniSocket, "cniSocket");
        requireNonNull(connectionWait, "connectionWait");
        Checks.notNegative(connectionWait, "--connection-wait");
        requireNonNull(log, "log");
    }

    /** The host and port of {@link #istiod()}. */
    public InetSocketAddress istiodAddress() {
        return hostPort("istiod", istiod);
    }

    /**
     * Parses flags; {@code nodeNameEnv} is the fallback for {@code --node}.
     *
     * @throws IllegalArgumentException naming the flag and what was expected
     */
    public static NodeAgentConfig parse(String nodeNameEnv, String... args) {
        Flags f = Flags.parse(args, Set.of("node", "pods-dir", "kubernetes", "istiod", "istiod-name", "root-cert",
                "token", "trust-domain", "cgroup-root", "bpffs-root", "admin-address", "stats-port",
                "readiness-port", "transport", "tls-provider", "worker-threads", "drain-timeout", "cni-socket",
                "connection-wait", "log", "log-json"),
                Set.of("kubernetes", "log-json"));
        InetSocketAddress admin = hostPort("admin-address", f.string("admin-address", "127.0.0.1:" + IstioPorts.ADMIN));
        return new NodeAgentConfig(
                f.string("node", nodeNameEnv == null ? "" : nodeNameEnv),
                f.path("pods-dir", null),
                f.bool("kubernetes"),
                f.string("istiod", "istiod.istio-system.svc:" + IstioPorts.ISTIOD_SECURE),
                f.string("istiod-name", "istiod.istio-system.svc"),
                f.path("root-cert", Path.of("/var/run/secrets/istio/root-cert.pem")),
                f.path("token", Path.of("/var/run/secrets/tokens/istio-token")),
                f.string("trust-domain", "cluster.local"),
                f.path("cgroup-root", Path.of("/sys/fs/cgroup")),
                f.path("bpffs-root", Path.of("/sys/fs/bpf/ambit")),
                admin,
                f.port("stats-port", IstioPorts.MERGED_METRICS),
                f.port("readiness-port", IstioPorts.HEALTH),
                f.string("transport", "epoll"),
                provider(f.string("tls-provider", "auto")),
                f.integer("worker-threads", Runtime.getRuntime().availableProcessors(), 1, 256),
                f.duration("drain-timeout", "5s"),
                f.path("cni-socket", Path.of("/var/run/ambit/cni.sock")),
                f.duration("connection-wait", "10s"),
                f.string("log", "info"),
                f.bool("log-json"));
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
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return InetSocketAddress.createUnresolved(host, port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + flag + ": " + v + " (expected: HOST:PORT with a port 0-65535)");
        }
    }
}
