package dev.ambit.ctl.analyze;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambit.ctl.Ambitctl;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ambitctl analyze -f} on one small fixture per analyzer (src/test/resources/analyze): each
 * expected finding with its code, object, field and exit code; nothing reported on a clean mesh.
 */
class AnalyzeCommandTest {

    record Run(int code, String out, String err) {
        List<String> lines() {
            return out.isEmpty() ? List.of() : Arrays.asList(out.split("\n"));
        }
    }

    static Run analyze(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] all = new String[args.length + 1];
        all[0] = "analyze";
        System.arraycopy(args, 0, all, 1, args.length);
        int code = Ambitctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), all);
        return new Run(code, out.toString(), err.toString());
    }

    static String fixture(String name) {
        try {
            return Path.of(AnalyzeCommandTest.class.getResource("/analyze/" + name).toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void routesToMissingHostsPortsSubsetsAndServices() {
        Run r = analyze("-f", fixture("routes.yaml"));
        assertThat(r.code()).isEqualTo(AnalyzeCommand.FOUND_ISSUES);
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (VirtualService shop/reviews ")
                .contains("routes.yaml) spec.http[0].route[0].destination.subset: Referenced host+subset in destinationrule"
                        + " not found: \"reviews+v2\"").contains("Fix: define subset \"v2\""));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (VirtualService shop/reviews ")
                .contains("spec.http[1].route[0].destination.host: Referenced host not found: \"ratings\""
                        + " (ratings.shop.svc.cluster.local)").contains("create Service shop/ratings"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).contains("spec.http[1].route[1].destination.port.number:"
                + " Referenced host:port not found: \"reviews:8080\"").contains("[9080]"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Warning [IST0174] (DestinationRule shop/details ")
                .contains("spec.host: The host details.shop.svc.cluster.local defined in the DestinationRule does not"
                        + " match any services in the mesh."));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (HTTPRoute shop/reviews ")
                .contains("spec.parentRefs[0]: Referenced Service not found: \"shop/reviewz\""));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (HTTPRoute shop/reviews ")
                .contains("spec.rules[0].backendRefs[1]: Referenced Service not found: \"shop/reviews-v3\""));
        // The existing subset, host and backend are not reported.
        assertThat(r.out()).doesNotContain("reviews+v1", "backendRefs[0]");
        assertThat(r.lines()).hasSize(6);
    }

    @Test
    void waypointLabelsNamingNoWaypointAndNamespacesNotEnrolled() {
        Run r = analyze("-f", fixture("waypoints.yaml"));
        assertThat(r.code()).isEqualTo(AnalyzeCommand.FOUND_ISSUES);
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Warning [AMB0001] (Namespace notenrolled ")
                .contains("istio.io/dataplane-mode=<unset>").contains("Fix: kubectl label namespace notenrolled"
                        + " istio.io/dataplane-mode=ambient."));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (Service shop/cart ")
                .contains("metadata.labels[istio.io/use-waypoint]: Referenced waypoint not found: \"shop/cart-waypoint\"")
                .contains("ambitctl waypoint apply -n shop --name cart-waypoint"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (Namespace books ")
                .contains("Gateway books/ingress is of class istio, not istio-waypoint"));
        // shop's own label names an existing waypoint and shop is enrolled.
        assertThat(r.out()).doesNotContain("(Namespace shop ");
        assertThat(r.lines()).hasSize(3);
    }

    @Test
    void authorizationPoliciesSelectingNothingOrUsingHttpAttributesAtTheNodeAgent() {
        Run r = analyze("-f", fixture("authorization.yaml"));
        assertThat(r.code()).isEqualTo(AnalyzeCommand.FOUND_ISSUES); // the missing targetRef is an error
        assertThat(r.lines()).anySatisfy(l -> assertThat(l)
                .startsWith("Warning [IST0127] (AuthorizationPolicy shop/selects-nothing ")
                .contains("spec.selector.matchLabels: No matching workloads for this resource with the following labels:"
                        + " app=nothing"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l)
                .startsWith("Warning [IST0127] (AuthorizationPolicy empty/namespace-wide "));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l)
                .startsWith("Warning [IST0171] (AuthorizationPolicy shop/http-rules ")
                .contains("spec.rules[1]: A condition with a negative status is present: type=ZtunnelAccepted,"
                        + " reason=UnsupportedValue, message=ztunnel does not support HTTP attributes (found: methods,"
                        + " paths).")
                .contains("Within an ALLOW policy, rules matching HTTP attributes are omitted.")
                .contains("no waypoint serves the selected workloads"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l)
                .startsWith("Error [IST0101] (AuthorizationPolicy shop/for-waypoint ")
                .contains("spec.targetRefs[0]: Referenced Gateway not found: \"shop/waypoint\""));
        // An L4-only rule, and HTTP attributes in a waypoint's policy, are fine.
        assertThat(r.out()).doesNotContain("l4-only", "spec.rules[0]: A condition");
        assertThat(r.lines()).hasSize(4);
    }

    @Test
    void conflictingNamespaceWideAndMeshWidePeerAuthentications() {
        Run r = analyze("-f", fixture("peer-authentication.yaml"));
        assertThat(r.code()).isZero(); // warnings only
        assertThat(r.lines()).containsExactlyInAnyOrder(
                r.lines().stream().filter(l -> l.startsWith("Warning [AMB0002] (PeerAuthentication shop/permissive ")
                        && l.contains("only the oldest, shop/a-strict (mode STRICT), applies and this one (mode PERMISSIVE)"
                        + " is ignored")).findFirst().orElse("missing shop/permissive"),
                r.lines().stream().filter(l -> l.startsWith("Warning [AMB0002] (PeerAuthentication istio-system/mesh-permissive ")
                        && l.contains("mesh-wide (root namespace istio-system)")).findFirst()
                        .orElse("missing istio-system/mesh-permissive"));
    }

    @Test
    void gatewaysWithoutTheirCertificateSecret() {
        Run r = analyze("-f", fixture("gateways.yaml"));
        assertThat(r.code()).isEqualTo(AnalyzeCommand.FOUND_ISSUES);
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (Gateway shop/shop ")
                .contains("spec.servers[0].tls.credentialName: Referenced credentialName not found: \"shop-cert\""
                        + " (no TLS Secret istio-ingress/shop-cert)")
                .contains("kubectl create -n istio-ingress secret tls shop-cert"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0161] (Gateway shop/shop ")
                .contains("spec.servers[1].tls.credentialName: The credential referenced by the Gateway shop in namespace"
                        + " shop is invalid").contains("tls.crt is not a PEM certificate"));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (Gateway shop/orphan ")
                .contains("spec.selector: Referenced selector not found: \"istio=egressgateway\""));
        assertThat(r.lines()).anySatisfy(l -> assertThat(l).startsWith("Error [IST0101] (Gateway web/public ")
                .contains("spec.listeners[0].tls.certificateRefs[0]: Referenced certificateRef not found: \"web-cert\""));
        assertThat(r.lines()).hasSize(4);
    }

    @Test
    void rejectedObjectsAreSchemaErrors() {
        Run r = analyze("-f", fixture("schema.yaml"));
        assertThat(r.code()).isEqualTo(AnalyzeCommand.FOUND_ISSUES);
        assertThat(r.lines()).singleElement().satisfies(l -> assertThat(l)
                .startsWith("Error [IST0106] (AuthorizationPolicy shop/typo ").contains("schema.yaml")
                .contains("spec.action: Schema validation error: unknown value \"PERMIT\""));
    }

    @Test
    void aCleanMeshHasNoFindingsAndExitsZero() {
        Run r = analyze("-f", fixture("clean.yaml"));
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).startsWith("\u2714 No validation issues found when analyzing ").contains("clean.yaml");
        assertThat(r.code()).isZero();
    }

    @Test
    void jsonAndYamlOutputCarryIstioctlsKeysAndThresholdsApply() throws Exception {
        Run json = analyze("-f", fixture("peer-authentication.yaml"), "-o", "json");
        JsonNode list = new ObjectMapper().readTree(json.out());
        assertThat(list).hasSize(2);
        assertThat(list.get(0).path("code").asText()).isEqualTo("AMB0002");
        assertThat(list.get(0).path("level").asText()).isEqualTo("Warning");
        assertThat(list.get(0).path("origin").asText()).startsWith("PeerAuthentication ");
        assertThat(list.get(0).path("reference").asText()).endsWith("peer-authentication.yaml");
        assertThat(list.get(0).path("field").asText()).isEqualTo("spec.selector");

        Run yaml = analyze("-f", fixture("routes.yaml"), "-o", "yaml", "--output-threshold", "Warning", "-n", "shop");
        JsonNode y = new YAMLMapper().readTree(yaml.out());
        assertThat(y).hasSize(6);
        assertThat(y.get(0).path("documentationUrl").asText())
                .isEqualTo("https://istio.io/latest/docs/reference/config/analysis/ist0101/");

        // Warnings fail the run from --failure-threshold Warning; another namespace hides everything.
        assertThat(analyze("-f", fixture("peer-authentication.yaml"), "--failure-threshold", "Warning").code())
                .isEqualTo(AnalyzeCommand.FOUND_ISSUES);
        assertThat(analyze("-f", fixture("routes.yaml"), "-n", "elsewhere").code()).isZero();
        assertThat(analyze("-f", fixture("routes.yaml"), "-o", "table").err()).contains("--output: \"table\"");
    }

    @Test
    void aFolderAndTheLocalMeshAreReadAsIstiodLiteReadsThem(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("istiod").resolve("config");
        Files.createDirectories(config);
        Files.copy(Path.of(fixture("routes.yaml")), config.resolve("routes.yaml"));
        Run local = analyze("--local", "--state-dir", dir.toString());
        assertThat(local.code()).isEqualTo(AnalyzeCommand.FOUND_ISSUES);
        assertThat(local.lines()).hasSize(6).allSatisfy(l -> assertThat(l).contains(" routes.yaml) "));

        // -f FOLDER with --local: the files are laid over the local mesh (the fix applied).
        Path fix = dir.resolve("fix");
        Files.createDirectories(fix);
        Files.writeString(fix.resolve("dr.yaml"), """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: reviews
                  namespace: shop
                spec:
                  host: reviews
                  subsets:
                  - name: v1
                    labels: {version: v1}
                  - name: v2
                    labels: {version: v2}
                """);
        Run overlaid = analyze("--local", "--state-dir", dir.toString(), "-f", fix.toString());
        assertThat(overlaid.out()).doesNotContain("reviews+v2");
        assertThat(overlaid.lines()).hasSize(5);

        assertThat(analyze("--local", "--state-dir", dir.resolve("none").toString()).err())
                .contains("does not exist (is a local cluster up?");
    }
}
