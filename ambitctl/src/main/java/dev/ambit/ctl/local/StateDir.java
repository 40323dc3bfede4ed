package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.ca.CertificateAuthority;
import java.nio.file.Path;

/**
 * The layout of a local cluster's state folder ({@code --state-dir}, default
 * {@value #DEFAULT}):
 *
 * <pre>
 * cluster.json                 nodes, addresses, daemon pids (written by local up)
 * manifests/                   what the user applied, one file per object (&lt;kind&gt;.&lt;ns&gt;.&lt;name&gt;.yaml)
 * istiod/config/               what istiod-lite reads: the objects plus running Pods and Services with their VIP
 * istiod/ca/                   istiod-lite's CA (root certificate the agents trust)
 * credentials                  node credential hashes (istiod-lite)
 * nodes/&lt;node&gt;/token          the node agent's credential
 * nodes/&lt;node&gt;/pods/           one file per running pod of the node (the agent's LocalSandboxes)
 * logs/                        istiod.log, agent-&lt;node&gt;.log, controller.log, pods/&lt;ns&gt;/&lt;pod&gt;/&lt;container&gt;.log
 * status.json                  pods and services as the controller last saw them
 * </pre>
 */
public record StateDir(Path root) {

    public static final String DEFAULT = "/run/ambit/local";

    public StateDir {
        requireNonNull(root, "root");
        root = root.toAbsolutePath().normalize();
    }

    public Path clusterJson() {
        return root.resolve("cluster.json");
    }

    public Path manifests() {
        return root.resolve("manifests");
    }

    public Path istiodConfig() {
        return root.resolve("istiod").resolve("config");
    }

    /**
     * Istio's mesh config istiod-lite reads ({@code --mesh-config}: pathNormalization,
     * extensionProviders), copied here by {@code local up --mesh-config FILE} (authz, issue 15).
     */
    public Path meshConfig() {
        return root.resolve("istiod").resolve("mesh-config.yaml");
    }

    public Path istiodCa() {
        return root.resolve("istiod").resolve("ca");
    }

    /** The self-signed root istiod-lite generates on first start: what agents trust. */
    public Path rootCert() {
        return istiodCa().resolve(CertificateAuthority.SELF_SIGNED_CERT);
    }

    public Path credentials() {
        return root.resolve("credentials");
    }

    public Path node(String node) {
        return root.resolve("nodes").resolve(node);
    }

    public Path nodeToken(String node) {
        return node(node).resolve("token");
    }

    public Path nodePods(String node) {
        return node(node).resolve("pods");
    }

    /** The node agent's enrollment socket (its CNI endpoint), which the controller calls before starting a meshed pod. */
    public Path nodeCniSocket(String node) {
        return node(node).resolve("cni.sock");
    }

    public Path logs() {
        return root.resolve("logs");
    }

    public Path istiodLog() {
        return logs().resolve("istiod.log");
    }

    public Path agentLog(String node) {
        return logs().resolve("agent-" + node + ".log");
    }

    public Path controllerLog() {
        return logs().resolve("controller.log");
    }

    public Path podLogs(String namespace, String pod) {
        return logs().resolve("pods").resolve(namespace).resolve(pod);
    }

    public Path containerLog(String namespace, String pod, String container) {
        return podLogs(namespace, pod).resolve(container + ".log");
    }

    public Path statusJson() {
        return root.resolve("status.json");
    }
}
