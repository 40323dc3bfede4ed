package dev.ambit.charts;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import io.fabric8.istio.api.api.networking.v1alpha3.ServiceEntryLocation;
import io.fabric8.istio.api.api.networking.v1alpha3.ServiceEntryResolution;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLSMode;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The base chart's CRDs (written from {@code charts/base/files/kinds/}): named and versioned
 * as Istio publishes the kinds, structural, and in step with what istiod-lite's
 * {@code ObjectDecoder} reads: every field of the enforced kinds' models, the same enums.
 */
class CrdSchemaTest {

    /** The CRDs of a default render of the base chart, by name. */
    static Map<String, CustomResourceDefinition> crds;

    @BeforeAll
    static void render() {
        crds = crdsOf(Charts.render("base"));
    }

    private static Map<String, CustomResourceDefinition> crdsOf(String yaml) {
        return Charts.documents(yaml).stream().map(TypedModel::typed)
                .filter(CustomResourceDefinition.class::isInstance).map(CustomResourceDefinition.class::cast)
                .collect(Collectors.toMap(c -> c.getMetadata().getName(), Function.identity()));
    }

    /** One kind as Istio publishes it: names, served versions (the storage one first). */
    private record Published(String kind, String shortName, String category, List<String> versions) {}

    @Test
    void namesAndVersionsAreTheOnesIstioPublishes() {
        List<String> networking = List.of("v1", "v1alpha3", "v1beta1");
        Map<String, Published> expected = Map.of(
                "authorizationpolicies.security.istio.io",
                new Published("AuthorizationPolicy", "ap", "security-istio-io", List.of("v1", "v1beta1")),
                "peerauthentications.security.istio.io",
                new Published("PeerAuthentication", "pa", "security-istio-io", List.of("v1", "v1beta1")),
                "requestauthentications.security.istio.io",
                new Published("RequestAuthentication", "ra", "security-istio-io", List.of("v1", "v1beta1")),
                "virtualservices.networking.istio.io",
                new Published("VirtualService", "vs", "networking-istio-io", networking),
                "destinationrules.networking.istio.io",
                new Published("DestinationRule", "dr", "networking-istio-io", networking),
                "serviceentries.networking.istio.io",
                new Published("ServiceEntry", "se", "networking-istio-io", networking),
                "gateways.networking.istio.io",
                new Published("Gateway", "gw", "networking-istio-io", networking),
                // Istio serves Telemetry v1 but still stores v1alpha1.
                "telemetries.telemetry.istio.io",
                new Published("Telemetry", "telemetry", "telemetry-istio-io", List.of("v1alpha1", "v1")));
        assertThat(crds.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
        expected.forEach((name, p) -> {
            CustomResourceDefinition crd = crds.get(name);
            var spec = crd.getSpec();
            var names = spec.getNames();
            String plural = name.substring(0, name.indexOf('.'));
            assertThat(spec.getGroup()).as(name).isEqualTo(name.substring(name.indexOf('.') + 1));
            assertThat(spec.getScope()).as(name).isEqualTo("Namespaced");
            assertThat(names.getKind()).as(name).isEqualTo(p.kind());
            assertThat(names.getListKind()).as(name).isEqualTo(p.kind() + "List");
            assertThat(names.getPlural()).as(name).isEqualTo(plural);
            assertThat(names.getSingular()).as(name).isEqualTo(p.kind().toLowerCase());
            assertThat(names.getShortNames()).as(name).containsExactly(p.shortName());
            assertThat(names.getCategories()).as(name).containsExactly("istio-io", p.category());
            assertThat(spec.getVersions()).as(name).extracting(CustomResourceDefinitionVersion::getName)
                    .containsExactlyInAnyOrderElementsOf(p.versions());
            assertThat(spec.getVersions()).as(name).allMatch(CustomResourceDefinitionVersion::getServed);
            assertThat(spec.getVersions()).as(name).filteredOn(CustomResourceDefinitionVersion::getStorage)
                    .extracting(CustomResourceDefinitionVersion::getName).containsExactly(p.versions().getFirst());
            // Uninstalling must not delete every user's policies with their CRD.
            assertThat(crd.getMetadata().getAnnotations()).as(name).containsEntry("helm.sh/resource-policy", "keep");
            assertThat(crd.getMetadata().getLabels()).as(name).containsEntry("app.kubernetes.io/part-of", "ambit");
        });
    }

    @Test
    void everyVersionSharesOneStructuralSchemaWithAStatusSubresource() {
        crds.forEach((name, crd) -> {
            List<CustomResourceDefinitionVersion> versions = crd.getSpec().getVersions();
            JSONSchemaProps first = versions.getFirst().getSchema().getOpenAPIV3Schema();
            for (CustomResourceDefinitionVersion v : versions) {
                JSONSchemaProps root = v.getSchema().getOpenAPIV3Schema();
                assertThat(root).as(name + " " + v.getName()).isEqualTo(first);
                assertThat(v.getSubresources().getStatus()).as(name + " " + v.getName()).isNotNull();
                assertThat(v.getAdditionalPrinterColumns()).as(name).extracting(c -> c.getName()).endsWith("Age");
            }
            assertThat(first.getProperties()).as(name).containsOnlyKeys("spec", "status");
            assertThat(first.getProperties().get("status").getXKubernetesPreserveUnknownFields()).as(name).isTrue();
            List<String> untyped = new ArrayList<>();
            untyped("", first, untyped);
            assertThat(untyped).as(name + ": nodes the API server would call not structural").isEmpty();
        });
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

    @Test
    void theEnforcedKindsListEveryFieldOfTheDecodersModel() {
        // The API server prunes what a schema does not list: a field the decoder reads but the
        // CRD lacks would silently vanish from policies stored in the cluster.
        JSONSchemaProps ap = spec("authorizationpolicies.security.istio.io");
        assertSameFields("AuthorizationPolicy spec", ap, io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicy.class);
        JSONSchemaProps rule = ap.getProperties().get("rules").getItems().getSchema();
        assertSameFields("rules[]", rule, io.fabric8.istio.api.api.security.v1beta1.Rule.class);
        JSONSchemaProps from = rule.getProperties().get("from").getItems().getSchema();
        assertSameFields("from[]", from, io.fabric8.istio.api.api.security.v1beta1.RuleFrom.class);
        assertSameFields("source", from.getProperties().get("source"), io.fabric8.istio.api.api.security.v1beta1.Source.class);
        JSONSchemaProps to = rule.getProperties().get("to").getItems().getSchema();
        assertSameFields("to[]", to, io.fabric8.istio.api.api.security.v1beta1.RuleTo.class);
        assertSameFields("operation", to.getProperties().get("operation"), io.fabric8.istio.api.api.security.v1beta1.Operation.class);
        assertSameFields("when[]", rule.getProperties().get("when").getItems().getSchema(),
                io.fabric8.istio.api.api.security.v1beta1.Condition.class);
        assertSameFields("selector", ap.getProperties().get("selector"), io.fabric8.istio.api.api.type.v1beta1.WorkloadSelector.class);
        assertSameFields("targetRef", ap.getProperties().get("targetRef"),
                io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference.class);
        assertSameFields("provider", ap.getProperties().get("provider"),
                io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyExtensionProvider.class);

        JSONSchemaProps pa = spec("peerauthentications.security.istio.io");
        assertSameFields("PeerAuthentication spec", pa, io.fabric8.istio.api.api.security.v1beta1.PeerAuthentication.class);
        assertSameFields("mtls", pa.getProperties().get("mtls"),
                io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLS.class);
        assertThat(pa.getProperties().get("portLevelMtls").getAdditionalProperties().getSchema())
                .isEqualTo(pa.getProperties().get("mtls"));

        // The decoded-but-not-modelled kinds type a subset of the model's fields and keep the rest.
        assertTypedSubset("VirtualService", spec("virtualservices.networking.istio.io"),
                io.fabric8.istio.api.api.networking.v1alpha3.VirtualService.class);
        assertTypedSubset("DestinationRule", spec("destinationrules.networking.istio.io"),
                io.fabric8.istio.api.api.networking.v1alpha3.DestinationRule.class);
        assertTypedSubset("ServiceEntry", spec("serviceentries.networking.istio.io"),
                io.fabric8.istio.api.api.networking.v1alpha3.ServiceEntry.class);
        JSONSchemaProps gw = spec("gateways.networking.istio.io");
        assertTypedSubset("Gateway", gw, io.fabric8.istio.api.api.networking.v1alpha3.Gateway.class);
        JSONSchemaProps server = gw.getProperties().get("servers").getItems().getSchema();
        assertTypedSubset("Gateway servers[]", server, io.fabric8.istio.api.api.networking.v1alpha3.Server.class);
        assertTypedSubset("Gateway port", server.getProperties().get("port"),
                io.fabric8.istio.api.api.networking.v1alpha3.Port.class);
        assertTypedSubset("Gateway tls", server.getProperties().get("tls"),
                io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettings.class);
        assertThat(enumOf(server.getProperties().get("tls").getProperties().get("mode")))
                .containsExactlyInAnyOrderElementsOf(names(
                        io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettingsTLSmode.values()));
    }

    @Test
    void enumsAreTheValuesTheDecoderAccepts() {
        JSONSchemaProps ap = spec("authorizationpolicies.security.istio.io");
        assertThat(enumOf(ap.getProperties().get("action"))).containsExactlyInAnyOrderElementsOf(names(AuthorizationPolicyAction.values()));
        JSONSchemaProps pa = spec("peerauthentications.security.istio.io");
        assertThat(enumOf(pa.getProperties().get("mtls").getProperties().get("mode")))
                .containsExactlyInAnyOrderElementsOf(names(PeerAuthenticationMutualTLSMode.values()));
        JSONSchemaProps se = spec("serviceentries.networking.istio.io");
        assertThat(enumOf(se.getProperties().get("location"))).containsExactlyInAnyOrderElementsOf(names(ServiceEntryLocation.values()));
        assertThat(enumOf(se.getProperties().get("resolution"))).containsExactlyInAnyOrderElementsOf(names(ServiceEntryResolution.values()));
    }

    @Test
    void aWrongPeerAuthenticationIsRefusedAndUnmodelledRoutesAreKept() {
        assertThat(validate("""
                apiVersion: security.istio.io/v1beta1
                kind: PeerAuthentication
                metadata: {name: bad, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  mtls: {mode: STRICTEST}
                  portLevelMtls:
                    "5432": {mode: PERMISSIVE, extra: 1}
                """)).containsExactlyInAnyOrder(
                ".spec.mtls.mode: STRICTEST (expected one of: [UNSET, DISABLE, PERMISSIVE, STRICT])",
                ".spec.portLevelMtls.5432.extra: unknown field (the API server would drop it)");
        assertThat(validate("""
                apiVersion: networking.istio.io/v1alpha3
                kind: VirtualService
                metadata: {name: reviews, namespace: shop}
                spec:
                  hosts: reviews
                  http:
                  - route: [{destination: {host: reviews, subset: v2}, weight: 100}]
                  futureField: {kept: true}
                """)).containsExactly(".spec.hosts: reviews (expected: array)");
        assertThat(validate("""
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: mesh-default, namespace: istio-system}
                spec:
                  accessLogging: [{providers: [{name: envoy}]}]
                """)).isEmpty();
    }

    @Test
    void excludedCrdsAreLeftOutAndNoneWhenDisabled(@TempDir Path tmp) throws Exception {
        // A values file: helm-java's --set passes strings, which the chart's values schema refuses.
        Path exclude = Files.writeString(tmp.resolve("exclude.yaml"), """
                base:
                  excludedCRDs: [telemetries.telemetry.istio.io, gateways.networking.istio.io]
                """);
        assertThat(crdsOf(Charts.render("base", exclude, Map.of())))
                .hasSize(6).doesNotContainKeys("telemetries.telemetry.istio.io", "gateways.networking.istio.io");
        Path disable = Files.writeString(tmp.resolve("disable.yaml"), "base: {enableCRDTemplates: false}\n");
        assertThat(crdsOf(Charts.render("base", disable, Map.of()))).isEmpty();
    }

    private static List<String> validate(String yaml) {
        GenericKubernetesResource cr = Charts.documents(yaml).getFirst();
        String group = cr.getApiVersion().substring(0, cr.getApiVersion().indexOf('/'));
        String version = cr.getApiVersion().substring(cr.getApiVersion().indexOf('/') + 1);
        CustomResourceDefinition crd = crds.values().stream()
                .filter(c -> c.getSpec().getGroup().equals(group) && c.getSpec().getNames().getKind().equals(cr.getKind()))
                .findFirst().orElseThrow();
        JSONSchemaProps schema = crd.getSpec().getVersions().stream().filter(v -> v.getName().equals(version))
                .findFirst().orElseThrow().getSchema().getOpenAPIV3Schema();
        return StructuralSchema.validate(Charts.SERIALIZATION.convertValue(cr, Object.class), schema);
    }

    private static JSONSchemaProps spec(String crd) {
        return crds.get(crd).getSpec().getVersions().getFirst().getSchema().getOpenAPIV3Schema().getProperties().get("spec");
    }

    private static void assertSameFields(String what, JSONSchemaProps schema, Class<?> model) {
        assertThat(schema.getXKubernetesPreserveUnknownFields()).as(what + " prunes unknown fields").isNotEqualTo(true);
        assertThat(new TreeSet<>(schema.getProperties().keySet())).as(what).isEqualTo(jsonFields(model));
    }

    private static void assertTypedSubset(String what, JSONSchemaProps schema, Class<?> model) {
        assertThat(schema.getXKubernetesPreserveUnknownFields()).as(what + " keeps unknown fields").isTrue();
        assertThat(jsonFields(model)).as(what).containsAll(schema.getProperties().keySet());
    }

    /** The JSON field names the decoder's Jackson binds for a model class. */
    private static Set<String> jsonFields(Class<?> model) {
        ObjectMapper mapper = new ObjectMapper();
        BeanDescription bean = mapper.getDeserializationConfig().introspect(mapper.constructType(model));
        Set<String> out = new TreeSet<>();
        for (BeanPropertyDefinition p : bean.findProperties()) {
            if (p.getName().equals("additionalProperties")) {
                continue;
            }
            // fabric8 models a protobuf oneof as an unwrapped interface: AuthorizationPolicy's
            // action detail is, in JSON, its one implementation's field "provider".
            if (p.getName().equalsIgnoreCase("actionDetail")) {
                out.add("provider");
                continue;
            }
            out.add(p.getName());
        }
        return out;
    }

    private static List<String> enumOf(JSONSchemaProps s) {
        return s.getEnum().stream().map(j -> Charts.SERIALIZATION.convertValue(j, String.class)).toList();
    }

    private static List<String> names(Enum<?>[] values) {
        return Arrays.stream(values).map(Enum::name).toList();
    }
}
