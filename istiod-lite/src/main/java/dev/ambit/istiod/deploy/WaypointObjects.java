package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.IstioPorts;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The objects a waypoint {@link Gateway} {@code NS/NAME} is deployed as, each named NAME in NS
 * and controlled by the Gateway (owner reference with {@code controller} and
 * {@code blockOwnerDeletion}, so deleting the Gateway deletes them): a ServiceAccount (the
 * waypoint's identity {@code spiffe://<td>/ns/NS/sa/NAME}), a Deployment running the waypoint
 * image, and a ClusterIP Service (the waypoint's VIP). Shaped as Istio's waypoint template:
 * labels {@code gateway.networking.k8s.io/gateway-name}, {@code gateway-class-name},
 * {@code gateway.istio.io/managed}, the Gateway's infrastructure labels and annotations (or its
 * own, as Istio falls back to), pods opted out of capture ({@code istio.io/dataplane-mode: none}),
 * the {@code istio-token} projected token (audience {@code istio-ca}) and the
 * {@code istio-ca-root-cert} ConfigMap at Istio's paths, uid 1337, read-only root, no capabilities.
 *
 * <p>Pure: the same Gateway and template give equal objects, so applying them again writes nothing.
 */
final class WaypointObjects {

    static final String WAYPOINT_CLASS = "istio-waypoint";
    static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
    static final String GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name";
    static final String MANAGED_LABEL = "gateway.istio.io/managed";
    static final String MANAGED_VALUE = "istio.io-mesh-controller";
    static final String DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode";
    static final String WAYPOINT_FOR_LABEL = "istio.io/waypoint-for";
    /** Istio's per-namespace copy of the mesh root, which its proxies mount at /var/run/secrets/istio. */
    static final String ROOT_CERT_CONFIG_MAP = "istio-ca-root-cert";
    static final String ROOT_CERT_KEY = "root-cert.pem";
    static final String CONTAINER = "istio-proxy";
    static final int UID = 1337;

    /** Annotations never copied from the Gateway (as Istio omits them). */
    private static final Set<String> NOT_COPIED = Set.of("kubectl.kubernetes.io/last-applied-configuration",
            "gateway.istio.io/name-override", "gateway.istio.io/service-account",
            "gateway.istio.io/controller-version");

    /** What every waypoint Deployment shares. {@code istiodAddress} is host:port of xDS and the CA. */
    record Template(String image, String istiodAddress, String trustDomain, String clusterId, String domainSuffix) {
        Template {
            requireNonNull(image, "image");
            requireNonNull(istiodAddress, "istiodAddress");
            requireNonNull(trustDomain, "trustDomain");
            requireNonNull(clusterId, "clusterId");
            requireNonNull(domainSuffix, "domainSuffix");
        }
    }

    private WaypointObjects() {}

    static ServiceAccount serviceAccount(Gateway gw) {
        return new ServiceAccountBuilder()
                .withNewMetadata()
                    .withName(name(gw)).withNamespace(namespace(gw))
                    .withLabels(labels(gw, false)).withAnnotations(annotations(gw))
                    .withOwnerReferences(owner(gw))
                .endMetadata()
                .build();
    }

    static Service service(Gateway gw) {
        return new ServiceBuilder()
                .withNewMetadata()
                    .withName(name(gw)).withNamespace(namespace(gw))
                    .withLabels(labels(gw, true)).withAnnotations(annotations(gw))
                    .withOwnerReferences(owner(gw))
                .endMetadata()
                .withNewSpec()
                    .withType("ClusterIP")
                    .withSelector(Map.of(GATEWAY_NAME_LABEL, name(gw)))
                    .withPorts(port("mesh", IstioPorts.HBONE, "all"),
                            port("status-port", IstioPorts.HEALTH, "tcp"),
                            port("metrics", IstioPorts.MERGED_METRICS, "http"))
                .endSpec()
                .build();
    }

    /** Istio's appProtocol per port: {@code all} on HBONE (any protocol tunnels through it). */
    private static ServicePort port(String name, int port, String appProtocol) {
        return new ServicePortBuilder().withName(name).withPort(port).withProtocol("TCP")
                .withAppProtocol(appProtocol).withTargetPort(new IntOrString(port)).build();
    }

    static Deployment deployment(Gateway gw, Template t) {
        String name = name(gw);
        String ns = namespace(gw);
        Map<String, String> podLabels = labels(gw, true);
        podLabels.put(DATAPLANE_MODE_LABEL, "none");
        podLabels.put("service.istio.io/canonical-name", name);
        podLabels.put("service.istio.io/canonical-revision", "latest");
        podLabels.put("sidecar.istio.io/inject", "false");
        Map<String, String> podAnnotations = annotations(gw);
        podAnnotations.put("prometheus.io/scrape", "true");
        podAnnotations.put("prometheus.io/port", String.valueOf(IstioPorts.MERGED_METRICS));
        podAnnotations.put("prometheus.io/path", "/metrics");
        return new DeploymentBuilder()
                .withNewMetadata()
                    .withName(name).withNamespace(ns)
                    .withLabels(labels(gw, true)).withAnnotations(annotations(gw))
                    .withOwnerReferences(owner(gw))
                .endMetadata()
                .withNewSpec()
                    // No replicas: the API server defaults 1 and an autoscaler or the user may
                    // change it (the writer keeps the stored count).
                    .withNewSelector().withMatchLabels(Map.of(GATEWAY_NAME_LABEL, name)).endSelector()
                    .withNewTemplate()
                        .withNewMetadata().withLabels(podLabels).withAnnotations(podAnnotations).endMetadata()
                        .withNewSpec()
                            .withServiceAccountName(name)
                            .withTerminationGracePeriodSeconds(30L)
                            .withNewSecurityContext()
                                .withRunAsNonRoot(true).withRunAsUser((long) UID).withRunAsGroup((long) UID)
                                // The projected token is readable by the pod's fsGroup.
                                .withFsGroup((long) UID)
                                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                            .endSecurityContext()
                            .addNewContainer()
                                .withName(CONTAINER)
                                .withImage(t.image())
                                .withArgs(args(gw, t))
                                .withEnv(fieldEnv("POD_NAME", "metadata.name"),
                                        fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                                        fieldEnv("INSTANCE_IP", "status.podIP"),
                                        fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"))
                                .addNewPort().withName("mesh").withContainerPort(IstioPorts.HBONE)
                                    .withProtocol("TCP").endPort()
                                .addNewPort().withName("status-port").withContainerPort(IstioPorts.HEALTH)
                                    .withProtocol("TCP").endPort()
                                .addNewPort().withName("metrics").withContainerPort(IstioPorts.MERGED_METRICS)
                                    .withProtocol("TCP").endPort()
                                // Ready once xDS and the certificate are in (Istio's probe, its numbers).
                                .withNewReadinessProbe()
                                    .withNewHttpGet().withPath("/healthz/ready")
                                        .withPort(new IntOrString(IstioPorts.HEALTH)).withScheme("HTTP").endHttpGet()
                                    .withPeriodSeconds(15).withTimeoutSeconds(1).withFailureThreshold(4)
                                .endReadinessProbe()
                                // A JVM starts slower than Envoy: up to 60 s before readiness counts.
                                .withNewStartupProbe()
                                    .withNewHttpGet().withPath("/healthz/ready")
                                        .withPort(new IntOrString(IstioPorts.HEALTH)).withScheme("HTTP").endHttpGet()
                                    .withInitialDelaySeconds(1).withPeriodSeconds(1).withTimeoutSeconds(1)
                                    .withFailureThreshold(60)
                                .endStartupProbe()
                                // Istio's waypoint defaults (values global.waypoint.resources).
                                .withNewResources()
                                    .withRequests(Map.of("cpu", new Quantity("100m"), "memory", new Quantity("128Mi")))
                                    .withLimits(Map.of("cpu", new Quantity("2"), "memory", new Quantity("1Gi")))
                                .endResources()
                                .withNewSecurityContext()
                                    .withAllowPrivilegeEscalation(false).withPrivileged(false)
                                    .withReadOnlyRootFilesystem(true)
                                    .withRunAsNonRoot(true).withRunAsUser((long) UID).withRunAsGroup((long) UID)
                                    .withNewCapabilities().withDrop("ALL").endCapabilities()
                                .endSecurityContext()
                                .addNewVolumeMount().withName("istiod-ca-cert")
                                    .withMountPath("/var/run/secrets/istio").withReadOnly(true).endVolumeMount()
                                .addNewVolumeMount().withName("istio-token")
                                    .withMountPath("/var/run/secrets/tokens").withReadOnly(true).endVolumeMount()
                                // The JVM and Netty's native libraries need a writable /tmp.
                                .addNewVolumeMount().withName("tmp").withMountPath("/tmp").endVolumeMount()
                            .endContainer()
                            .addNewVolume().withName("istiod-ca-cert")
                                .withNewConfigMap().withName(ROOT_CERT_CONFIG_MAP).endConfigMap()
                            .endVolume()
                            // A token for istiod-lite's CA only, bound to the pod, rotated by the kubelet.
                            .addNewVolume().withName("istio-token")
                                .withNewProjected().addNewSource().withNewServiceAccountToken()
                                    .withAudience("istio-ca").withExpirationSeconds(43200L).withPath("istio-token")
                                .endServiceAccountToken().endSource().endProjected()
                            .endVolume()
                            .addNewVolume().withName("tmp")
                                .withNewEmptyDir().withSizeLimit(new Quantity("64Mi")).endEmptyDir()
                            .endVolume()
                        .endSpec()
                    .endTemplate()
                .endSpec()
                .build();
    }

    /** The waypoint process's flags; {@code $(VAR)} is expanded by the kubelet from the container's env. */
    static List<String> args(Gateway gw, Template t) {
        return List.of(
                "--namespace=" + namespace(gw),
                "--name=" + name(gw),
                "--pod-name=$(POD_NAME)",
                "--pod-ip=$(INSTANCE_IP)",
                "--service-account=" + name(gw),
                "--xds-address=" + t.istiodAddress(),
                "--ca-address=" + t.istiodAddress(),
                "--trust-domain=" + t.trustDomain(),
                "--cluster-id=" + t.clusterId());
    }

    /** The mesh root for the pods of {@code namespace}, as Istio's namespace controller writes it. */
    static ConfigMap rootCert(String namespace, String rootCertPem) {
        return new ConfigMapBuilder()
                .withNewMetadata()
                    .withName(ROOT_CERT_CONFIG_MAP).withNamespace(namespace)
                    .withLabels(Map.of("istio.io/config", "true"))
                .endMetadata()
                .withData(Map.of(ROOT_CERT_KEY, rootCertPem))
                .build();
    }

    private static EnvVar fieldEnv(String name, String path) {
        return new EnvVarBuilder().withName(name)
                .withNewValueFrom().withNewFieldRef().withFieldPath(path).endFieldRef().endValueFrom().build();
    }

    /** The Gateway's infrastructure labels (its own when it sets none), then Istio's. */
    private static Map<String, String> labels(Gateway gw, boolean managed) {
        var infra = gw.getSpec().getInfrastructure();
        Map<String, String> labels = new LinkedHashMap<>(infra != null && infra.getLabels() != null
                ? infra.getLabels() : orEmpty(gw.getMetadata().getLabels()));
        labels.put(GATEWAY_NAME_LABEL, name(gw));
        labels.put(GATEWAY_CLASS_LABEL, gw.getSpec().getGatewayClassName());
        if (managed) {
            labels.put(MANAGED_LABEL, MANAGED_VALUE);
        } else {
            labels.remove(MANAGED_LABEL);
        }
        return labels;
    }

    private static Map<String, String> annotations(Gateway gw) {
        var infra = gw.getSpec().getInfrastructure();
        Map<String, String> annotations = new LinkedHashMap<>(infra != null && infra.getAnnotations() != null
                ? infra.getAnnotations() : orEmpty(gw.getMetadata().getAnnotations()));
        annotations.keySet().removeAll(NOT_COPIED);
        return annotations;
    }

    private static Map<String, String> orEmpty(Map<String, String> m) {
        return m == null ? Map.of() : m;
    }

    static OwnerReference owner(Gateway gw) {
        return new OwnerReferenceBuilder()
                .withApiVersion(gw.getApiVersion() == null ? "gateway.networking.k8s.io/v1" : gw.getApiVersion())
                .withKind("Gateway")
                .withName(name(gw))
                .withUid(gw.getMetadata().getUid())
                .withController(true)
                .withBlockOwnerDeletion(true)
                .build();
    }

    static String name(Gateway gw) {
        return gw.getMetadata().getName();
    }

    static String namespace(Gateway gw) {
        return gw.getMetadata().getNamespace();
    }
}
