package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ManifestsTest {

    private static final String DEMO = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: demo
              labels: {istio.io/dataplane-mode: ambient}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: backend, namespace: demo}
            spec:
              replicas: 2
              selector: {matchLabels: {app: backend}}
              template:
                metadata: {labels: {app: backend}}
                spec:
                  containers:
                  - name: server
                    image: ignored
                    command: [socat, "TCP-LISTEN:8080,fork", "SYSTEM:echo hi"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow, namespace: demo}
            spec: {action: ALLOW}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings}
            data: {a: b}
            ---
            """;

    @Test
    void parsesEveryDocumentAndSkipsKindsItDoesNotRun() {
        List<String> skipped = new ArrayList<>();
        List<KubeObject> objects = Manifests.parse(DEMO, "demo.yaml", skipped::add);

        assertThat(objects).extracting(KubeObject::reference)
                .containsExactly("namespace/demo", "deployment.apps/backend",
                        "authorizationpolicy.security.istio.io/allow");
        assertThat(objects.get(0).labels()).containsEntry("istio.io/dataplane-mode", "ambient");
        assertThat(objects.get(0).namespaced()).isFalse();
        assertThat(objects.get(1).fileName()).isEqualTo("deployment.demo.backend.yaml");
        assertThat(objects.get(0).fileName()).isEqualTo("namespace.demo.yaml");
        assertThat(skipped).singleElement().asString().contains("configmap/settings").contains("skipped");
    }

    @Test
    void expandsLists() {
        String list = """
                apiVersion: v1
                kind: List
                items:
                - {apiVersion: v1, kind: ServiceAccount, metadata: {name: a}}
                - {apiVersion: v1, kind: ServiceAccount, metadata: {name: b}}
                """;
        assertThat(Manifests.parse(list, "l.yaml", s -> { })).extracting(KubeObject::name).containsExactly("a", "b");
    }

    @Test
    void rejectsAContainerWithoutCommandNamingFileAndObject() {
        String pod = """
                apiVersion: v1
                kind: Pod
                metadata: {name: web}
                spec:
                  containers:
                  - {name: nginx, image: nginx}
                """;
        assertThatThrownBy(() -> Manifests.parse(pod, "web.yaml", s -> { }))
                .isInstanceOf(ManifestException.class)
                .hasMessageContaining("web.yaml: document 1: pod/web")
                .hasMessageContaining("no command or args")
                .hasMessageContaining("ignores images");
    }

    @Test
    void rejectsADeploymentWhoseSelectorMissesItsTemplate() {
        String d = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: other}}
                    spec: {containers: [{name: c, command: [sleep, "1"]}]}
                """;
        assertThatThrownBy(() -> Manifests.parse(d, "d.yaml", s -> { }))
                .hasMessageContaining("spec.selector.matchLabels: app=web does not match");
    }

    @Test
    void rejectsBadNamesAndBrokenYaml() {
        assertThatThrownBy(() -> Manifests.parse("apiVersion: v1\nkind: Service\nmetadata: {name: Web_1}\n", "s.yaml",
                s -> { })).hasMessageContaining("metadata.name: Web_1");
        assertThatThrownBy(() -> Manifests.parse("kind: [unclosed", "bad.yaml", s -> { }))
                .hasMessageContaining("bad.yaml: invalid YAML");
        assertThatThrownBy(() -> Manifests.parse("kind: Pod\nmetadata: {name: x}\n", "nov.yaml", s -> { }))
                .hasMessageContaining("missing apiVersion or kind");
        assertThatThrownBy(() -> Manifests.parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec: {restartPolicy: Sometimes, containers: [{name: c, command: [true]}]}
                """, "p.yaml", s -> { })).hasMessageContaining("restartPolicy: Sometimes (expected: Always, OnFailure or Never)");
    }

    @Test
    void refusesWhatItWouldMisreadAliasesAndKeysGivenTwice() {
        // Jackson would read *denied as the string "denied": a DENY on a principal nobody has.
        assertThatThrownBy(() -> Manifests.parse("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny, namespace: shop}
                x-denied: &denied cluster.local/ns/shop/sa/intruder
                spec:
                  action: DENY
                  rules: [{from: [{source: {principals: [*denied]}}]}]
                """, "alias.yaml", s -> { })).hasMessageContaining("alias.yaml: line 7: YAML alias *denied");
        assertThatThrownBy(() -> Manifests.parse("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny, namespace: shop}
                spec:
                  action: DENY
                  action: ALLOW
                """, "twice.yaml", s -> { })).hasMessageContaining("twice.yaml: invalid YAML: Duplicate field 'action'");
        // A '*' inside a value is not an alias.
        assertThat(Manifests.parse("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, annotations: {x: \"*\"}}\n",
                "star.yaml", s -> { })).hasSize(1);
    }

    @Test
    void placesObjectsInTheirNamespaceOrTheOneGiven() {
        KubeObject noNs = Manifests.parse("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n", "a", s -> { })
                .getFirst();
        KubeObject inDemo = Manifests.parse("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: demo}\n",
                "a", s -> { }).getFirst();

        assertThat(ManifestStore.place(noNs, null).namespace()).isEqualTo("default");
        assertThat(ManifestStore.place(noNs, "shop").namespace()).isEqualTo("shop");
        assertThat(ManifestStore.place(inDemo, null).namespace()).isEqualTo("demo");
        assertThatThrownBy(() -> ManifestStore.place(inDemo, "shop"))
                .hasMessageContaining("(demo) does not match the namespace given with -n (shop)");
    }

    @Test
    void istioGatewayDoesNotCollideWithGatewayApi() {
        KubeObject api = Manifests.parse("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: w}\n",
                "g", s -> { }).getFirst();
        KubeObject istio = Manifests.parse("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: w}\n",
                "g", s -> { }).getFirst();
        assertThat(ManifestStore.place(api, null).fileName()).isNotEqualTo(ManifestStore.place(istio, null).fileName());
    }
}
