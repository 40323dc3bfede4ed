package dev.ambit.charts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import dev.ambit.agent.NodeAgentConfig;
import dev.ambit.agent.NodePreparation;
import dev.ambit.cni.CniInstaller;
import dev.ambit.common.config.Flags;
import dev.ambit.ctl.Ambitctl;
import dev.ambit.istiod.IstiodConfig;
import dev.ambit.istiod.ca.CertificateAuthority;
import dev.ambit.istiod.webhook.WebhookConfiguration;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

class ChartsTest {

    @TempDir
    Path tmp;

    /** The cluster Helm's lookup sees (KUBECONFIG): empty unless a test puts something there. */
    static MockApiServer cluster;

    @BeforeAll
    static void vendorSubChartsAndStartTheCluster() throws Exception {
        // helm dependency update: the umbrella's sub-charts into charts/ambit/charts/ (git-ignored).
        new Helm(Charts.chart("ambit")).dependency().update().call();
        cluster = new MockApiServer(crds());
        cluster.writeKubeconfig();
    }

    @AfterAll
    static void stopTheCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    static List<CustomResourceDefinition> crds() {
        return Charts.documents(Charts.render("base")).stream().map(TypedModel::typed)
                .filter(CustomResourceDefinition.class::isInstance).map(CustomResourceDefinition.class::cast).toList();
    }

