package dev.ambit.charts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** charts/base's optional Gateway API CRDs ({@code base.gatewayAPI}). */
class GatewayApiCrdsTest {

    private static final String GROUP = "gateway.networking.k8s.io";
    private static final List<String> STANDARD = List.of("gatewayclasses." + GROUP, "gateways." + GROUP,
            "httproutes." + GROUP, "grpcroutes." + GROUP, "referencegrants." + GROUP);

    /** base rendered with both options on, by name. */
    static Map<String, CustomResourceDefinition> crds;

    @BeforeAll
    static void render(@TempDir Path tmp) throws Exception {
        // A values file: helm-java's --set passes strings, which the chart's values schema refuses.
        Path on = Files.writeString(tmp.resolve("on.yaml"), "base: {gatewayAPI: {enabled: true, experimental: true}}\n");
        crds = crdsOf(Charts.render("base", on, Map.of()));
    }

    private static Map<String, CustomResourceDefinition> crdsOf(String yaml) {
        return Charts.documents(yaml).stream().map(TypedModel::typed)
                .filter(CustomResourceDefinition.class::isInstance).map(CustomResourceDefinition.class::cast)
                .collect(Collectors.toMap(c -> c.getMetadata().getName(), Function.identity()));
    }

    @Test
    void offByDefaultStandardWhenEnabledTlsRouteOnlyWithExperimental(@TempDir Path tmp) throws Exception {
        assertThat(crdsOf(Charts.render("base")).keySet()).noneMatch(n -> n.endsWith(GROUP));

        Path standard = Files.writeString(tmp.resolve("std.yaml"), "base: {gatewayAPI: {enabled: true}}\n");
        Map<String, CustomResourceDefinition> std = crdsOf(Charts.render("base", standard, Map.of()));
        assertThat(std.keySet().stream().filter(n -> n.endsWith(GROUP))).containsExactlyInAnyOrderElementsOf(STANDARD);
        assertThat(std).hasSize(8 + 5); // Istio's kinds stay

        List<String> all = new ArrayList<>(STANDARD);
        all.add("tlsroutes." + GROUP);
        assertThat(crds.keySet().stream().filter(n -> n.endsWith(GROUP))).containsExactlyInAnyOrderElementsOf(all);
        // excludedCRDs applies to them as to Istio's (the umbrella chart: ChartsTest).
        Path exclude = Files.writeString(tmp.resolve("exclude.yaml"), """
                base:
                  gatewayAPI: {enabled: true}
                  excludedCRDs: [referencegrants.gateway.networking.k8s.io]
                """);
        assertThat(crdsOf(Charts.render("base", exclude, Map.of())).keySet().stream().filter(n -> n.endsWith(GROUP)))
                .containsExactlyInAnyOrderElementsOf(STANDARD.subList(0, 4));
        // A typo in the option is Helm's error naming it.
        Path typo = Files.writeString(tmp.resolve("typo.yaml"), "base: {gatewayAPI: {enable: true}}\n");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> Charts.render("base", typo, Map.of())))
                .hasMessageContaining("enable");
    }

    @Test
    void namesScopeAndVersionsAreGatewayApisAndServeWhatIstiodLiteReads() {
        CustomResourceDefinition gc = crds.get("gatewayclasses." + GROUP);
        assertThat(gc.getSpec().getScope()).isEqualTo("Cluster");
        assertThat(gc.getSpec().getNames().getShortNames()).containsExactly("gc");
        assertThat(crds.get("gateways." + GROUP).getSpec().getNames().getShortNames()).containsExactly("gtw");
        assertThat(crds.get("referencegrants." + GROUP).getSpec().getNames().getShortNames()).containsExactly("refgrant");
        assertThat(served("gateways")).containsExactly("v1", "v1beta1");
        assertThat(served("httproutes")).containsExactly("v1", "v1beta1");
        assertThat(served("grpcroutes")).containsExactly("v1");
        assertThat(served("referencegrants")).containsExactly("v1beta1");
        assertThat(served("tlsroutes")).containsExactly("v1alpha2");

        // Every Gateway API kind istiod-lite reads, at the version it reads, is served here.
        List<Kind> read = Arrays.stream(Kind.values()).filter(k -> k.group().equals(GROUP)).toList();
        assertThat(read).isNotEmpty();
        for (Kind k : read) {
            CustomResourceDefinition crd = crds.get(k.plural() + "." + GROUP);
            assertThat(crd).as(k.kind()).isNotNull();
            assertThat(crd.getSpec().getNames().getKind()).isEqualTo(k.kind());
            assertThat(crd.getSpec().getScope().equals("Namespaced")).as(k.kind()).isEqualTo(k.namespaced());
            assertThat(served(k.plural())).as(k.kind()).contains(k.apiVersion().substring(GROUP.length() + 1));
        }

        crds.forEach((name, crd) -> {
            if (!name.endsWith(GROUP)) {
                return;
            }
            Map<String, String> annotations = crd.getMetadata().getAnnotations();
            // The API server refuses CRDs of *.k8s.io groups without it.
            assertThat(annotations.get("api-approved.kubernetes.io")).as(name).startsWith("https://github.com/kubernetes-sigs/gateway-api/");
            assertThat(annotations).as(name).containsEntry("helm.sh/resource-policy", "keep")
                    .containsEntry("gateway.networking.k8s.io/bundle-version", "v1.2.1")
                    .containsEntry("gateway.networking.k8s.io/channel", name.startsWith("tlsroutes") ? "experimental" : "standard");
            assertThat(crd.getMetadata().getLabels()).as(name).containsEntry("app.kubernetes.io/part-of", "ambit");
            assertThat(crd.getSpec().getVersions()).filteredOn(CustomResourceDefinitionVersion::getStorage).hasSize(1);
            JSONSchemaProps first = crd.getSpec().getVersions().getFirst().getSchema().getOpenAPIV3Schema();
            for (CustomResourceDefinitionVersion v : crd.getSpec().getVersions()) {
                assertThat(v.getSchema().getOpenAPIV3Schema()).as(name + " " + v.getName()).isEqualTo(first);
                assertThat(v.getSubresources().getStatus()).as(name + " " + v.getName()).isNotNull();
            }
            List<String> untyped = new ArrayList<>();
            untyped("", first, untyped);
            assertThat(untyped).as(name + ": nodes the API server would call not structural").isEmpty();
            assertThat(TypedModel.unknownFields(crd)).as(name).isEmpty();
        });
    }

    @Test
    void whatIstioUsersWriteIsAcceptedAndMistakesAreNamed() {
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: istio}
                spec: {controllerName: istio.io/gateway-controller, description: Istio's ingress}
                """)).isEmpty();
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop, labels: {istio.io/waypoint-for: service}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                """)).isEmpty();
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: Gateway
                metadata: {name: ingress, namespace: istio-ingress}
                spec:
                  gatewayClassName: istio
                  infrastructure: {labels: {team: web}}
                  listeners:
                  - name: https
                    hostname: "*.example.com"
                    port: 443
                    protocol: HTTPS
                    tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: example-cert, namespace: certs}]}
                    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {shared: "true"}}}}
                """)).isEmpty();
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: reviews, namespace: shop}
                spec:
                  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /v2}, headers: [{name: x-user, value: jason}]}]
                    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-v, value: "2"}]}}]
                    backendRefs: [{name: reviews-v2, port: 9080, weight: 90}, {name: reviews-v1, port: 9080, weight: 10}]
                    timeouts: {request: 10s}
                """)).isEmpty();
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: echo, namespace: shop}
                spec:
                  parentRefs: [{name: ingress, namespace: istio-ingress, sectionName: https}]
                  hostnames: [grpc.example.com]
                  rules: [{matches: [{method: {service: echo.Echo, method: Say}}], backendRefs: [{name: echo, port: 7070}]}]
                """)).isEmpty();
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: ingress-certs, namespace: certs}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: istio-ingress}]
                  to: [{group: "", kind: Secret}]
                """)).isEmpty();
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TLSRoute
                metadata: {name: db, namespace: shop}
                spec:
                  parentRefs: [{name: ingress, namespace: istio-ingress, sectionName: tls}]
                  hostnames: [db.example.com]
                  rules: [{backendRefs: [{name: db, port: 5432}]}]
                """)).isEmpty();

        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: bad, namespace: shop}
                spec:
                  listeners: [{name: http, port: eighty, protocol: HTTP, tls: {mode: Terminated}}]
                """)).containsExactlyInAnyOrder(
                ".spec.gatewayClassName: required",
                ".spec.listeners[0].port: eighty (expected: integer)",
                ".spec.listeners[0].tls.mode: Terminated (expected one of: [Terminate, Passthrough])");
        assertThat(validate("""
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: bad, namespace: certs}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: Gateway}]
                  to: [{group: "", kind: Secret}]
                """)).containsExactly(".spec.from[0].namespace: required");
    }

    @Test
    void theCrdsAndTheirObjectsApplyToTheMockApiServerAndReadBackTyped() {
        try (MockApiServer cluster = new MockApiServer(List.copyOf(crds.values()))) {
            for (CustomResourceDefinition crd : crds.values()) {
                cluster.client.apiextensions().v1().customResourceDefinitions().resource(crd).create();
            }
            GenericKubernetesResource gateway = Charts.documents("""
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: Gateway
                    metadata: {name: waypoint, namespace: shop}
                    spec:
                      gatewayClassName: istio-waypoint
                      listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                    """).getFirst();
            cluster.client.genericKubernetesResources(cluster.context(gateway)).inNamespace("shop").resource(gateway)
                    .create();
            // As istiod-lite reads it: its Kind's typed model.
            HasMetadata read = cluster.client.resources(Kind.GATEWAY.type()).inNamespace("shop").withName("waypoint").get();
            assertThat(read).isInstanceOf(io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway.class);
            io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway g = (io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway) read;
            assertThat(g.getSpec().getGatewayClassName()).isEqualTo("istio-waypoint");
            assertThat(g.getSpec().getListeners().getFirst().getPort()).isEqualTo(15008);
            assertThat(TypedModel.unknownFields(g)).isEmpty();
        }
    }

    private static List<String> served(String plural) {
        return crds.get(plural + "." + GROUP).getSpec().getVersions().stream().filter(v -> v.getServed())
                .map(CustomResourceDefinitionVersion::getName).toList();
    }

    private static List<String> validate(String yaml) {
        GenericKubernetesResource cr = Charts.documents(yaml).getFirst();
        String version = cr.getApiVersion().substring(cr.getApiVersion().indexOf('/') + 1);
        CustomResourceDefinition crd = crds.values().stream()
                .filter(c -> c.getSpec().getGroup().equals(GROUP) && c.getSpec().getNames().getKind().equals(cr.getKind()))
                .findFirst().orElseThrow();
        JSONSchemaProps schema = crd.getSpec().getVersions().stream().filter(v -> v.getName().equals(version))
                .findFirst().orElseThrow(() -> new AssertionError(cr.getKind() + " " + version + " is not served"))
                .getSchema().getOpenAPIV3Schema();
        return StructuralSchema.validate(Charts.SERIALIZATION.convertValue(cr, Object.class), schema);
    }

    /** The API server's structural rule: every node has a type, unless it is int-or-string or keeps anything. */
    private static void untyped(String path, JSONSchemaProps s, List<String> out) {
        boolean free = Boolean.TRUE.equals(s.getXKubernetesPreserveUnknownFields())
                || Boolean.TRUE.equals(s.getXKubernetesIntOrString());
        if ((s.getType() == null || s.getType().isEmpty()) && !free) {
            out.add(path.isEmpty() ? "(root)" : path);
        }
        if (s.getProperties() != null) {
            s.getProperties().forEach((k, v) -> untyped(path + "." + k, v, out));
        }
        if (s.getItems() != null && s.getItems().getSchema() != null) {
            untyped(path + "[]", s.getItems().getSchema(), out);
        }
        if (s.getAdditionalProperties() != null && s.getAdditionalProperties().getSchema() != null) {
            untyped(path + ".*", s.getAdditionalProperties().getSchema(), out);
        }
    }
}
