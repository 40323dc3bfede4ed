package dev.ambit.proxy.authz;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.workload.Workload;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshResources;
import dev.ambit.proxy.authz.Decision.Reason;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * istiod-lite's fail-closed stand-ins for invalid security objects, decided by the node
 * agent's own {@link Authorizer}: what istiod-lite serves for an invalid policy must deny
 * on the agent, not merely look restrictive in the proto.
 */
class FailClosedPoliciesTest {

    private static final MeshConfig MESH = MeshConfig.defaults();
    private static final String FRONTEND = "spiffe://cluster.local/ns/shop/sa/frontend";
    private static final String BACKEND_UID = "Kubernetes//Pod/shop/backend-5c4f7d8e9-qq7zt";

    @TempDir
    Path dir;

    @BeforeEach
    void copyFixture() throws Exception {
        Path fixture = Path.of(FailClosedPoliciesTest.class.getResource("/fixtures/frontend-backend").toURI());
        try (var files = Files.list(fixture)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
    }

    @Test
    void validPolicyAllowsTheFrontend() throws Exception {
        Decision d = toBackend(model(), mtls(FRONTEND));
        assertThat(d.allowed()).isTrue();
        assertThat(d.reason()).isEqualTo(Reason.ALLOW_MATCHED);
    }

    @Test
    void allowPolicyWithAnUnknownActionDeniesEveryCallerOfTheSelectedWorkloads() throws Exception {
        edit("policies.yaml", "action: ALLOW", "action: PERMIT");
        MeshResources model = model();
        Decision d = toBackend(model, mtls(FRONTEND));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.POLICY_DENIED);
        assertThat(d.policy()).isEqualTo("shop/backend-allow-frontend");
        assertThat(toBackend(model, mtls("spiffe://cluster.local/ns/legacy/sa/default")).allowed()).isFalse();
    }

    @Test
    void invalidAllowPolicyAllowsNothing() throws Exception {
        edit("policies.yaml", "principals: [cluster.local/ns/shop/sa/frontend]",
                "principals: [cluster.local/ns/shop/sa/frontend]\n        ipBlocks: [10.0.0.300/8]");
        Decision d = toBackend(model(), mtls(FRONTEND));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.NO_ALLOW_MATCH);
    }

    @Test
    void invalidPeerAuthenticationIsStrictForPlaintext() throws Exception {
        edit("policies.yaml", "mtls: {mode: STRICT}", "mtls: {mode: OPTIONAL}");
        // Plaintext to the frontend (no AuthorizationPolicy selects it): only STRICT can deny.
        MeshResources model = model();
        Workload frontend = model.addresses().get("Kubernetes//Pod/shop/frontend-7d9f8b6c5-x2k8p").getWorkload();
        Decision d = Authorizer.of(PolicySet.of(model.authorizations().values())).authorize(
                ConnectionAttributes.plaintext(ip("10.244.1.20"), ip("10.244.1.10"), 8080), frontend);
        assertThat(d.allowed()).isFalse();
        assertThat(d.policy()).isEqualTo("istio-system/istio_converted_static_strict");
    }

    @Test
    void unreadableFileNamingAPolicyDeniesItsNamespace() throws Exception {
        Files.writeString(dir.resolve("broken.yaml"),
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: shop\n");
        Decision d = toBackend(model(), mtls(FRONTEND));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.POLICY_DENIED);
    }

    private static Decision toBackend(MeshResources model, ConnectionAttributes c) {
        Workload backend = model.addresses().get(BACKEND_UID).getWorkload();
        return Authorizer.of(PolicySet.of(model.authorizations().values())).authorize(c, backend);
    }

    private static ConnectionAttributes mtls(String identity) throws Exception {
        return ConnectionAttributes.mtls(identity, ip("10.244.1.10"), ip("10.244.2.10"), 9090);
    }

    private static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    private void edit(String file, String from, String to) throws Exception {
        String content = Files.readString(dir.resolve(file));
        assertThat(content).contains(from);
        Files.writeString(dir.resolve(file), content.replace(from, to));
    }

    /** The model istiod-lite builds from the folder as it reads it at start. */
    private MeshResources model() throws Exception {
        return AmbientModel.build(FolderSource.readOnce(dir).snapshot(), MESH);
    }
}
