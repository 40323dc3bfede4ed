package dev.ambit.istiod;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.config.Flags;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.webhook.WebhookConfiguration;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

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
        Duration maxDebounce,
        Path debugTokenFile,
        int webhookPort,
        String serviceName,
        String namespace,
        String webhookConfigName,
        boolean printWebhookConfiguration,
        String waypointImage) {

    /**
     * istiod-lite's Service, as Istio's ({@code istiod}): the Helm chart's Service, the name in
     * the serving certificates of 15012 and 15017 ({@code istiod.<namespace>.svc}).
     */
    public static final String DEFAULT_SERVICE_NAME = "istiod";

    /** The waypoint image unless {@code --waypoint-image} says otherwise (the charts pass the release's). */
    public static final String DEFAULT_WAYPOINT_IMAGE = "ghcr.io/ambit-mesh/waypoint:latest";

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
              --mesh-config FILE          Istio's mesh config (the istio ConfigMap's "mesh"):
                                          pathNormalization, extensionProviders (envoyExtAuthzHttp)
              --ca-dir DIR                root key and certificate, generated on first start,
                                          or Istio plug-in CA files (default ./ca)
              --cert-ttl DURATION         workload certificate lifetime (default 24h)
              --node-credentials FILE     local mode: node credential hashes (ambitctl local)
              --node-agent-sa NS/NAME     Kubernetes mode: the node agents' service account
                                          (default istio-system/ztunnel)
              --debounce DURATION         quiet time before a push (default 100ms)
              --max-debounce DURATION     longest a push waits (default 1s)
              --debug-token-file FILE     folder mode: /debug/* also answers callers sending
                                          "Authorization: Bearer <the file's token>"
                                          (otherwise loopback callers only)
              --webhook-port N            Kubernetes mode: validating webhook, HTTPS (default 15017)
              --service-name NAME         istiod-lite's Service, named in the serving certificates
                                          of 15012 and 15017: NAME.NS.svc (default istiod)
              --namespace NS              istiod-lite's namespace: its service accounts may read
                                          /debug/* (default: the root namespace)
              --webhook-config-name NAME  Kubernetes mode: the ValidatingWebhookConfiguration
                                          whose caBundle istiod-lite fills in at start
                                          (default <service-name>-validator-<namespace>)
              --print-webhook-configuration
                                          print the ValidatingWebhookConfiguration (caBundle =
                                          the root of --ca-dir) and exit
              --waypoint-image IMAGE      Kubernetes mode: the image of the waypoints deployed
                                          for Gateways of class istio-waypoint; empty: deploy
                                          none (default ghcr.io/ambit-mesh/waypoint:latest)
            durations: 500ms, 30s, 10m, 24h
            """;

    public IstiodConfig {
        if (!printWebhookConfiguration && (configDir == null) == !kubernetes) {
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
        port("webhook-port", webhookPort);
        requireNonNull(serviceName, "serviceName");
        requireNonNull(namespace, "namespace");
        requireNonNull(webhookConfigName, "webhookConfigName");
        requireNonNull(waypointImage, "waypointImage");
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
        Flags flags = Flags.parse(args, Set.of("config-dir", "kubernetes", "listen-address", "xds-port",
                "secure-port", "monitoring-port", "trust-domain", "cluster-id", "domain-suffix", "root-namespace",
                "ca-dir", "cert-ttl", "mesh-config", "node-credentials", "node-agent-sa", "debounce", "max-debounce",
                "debug-token-file", "webhook-port", "service-name", "namespace", "webhook-config-name",
                "print-webhook-configuration", "waypoint-image"),
                Set.of("kubernetes", "print-webhook-configuration"));
        MeshConfig defaults = MeshConfig.defaults();
        MeshConfig mesh = new MeshConfig(
                flags.string("trust-domain", defaults.trustDomain()),
                flags.string("cluster-id", defaults.clusterId()),
                flags.string("domain-suffix", defaults.domainSuffix()),
                flags.string("root-namespace", defaults.rootNamespace()),
                defaults.network());
        java.nio.file.Path meshFile = flags.path("mesh-config", null);
        if (meshFile != null) {
            try {
                mesh = dev.ambit.istiod.model.MeshConfigFile.read(meshFile, mesh);
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("--mesh-config: cannot read " + meshFile + ": " + e.getMessage());
            }
        }
        String serviceName = flags.string("service-name", DEFAULT_SERVICE_NAME);
        String namespace = flags.string("namespace", mesh.rootNamespace());
        return new IstiodConfig(
                flags.path("config-dir", null),
                flags.bool("kubernetes"),
                flags.string("listen-address", "0.0.0.0"),
                flags.port("xds-port", IstioPorts.ISTIOD_XDS_PLAINTEXT),
                flags.port("secure-port", IstioPorts.ISTIOD_SECURE),
                flags.port("monitoring-port", IstioPorts.CONTROL_PLANE_MONITORING),
                mesh,
                flags.path("ca-dir", Path.of("ca")),
                flags.duration("cert-ttl", "24h"),
                flags.path("node-credentials", null),
                flags.string("node-agent-sa", "istio-system/ztunnel"),
                flags.duration("debounce", "100ms"),
                flags.duration("max-debounce", "1s"),
                flags.path("debug-token-file", null),
                flags.port("webhook-port", IstioPorts.WEBHOOK),
                serviceName,
                namespace,
                flags.string("webhook-config-name", WebhookConfiguration.name(serviceName, namespace)),
                flags.bool("print-webhook-configuration"),
                flags.string("waypoint-image", DEFAULT_WAYPOINT_IMAGE));
    }

    private static void port(String flag, int p) {
        if (p < 0 || p > 65535) {
            throw new IllegalArgumentException("--" + flag + ": " + p + " (expected: 0-65535, 0 picks a free port)");
        }
    }

    private static void positive(String flag, Duration d) {
        requireNonNull(d, flag);
        Checks.positive(d, "--" + flag);
    }
}