    @ParameterizedTest
    @ValueSource(strings = {"base", "istiod-lite", "node-agent", "gateway", "ambit"})
    void lintIsClean(String chart) {
        LintResult lint = new Helm(Charts.chart(chart)).lint().strict().call();
        assertThat(lint.isFailed()).as(String.join("\n", lint.getMessages())).isFalse();
        assertThat(lint.getMessages()).noneMatch(m -> m.contains("[ERROR]") || m.contains("[WARNING]"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"base", "istiod-lite", "node-agent", "gateway", "ambit"})
    void everyObjectIsTypedWithNoUnknownField(String chart) {
        List<GenericKubernetesResource> docs = Charts.documents(Charts.render(chart));
        assertThat(docs).isNotEmpty();
        for (GenericKubernetesResource doc : docs) {
            HasMetadata typed = TypedModel.typed(doc);
            assertThat(TypedModel.unknownFields(typed))
                    .as(chart + ": " + doc.getKind() + " " + doc.getMetadata().getName()).isEmpty();
        }
    }

    @Test
    void unknownFieldsAreFoundWhereTheyAre() {
        GenericKubernetesResource typo = Charts.documents("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: x}
                spec:
                  selector: {matchLabels: {app: x}}
                  template:
                    metadata: {labels: {app: x}}
                    spec:
                      containers:
                      - name: x
                        image: x
                        imagePullPolicyy: Always
                """).get(0);
        assertThat(TypedModel.unknownFields(TypedModel.typed(typo)))
                .containsExactly("spec.template.spec.containers[0].imagePullPolicyy");
    }

    @Test
    void umbrellaInstallsTheLot() {
        Map<String, List<String>> byKind = Charts.documents(Charts.render("ambit")).stream()
                .collect(Collectors.groupingBy(GenericKubernetesResource::getKind,
                        Collectors.mapping(r -> r.getMetadata().getName(), Collectors.toList())));
        assertThat(byKind.get("CustomResourceDefinition")).containsExactlyInAnyOrder(
                "authorizationpolicies.security.istio.io", "peerauthentications.security.istio.io",
                "requestauthentications.security.istio.io", "virtualservices.networking.istio.io",
                "destinationrules.networking.istio.io", "serviceentries.networking.istio.io",
                "gateways.networking.istio.io", "telemetries.telemetry.istio.io");
        assertThat(byKind.get("Deployment")).containsExactly("istiod");
        assertThat(byKind.get("DaemonSet")).containsExactly("ambit-node-agent");
        assertThat(byKind.get("Service")).containsExactly("istiod");
        assertThat(byKind.get("PodDisruptionBudget")).containsExactly("istiod");
        assertThat(byKind.get("Secret")).containsExactly("cacerts");
        assertThat(byKind.get("ValidatingWebhookConfiguration")).containsExactly("istiod-validator-istio-system");
    }

    @Test
    void theMeshViewIsOffByDefaultAndOnRunsAmbitctlDashboardWithOnlyThePodRights() {
        assertThat(Charts.documents(Charts.render("ambit"))).noneSatisfy(r ->
                assertThat(r.getMetadata().getName()).startsWith("ambit-dashboard"));
        String rendered = Charts.render("ambit", null, Map.of("dashboard.enabled", true,
                "dashboard.zipkinUrl", "http://zipkin.istio-system:9411", "global.hub", "registry.example/ambit",
                "global.tag", "1.2.3"));
        List<GenericKubernetesResource> docs = Charts.documents(rendered);
        for (GenericKubernetesResource doc : docs) {
            assertThat(TypedModel.unknownFields(TypedModel.typed(doc)))
                    .as(doc.getKind() + " " + doc.getMetadata().getName()).isEmpty();
        }
        Deployment d = named(docs, Deployment.class, "ambit-dashboard");
        PodSpec pod = d.getSpec().getTemplate().getSpec();
        Container c = pod.getContainers().get(0);
        assertThat(c.getImage()).isEqualTo("registry.example/ambit/ambitctl:1.2.3");

        // The arguments are ambitctl dashboard's flags: Kubernetes mode on all interfaces, the
        // agents found as this render's DaemonSet's pods and read on its monitoring port.
        CommandLine.ParseResult parsed = new CommandLine(new Ambitctl()).parseArgs(c.getArgs().toArray(String[]::new));
        CommandLine.ParseResult dashboard = parsed.subcommand();
        assertThat(dashboard.commandSpec().name()).isEqualTo("dashboard");
        assertThat(dashboard.matchedOptionValue("--kubernetes", false)).isTrue();
        assertThat(dashboard.matchedOptionValue("--address", "")).isEqualTo("0.0.0.0");
        int port = dashboard.matchedOptionValue("--port", 0);
        assertThat(port).isEqualTo(20001);
        assertThat(dashboard.matchedOptionValue("--prometheus", (Object) null)).hasToString(
                "http://prometheus.istio-system:9090");
        assertThat(dashboard.matchedOptionValue("--zipkin", (Object) null)).hasToString("http://zipkin.istio-system:9411");
        DaemonSet agents = named(docs, DaemonSet.class, "ambit-node-agent");
        assertThat(dashboard.matchedOptionValue("--agent-namespace", "")).isEqualTo(agents.getMetadata().getNamespace());
        String selector = dashboard.matchedOptionValue("--agent-selector", "");
        for (String kv : selector.split(",")) {
            String[] p = kv.split("=", 2);
            assertThat(agents.getSpec().getTemplate().getMetadata().getLabels()).containsEntry(p[0], p[1]);
            assertThat(agents.getSpec().getSelector().getMatchLabels()).containsEntry(p[0], p[1]);
        }
        assertThat(dashboard.matchedOptionValue("--agent-access", "")).isEqualTo("pod-ip");
        int agentPort = dashboard.matchedOptionValue("--agent-port", 0);
        assertThat(agents.getSpec().getTemplate().getSpec().getContainers().get(0).getPorts())
                .anySatisfy(p -> assertThat(p.getContainerPort()).isEqualTo(agentPort));
        assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(port);
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz/ready");
        assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(mount(c, "tmp").getMountPath()).isEqualTo("/tmp");
        assertThat(d.getSpec().getTemplate().getMetadata().getLabels()).containsEntry("istio.io/dataplane-mode", "none");

        // Its Service reaches that port; ClusterIP only (the view has no login).
        Service svc = named(docs, Service.class, "ambit-dashboard");
        assertThat(svc.getSpec().getType()).isEqualTo("ClusterIP");
        assertThat(svc.getSpec().getSelector()).isEqualTo(d.getSpec().getSelector().getMatchLabels());
        assertThat(svc.getSpec().getPorts()).singleElement().satisfies(p ->
                assertThat(p.getTargetPort().getIntVal()).isEqualTo(port));

        // RBAC: list and watch pods (its one informer), bound to its own service account, nothing else.
        ClusterRole role = named(docs, ClusterRole.class, "ambit-dashboard-" + Charts.NAMESPACE);
        assertThat(role.getRules()).singleElement().satisfies(r -> {
            assertThat(r.getApiGroups()).containsExactly("");
            assertThat(r.getResources()).containsExactly("pods");
            assertThat(r.getVerbs()).containsExactly("list", "watch");
        });
        ClusterRoleBinding binding = named(docs, ClusterRoleBinding.class, "ambit-dashboard-" + Charts.NAMESPACE);
        assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
        assertThat(binding.getSubjects()).singleElement().satisfies(sub -> {
            assertThat(sub.getName()).isEqualTo(pod.getServiceAccountName());
            assertThat(sub.getNamespace()).isEqualTo(Charts.NAMESPACE);
        });
        assertThat(named(docs, ServiceAccount.class, pod.getServiceAccountName())).isNotNull();

        // An empty URL leaves the flag out; a URL that is not http(s) is refused by the schema.
        Container none = named(Charts.documents(Charts.render("ambit", null, Map.of("dashboard.enabled", true,
                "dashboard.prometheusUrl", ""))), Deployment.class, "ambit-dashboard")
                .getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(none.getArgs()).noneMatch(a -> a.startsWith("--prometheus") || a.startsWith("--zipkin"));
        assertThatThrownBy(() -> Charts.render("ambit", null, Map.of("dashboard.enabled", true,
                "dashboard.prometheusUrl", "prometheus:9090"))).hasMessageContaining("prometheusUrl");
    }

    static <T extends HasMetadata> T named(List<GenericKubernetesResource> docs, Class<T> type, String name) {
        return docs.stream().map(TypedModel::typed).filter(type::isInstance).map(type::cast)
                .filter(o -> o.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name));
    }

    @Test
    void umbrellaInstallsGatewayApiCrdsOnlyWhenAsked() throws Exception {
        // Off by default (umbrellaInstallsTheLot lists the CRDs); the base chart's base.gatewayAPI through the umbrella.
        Path on = Files.writeString(tmp.resolve("gateway-api.yaml"), "base: {base: {gatewayAPI: {enabled: true}}}\n");
        assertThat(Charts.documents(Charts.render("ambit", on, Map.of())).stream()
                .filter(r -> r.getKind().equals("CustomResourceDefinition")).map(r -> r.getMetadata().getName())
                .filter(n -> n.endsWith(".gateway.networking.k8s.io")))
                .containsExactlyInAnyOrder("gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io",
                        "httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io",
                        "referencegrants.gateway.networking.k8s.io");
    }

    @Test
    void crdsAreStructural() {
        List<CustomResourceDefinition> crds = crds();
        assertThat(crds).hasSize(8);
        for (CustomResourceDefinition crd : crds) {
            assertThat(crd.getSpec().getPreserveUnknownFields()).as(crd.getMetadata().getName()).isNotEqualTo(true);
            crd.getSpec().getVersions().forEach(v -> {
                assertThat(v.getSchema().getOpenAPIV3Schema().getType()).as(crd.getMetadata().getName()).isEqualTo("object");
                assertThat(v.getSchema().getOpenAPIV3Schema().getProperties()).containsKey("spec");
            });
            assertThat(crd.getSpec().getVersions()).filteredOn(v -> v.getStorage()).hasSize(1);
        }
    }

    @Test
    void istiodArgumentsAreIstiodLitesFlags() {
        Deployment d = only(Charts.render("istiod-lite", null, Map.of("global.trustDomain", "example.org",
                "global.clusterName", "east")), Deployment.class);
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        IstiodConfig config = IstiodConfig.parse(c.getArgs().toArray(String[]::new));
        assertThat(config.kubernetes()).isTrue();
        assertThat(config.mesh().trustDomain()).isEqualTo("example.org");
        assertThat(config.mesh().clusterId()).isEqualTo("east");
        assertThat(config.mesh().rootNamespace()).isEqualTo(Charts.NAMESPACE);
        assertThat(config.nodeAgentServiceAccount()).isEqualTo("istio-system/ambit-node-agent");
        assertThat(config.caDir()).isEqualTo(Path.of("/etc/cacerts"));
        assertThat(mount(c, "cacerts").getMountPath()).isEqualTo("/etc/cacerts");
        assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(config.monitoringPort());
        assertThat(d.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsNonRoot()).isTrue();
    }

    @Test
    void theWaypointDeployerGetsItsImageAndExactlyItsRbac() {
        String rendered = Charts.render("istiod-lite", null, Map.of("global.hub", "registry.example/ambit",
                "global.tag", "1.2.3"));
        Container c = only(rendered, Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(IstiodConfig.parse(c.getArgs().toArray(String[]::new)).waypointImage())
                .isEqualTo("registry.example/ambit/waypoint:1.2.3");
        ClusterRole role = only(rendered, ClusterRole.class);
        assertThat(role.getRules()).anySatisfy(r -> {
            assertThat(r.getApiGroups()).containsExactly("apps");
            assertThat(r.getResources()).containsExactly("deployments");
            assertThat(r.getVerbs()).containsExactlyInAnyOrder("get", "create", "update", "patch");
        });
        assertThat(role.getRules()).anySatisfy(r -> {
            assertThat(r.getResources()).containsExactly("gateways/status", "httproutes/status", "grpcroutes/status",
                    "tlsroutes/status");
            assertThat(r.getVerbs()).contains("update");
        });
        assertThat(role.getRules()).anySatisfy(r -> {
            assertThat(r.getResources()).containsExactly("configmaps");
            assertThat(r.getResourceNames()).containsExactly("istio-ca-root-cert");
        });

        // Disabled: no deployer in istiod-lite, none of its rules.
        String off = Charts.render("istiod-lite", null, Map.of("deployer.enabled", false));
        Container offC = only(off, Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(IstiodConfig.parse(offC.getArgs().toArray(String[]::new)).waypointImage()).isEmpty();
        assertThat(only(off, ClusterRole.class).getRules()).noneSatisfy(r ->
                assertThat(r.getApiGroups()).contains("apps"));
        // istio-ca-root-cert is istiod-lite's in every namespace (deploy.RootCertPublisher), deployer or not.
        assertThat(only(off, ClusterRole.class).getRules()).anySatisfy(r -> {
            assertThat(r.getResources()).containsExactly("configmaps");
            assertThat(r.getResourceNames()).containsExactly("istio-ca-root-cert");
            assertThat(r.getVerbs()).containsExactlyInAnyOrder("get", "list", "watch", "update", "patch");
        });
        assertThat(only(off, ClusterRole.class).getRules()).anySatisfy(r -> {
            assertThat(r.getResources()).containsExactly("configmaps");
            assertThat(r.getResourceNames()).isEmpty();
            assertThat(r.getVerbs()).containsExactly("create");
        });
    }

    @Test
    void theWebhookIsRegisteredAsIstiodLitePrintsItAndPointsAtItsService() {
        String rendered = Charts.render("istiod-lite");
        Container c = only(rendered, Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
        IstiodConfig config = IstiodConfig.parse(c.getArgs().toArray(String[]::new));
        assertThat(config.serviceName()).isEqualTo(IstiodConfig.DEFAULT_SERVICE_NAME);
        assertThat(config.namespace()).isEqualTo(Charts.NAMESPACE);

        // The Service istiod-lite's certificates name, 443 -> the webhook port.
        Service service = only(rendered, Service.class);
        assertThat(service.getMetadata().getName()).isEqualTo(config.serviceName());
        assertThat(service.getSpec().getPorts()).anySatisfy(p -> {
            assertThat(p.getPort()).isEqualTo(443);
            assertThat(p.getTargetPort().getIntVal()).isEqualTo(config.webhookPort());
        });

        // The chart's configuration is what --print-webhook-configuration prints, caBundle aside
        // (istiod-lite fills it in at start, into the object --webhook-config-name names).
        ValidatingWebhookConfiguration chart = only(rendered, ValidatingWebhookConfiguration.class);
        ValidatingWebhookConfiguration printed = (ValidatingWebhookConfiguration) TypedModel.typed(
                Charts.documents(WebhookConfiguration.yaml(config.serviceName(), config.namespace(), "x")).get(0));
        assertThat(chart.getMetadata().getName()).isEqualTo(config.webhookConfigName())
                .isEqualTo(printed.getMetadata().getName());
        assertThat(chart.getWebhooks()).hasSize(2).allSatisfy(w -> {
            assertThat(w.getClientConfig().getCaBundle()).isNull();
            assertThat(w.getClientConfig().getService().getPath()).isEqualTo("/validate");
        });
        printed.getWebhooks().forEach(w -> w.getClientConfig().setCaBundle(null));
        assertThat(chart.getWebhooks()).isEqualTo(printed.getWebhooks());
        // Istio's groups fail closed; Gateway API's, shared with other implementations, fail open.
        assertThat(chart.getWebhooks().get(0).getFailurePolicy()).isEqualTo("Fail");
        assertThat(chart.getWebhooks().get(0).getRules().getFirst().getApiGroups())
                .containsExactly("security.istio.io", "networking.istio.io", "telemetry.istio.io");
        assertThat(chart.getWebhooks().get(1).getFailurePolicy()).isEqualTo("Ignore");
        assertThat(chart.getWebhooks().get(1).getRules().getFirst().getResources())
                .containsExactly("gateways", "httproutes", "grpcroutes");

        // istiod-lite may get and patch that one object, and no other.
        ClusterRole role = only(rendered, ClusterRole.class);
        assertThat(role.getRules()).filteredOn(r -> r.getApiGroups().contains("admissionregistration.k8s.io"))
                .singleElement().satisfies(r -> {
                    assertThat(r.getResources()).containsExactly("validatingwebhookconfigurations");
                    assertThat(r.getResourceNames()).containsExactly(config.webhookConfigName());
                    assertThat(r.getVerbs()).containsExactlyInAnyOrder("get", "update", "patch");
                });
    }

    @Test
    void istiodMayListAndWatchEveryKindItReads() {
        ClusterRole role = only(Charts.render("istiod-lite"), ClusterRole.class);
        for (dev.ambit.istiod.config.Kind kind : dev.ambit.istiod.config.Kind.values()) {
            assertThat(role.getRules()).as("a rule reading %s", kind.qualifiedName()).anySatisfy(r -> {
                assertThat(r.getApiGroups()).contains(kind.group());
                assertThat(r.getResources()).contains(kind.plural());
                assertThat(r.getVerbs()).contains("get", "list", "watch");
                assertThat(r.getResourceNames()).isNullOrEmpty();
            });
        }
    }

    @Test
    void nodeAgentDaemonSetCarriesWhatTheAgentNeedsAndNoMore() {
        DaemonSet ds = only(Charts.render("node-agent"), DaemonSet.class);
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        Container agent = pod.getContainers().get(0);

        // Its arguments are the agent's flags, pointing where the volumes are mounted.
        NodeAgentConfig config = NodeAgentConfig.parse("node-1", agent.getArgs().toArray(String[]::new));
        assertThat(config.kubernetes()).isTrue();
        assertThat(config.istiod()).isEqualTo("istiod.istio-system.svc:15012");
        assertThat(config.istiodName()).isEqualTo("istiod.istio-system.svc");
        assertThat(config.cgroupRoot()).isEqualTo(Path.of(mount(agent, "cgroup").getMountPath()));
        assertThat(config.bpffsRoot().startsWith(mount(agent, "bpffs").getMountPath())).isTrue();
        assertThat(config.rootCert().startsWith(mount(agent, "root-cert").getMountPath())).isTrue();
        assertThat(config.token()).isEqualTo(Path.of(mount(agent, "istio-token").getMountPath(), "istio-token"));
        assertThat(agent.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("NODE_NAME");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
        });

        // Non-privileged, exactly these capabilities, read-only root.
        var sc = agent.getSecurityContext();
        assertThat(sc.getPrivileged()).isFalse();
        assertThat(sc.getReadOnlyRootFilesystem()).isTrue();
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(sc.getCapabilities().getAdd())
                .containsExactlyInAnyOrder("BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE");
        assertThat(mount(agent, "bpffs").getMountPropagation()).isEqualTo("HostToContainer");
        assertThat(mount(agent, "cgroup").getMountPropagation()).isEqualTo("HostToContainer");
        assertThat(mount(agent, "cgroup").getReadOnly()).isTrue();

        // The init container mounts for the host (Bidirectional), the only privileged part.
        Container init = pod.getInitContainers().get(0);
        assertThat(init.getSecurityContext().getPrivileged()).isTrue();
        assertThat(mount(init, "bpffs").getMountPropagation()).isEqualTo("Bidirectional");
        assertThat(mount(init, "cgroup").getMountPropagation()).isEqualTo("Bidirectional");
        // Its flags are --prepare-node's, preparing exactly what the agent then uses.
        Flags prepare = Flags.parse(init.getArgs().toArray(String[]::new), NodePreparation.FLAGS, Set.of("prepare-node"));
        assertThat(prepare.bool("prepare-node")).isTrue();
        assertThat(prepare.path("cgroup-root", null)).isEqualTo(config.cgroupRoot());
        assertThat(prepare.path("bpffs-root", null)).isEqualTo(config.bpffsRoot());

        Volume token = volume(pod, "istio-token");
        assertThat(token.getProjected().getSources().get(0).getServiceAccountToken().getAudience()).isEqualTo("istio-ca");
        assertThat(volume(pod, "root-cert").getSecret().getItems()).singleElement()
                .satisfies(i -> assertThat(i.getKey()).isEqualTo("root-cert.pem"));
        assertThat(agent.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(config.readinessPort());
        assertThat(agent.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz/ready");
        assertThat(ds.getSpec().getTemplate().getMetadata().getLabels()).containsEntry("istio.io/dataplane-mode", "none");
        assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
        assertThat(pod.getTolerations()).singleElement().satisfies(t -> {
            assertThat(t.getOperator()).isEqualTo("Exists");
            assertThat(t.getKey()).isNull();
        });
        var rolling = ds.getSpec().getUpdateStrategy().getRollingUpdate();
        assertThat(rolling.getMaxSurge().getIntVal()).isEqualTo(1);
        assertThat(rolling.getMaxUnavailable().getIntVal()).isZero();
    }

    @Test
    void installCniContainerChainsThePluginToTheAgentsSocket() {
        PodSpec pod = only(Charts.render("node-agent"), DaemonSet.class).getSpec().getTemplate().getSpec();
        Container agent = pod.getContainers().get(0);
        Container install = pod.getContainers().stream().filter(c -> c.getName().equals("install-cni")).findFirst()
                .orElseThrow();
        NodeAgentConfig config = NodeAgentConfig.parse("node-1", agent.getArgs().toArray(String[]::new));
        Flags flags = Flags.parse(install.getArgs().toArray(String[]::new), CniInstaller.FLAGS, Set.of("install-cni"));
        assertThat(flags.bool("install-cni")).isTrue();
        // The socket the plugin is told (a host path) is the one the agent binds (through its mount).
        Path hostSocket = flags.path("agent-socket", null);
        VolumeMount socketMount = mount(agent, "cni-socket");
        assertThat(config.cniSocket().getParent()).isEqualTo(Path.of(socketMount.getMountPath()));
        assertThat(socketMount.getReadOnly()).isNotEqualTo(Boolean.TRUE);
        assertThat(hostSocket).isEqualTo(Path.of(volume(pod, "cni-socket").getHostPath().getPath(),
                config.cniSocket().getFileName().toString()));
        // The host's CNI folders, where the installer writes them.
        assertThat(flags.path("cni-bin-dir", null)).isEqualTo(Path.of(mount(install, "cni-bin-dir").getMountPath()));
        assertThat(flags.path("cni-conf-dir", null)).isEqualTo(Path.of(mount(install, "cni-net-dir").getMountPath()));
        assertThat(volume(pod, "cni-bin-dir").getHostPath().getPath()).isEqualTo("/opt/cni/bin");
        assertThat(volume(pod, "cni-net-dir").getHostPath().getPath()).isEqualTo("/etc/cni/net.d");
        // The agent's own namespace is never sent to it (it would wait for itself).
        assertThat(flags.string("exclude-namespaces", "").split(",")).containsExactly("kube-system", "istio-system");
        assertThat(flags.string("daemonset", null)).isEqualTo("ambit-node-agent");
        assertThat(install.getEnv()).anySatisfy(e -> assertThat(e.getValueFrom().getFieldRef().getFieldPath())
                .isEqualTo("metadata.namespace"));
        var sc = install.getSecurityContext();
        assertThat(sc.getPrivileged()).isFalse();
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(sc.getCapabilities().getAdd()).isNullOrEmpty();

        PodSpec k3s = only(Charts.render("node-agent", null, Map.of("global.platform", "k3s")), DaemonSet.class)
                .getSpec().getTemplate().getSpec();
        assertThat(volume(k3s, "cni-bin-dir").getHostPath().getPath()).isEqualTo("/var/lib/rancher/k3s/data/current/bin");
        assertThat(volume(k3s, "cni-net-dir").getHostPath().getPath())
                .isEqualTo("/var/lib/rancher/k3s/agent/etc/cni/net.d");
        PodSpec off = only(Charts.render("node-agent", null, Map.of("cni.enabled", "false")), DaemonSet.class)
                .getSpec().getTemplate().getSpec();
        assertThat(off.getContainers()).extracting(Container::getName).containsExactly("node-agent");
        assertThat(off.getVolumes()).noneSatisfy(v -> assertThat(v.getName()).startsWith("cni-"));
        assertThatThrownBy(() -> Charts.render("node-agent", null, Map.of("cni.timeout", "90s")))
                .hasMessageContaining("timeout");
    }

    @Test
    void platformAndCgroupRootValues() {
        DaemonSet hybrid = only(Charts.render("node-agent", null, Map.of("cgroupRoot", "/sys/fs/cgroup/unified")),
                DaemonSet.class);
        assertThat(volume(hybrid.getSpec().getTemplate().getSpec(), "cgroup").getHostPath().getPath())
                .isEqualTo("/sys/fs/cgroup/unified");
        List<GenericKubernetesResource> gke = Charts.documents(
                Charts.render("node-agent", null, Map.of("global.platform", "gke")));
        assertThat(gke).anySatisfy(r -> assertThat(r.getKind()).isEqualTo("ResourceQuota"));
        assertThat(Charts.documents(Charts.render("node-agent")))
                .noneSatisfy(r -> assertThat(r.getKind()).isEqualTo("ResourceQuota"));
    }

    @Test
    void generatedCaSecretIsOneIstiodLiteSignsWith() throws Exception {
        Secret secret = only(Charts.render("istiod-lite"), Secret.class);
        Path dir = Files.createDirectory(tmp.resolve("cacerts"));
        for (Map.Entry<String, String> e : secret.getData().entrySet()) {
            Files.write(dir.resolve(e.getKey()), Base64.getDecoder().decode(e.getValue()));
        }
        assertThat(secret.getData()).containsOnlyKeys(CertificateAuthority.PLUGIN_CERT, CertificateAuthority.PLUGIN_KEY,
                CertificateAuthority.PLUGIN_ROOT, CertificateAuthority.PLUGIN_CHAIN);
        CertificateAuthority ca = CertificateAuthority.of(dir);
        assertThat(ca).isNotNull();
        assertThat(secret.getMetadata().getAnnotations()).containsEntry("helm.sh/resource-policy", "keep");
    }

    @Test
    void valuesViolatingTheSchemaAreRefusedNamingTheValue() throws Exception {
        Path values = Files.writeString(tmp.resolve("bad.yaml"), """
                global:
                  imagePullPolicy: Sometimes
                """);
        assertThatThrownBy(() -> Charts.render("istiod-lite", values, Map.of()))
                .hasMessageContaining("/global/imagePullPolicy")
                .hasMessageContaining("'Always', 'IfNotPresent', 'Never'");
        Path agent = Files.writeString(tmp.resolve("agent.yaml"), """
                nodeAgent:
                  drainTimeout: soon
                """);
        assertThatThrownBy(() -> Charts.render("ambit", agent, Map.of()))
                .hasMessageContaining("drainTimeout");
        assertThatThrownBy(() -> Charts.render("node-agent", null, Map.of("tolerance", "x")))
                .hasMessageContaining("tolerance");
    }

    static <T> T only(String yaml, Class<T> type) {
        List<T> found = new ArrayList<>();
        for (GenericKubernetesResource doc : Charts.documents(yaml)) {
            HasMetadata typed = TypedModel.typed(doc);
            if (type.isInstance(typed)) {
                found.add(type.cast(typed));
            }
        }
        assertThat(found).as(type.getSimpleName()).hasSize(1);
        return found.get(0);
    }

    static VolumeMount mount(Container c, String volume) {
        return c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst()
                .orElseThrow(() -> new AssertionError(c.getName() + ": no mount of " + volume));
    }

    static Volume volume(PodSpec pod, String name) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no volume " + name));
    }
}
