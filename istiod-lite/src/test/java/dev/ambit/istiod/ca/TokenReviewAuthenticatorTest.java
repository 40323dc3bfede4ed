package dev.ambit.istiod.ca;

import static dev.ambit.istiod.ca.CaTestSupport.csrPem;
import static dev.ambit.istiod.ca.CaTestSupport.p256;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.ambit.api.ca.IstioCertificateResponse;
import dev.ambit.api.ca.IstioCertificateServiceGrpc;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.model.MeshResources;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatus;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatusBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfoBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Against fabric8's mock API server in mixed mode: TokenReview is an expectation whose reply
 * plays the API server's authenticator (CRUD mode would only store the review, never
 * authenticate it); pods live in CRUD storage and are read back for real.
 */
class TokenReviewAuthenticatorTest {

    private static final String REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews";
    private static final String NAMESPACE = "istio-system";
    private static final String AGENT_SA = "ambit-node-agent";
    private static final String AGENT_USER = "system:serviceaccount:istio-system:ambit-node-agent";

    /** What the fake API server knows about a token: the audience it was minted for and its user. */
    private record Minted(String audience, String username, Map<String, List<String>> extra) {}

    private final Map<String, Minted> minted = new ConcurrentHashMap<>();
    private final List<TokenReview> reviewsSeen = new CopyOnWriteArrayList<>();
    private KubernetesMockServer apiServer;
    private KubernetesClient client;
    private TokenReviewAuthenticator authenticator;

    @BeforeEach
    void start() {
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        apiServer = new KubernetesMockServer(new Context(), new MockWebServer(), expectations,
                new KubernetesMixedDispatcher(expectations), false);
        apiServer.init(InetAddress.getLoopbackAddress(), 0);
        client = apiServer.createClient();
        apiServer.expect().post().withPath(REVIEWS).andReply(201, this::review).always();
        authenticator = TokenReviewAuthenticator.of(client, NAMESPACE, AGENT_SA);
    }

    @AfterEach
    void stop() {
        client.close();
        apiServer.destroy();
    }

    /** The API server's side of a TokenReview, with its audience rules. */
    private TokenReview review(RecordedRequest request) {
        TokenReview review = client.getKubernetesSerialization().unmarshal(request.getUtf8Body(), TokenReview.class);
        reviewsSeen.add(review);
        Minted token = minted.get(review.getSpec().getToken());
        TokenReviewStatus status;
        if (token == null) {
            status = new TokenReviewStatusBuilder().withAuthenticated(false).withError("invalid bearer token").build();
        } else if (!review.getSpec().getAudiences().contains(token.audience())) {
            status = new TokenReviewStatusBuilder().withAuthenticated(false)
                    .withError("token audiences [\"" + token.audience() + "\"] is invalid for the target audiences "
                            + review.getSpec().getAudiences())
                    .build();
        } else {
            status = new TokenReviewStatusBuilder().withAuthenticated(true).withAudiences(token.audience())
                    .withUser(new UserInfoBuilder().withUsername(token.username()).withExtra(token.extra()).build())
                    .build();
        }
        review.setStatus(status);
        return review;
    }

    @Test
    void aBoundTokenOfTheNodeAgentMapsToItsNode() {
        minted.put("agent-a", new Minted("istio-ca", AGENT_USER, Map.of(
                "authentication.kubernetes.io/node-name", List.of("node-a"),
                "authentication.kubernetes.io/pod-name", List.of("node-agent-x1"),
                "authentication.kubernetes.io/pod-uid", List.of("uid-1"))));

        assertThat(authenticator.authenticate(bearer("agent-a"))).isEqualTo(Authentication.node("node-a"));

        assertThat(reviewsSeen).singleElement().satisfies(r -> {
            assertThat(r.getSpec().getToken()).isEqualTo("agent-a");
            assertThat(r.getSpec().getAudiences()).containsExactly("istio-ca");
        });
    }

    @Test
    void withoutNodeNameTheNodeIsTheBoundPodsNode() {
        Pod pod = client.pods().inNamespace(NAMESPACE).resource(new PodBuilder()
                .withNewMetadata().withName("node-agent-x2").withUid("uid-2").endMetadata()
                .withNewSpec().withNodeName("node-b").withServiceAccountName(AGENT_SA).endSpec()
                .build()).create();
        minted.put("agent-b", new Minted("istio-ca", AGENT_USER, Map.of(
                "authentication.kubernetes.io/pod-name", List.of("node-agent-x2"),
                "authentication.kubernetes.io/pod-uid", List.of(pod.getMetadata().getUid()))));
        minted.put("agent-gone", new Minted("istio-ca", AGENT_USER, Map.of(
                "authentication.kubernetes.io/pod-name", List.of("node-agent-x2"),
                "authentication.kubernetes.io/pod-uid", List.of("uid-of-a-deleted-pod"))));

        assertThat(authenticator.authenticate(bearer("agent-b"))).isEqualTo(Authentication.node("node-b"));
        assertThat(authenticator.authenticate(bearer("agent-gone"))).isEqualTo(Authentication.denied(
                "pod istio-system/node-agent-x2 (uid uid-of-a-deleted-pod) of the token no longer exists"));
    }

    @Test
    void tokensOfOtherServiceAccountsAreDenied() {
        minted.put("web", new Minted("istio-ca", "system:serviceaccount:shop:web",
                Map.of("authentication.kubernetes.io/node-name", List.of("node-a"))));

        assertThat(authenticator.authenticate(bearer("web"))).isEqualTo(Authentication.denied(
                "caller system:serviceaccount:shop:web is not the node agent (expected: " + AGENT_USER + ")"));
    }

    @Test
    void unauthenticatedTokensAreDenied() {
        minted.put("for-kubernetes", new Minted("https://kubernetes.default.svc", AGENT_USER,
                Map.of("authentication.kubernetes.io/node-name", List.of("node-a"))));

        assertThat(authenticator.authenticate(bearer("forged"))).isEqualTo(Authentication.denied(
                "token rejected by the Kubernetes API server: invalid bearer token"));
        // The agent's token for the API server is not a token for the CA.
        assertThat(authenticator.authenticate(bearer("for-kubernetes"))).isEqualTo(Authentication.denied(
                "token rejected by the Kubernetes API server: token audiences [\"https://kubernetes.default.svc\"]"
                        + " is invalid for the target audiences [istio-ca]"));
    }

    @Test
    void tokensNotBoundToAPodAreDenied() {
        minted.put("legacy", new Minted("istio-ca", AGENT_USER, Map.of()));

        assertThat(authenticator.authenticate(bearer("legacy"))).isEqualTo(Authentication.denied(
                "token is not bound to a pod (expected: a projected service account token of the node agent's pod,"
                        + " audience istio-ca)"));
    }

    @Test
    void aMissingHeaderIsDeniedWithoutAskingTheApiServer() {
        assertThat(authenticator.authenticate(new Metadata())).isEqualTo(Authentication.denied(
                "no authorization header (expected: authorization: Bearer <token>)"));
        assertThat(reviewsSeen).isEmpty();
    }

    @Test
    void anApiServerRefusingTheReviewIsAnErrorNotADenial() {
        forbidTokenReviews();

        assertThatThrownBy(() -> authenticator.authenticate(bearer("agent-a")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("TokenReview failed (HTTP 403: tokenreviews.authentication.k8s.io is forbidden: User"
                        + " \"system:serviceaccount:istio-system:istiod\" cannot create resource \"tokenreviews\");"
                        + " istiod-lite needs 'create' on tokenreviews.authentication.k8s.io");
    }

    @Test
    void endToEndOverGrpcWithTheApiServerDecidingTheNode() throws Exception {
        minted.put("agent-a", new Minted("istio-ca", AGENT_USER,
                Map.of("authentication.kubernetes.io/node-name", List.of("node-a"))));
        SpiffeId web = SpiffeId.of("cluster.local", "shop", "web");
        MeshResources model = new MeshResources(Map.of(), Map.of(), Map.of("node-a", Set.of(web)), List.of());
        java.nio.file.Path caDir = java.nio.file.Files.createTempDirectory("ambit-ca-test");
        MetricsRegistry metrics = MetricsRegistry.create();
        Server server = null;
        ManagedChannel channel = null;
        try {
            CaService service = CaService.of(CertificateAuthority.of(caDir), authenticator, () -> model, metrics);
            server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(service.serviceDefinition()).build().start();
            channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
            Metadata headers = new Metadata();
            headers.put(CallerAuthenticator.AUTHORIZATION, "Bearer agent-a");
            var stub = IstioCertificateServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(10, TimeUnit.SECONDS);

            IstioCertificateResponse response =
                    stub.createCertificate(CaServiceTest.request(csrPem(p256(), web.uri()), web, 0));
            X509Certificate leaf = CaTestSupport.parseChain(response.getCertChainList()).getFirst();
            assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, web.uri()));

            // API server trouble is UNAVAILABLE (retry), never a denial the agent would give up on.
            forbidTokenReviews();
            StatusRuntimeException failure = catchThrowableOfType(StatusRuntimeException.class,
                    () -> stub.createCertificate(CaServiceTest.request(csrPem(p256(), web.uri()), web, 0)));
            assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(failure.getStatus().getDescription())
                    .isEqualTo("the caller's credential cannot be checked now, retry later");
            assertThat(metrics.value(CaService.DENIED, "auth_unavailable")).isEqualTo(1);
        } finally {
            if (channel != null) {
                channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
            if (server != null) {
                server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
            try (var files = java.nio.file.Files.walk(caDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void withWorkloadsAPodBoundTokenSpeaksForItsOwnServiceAccountOnly() {
        TokenReviewAuthenticator workloads = authenticator.withWorkloads();
        Pod pod = client.pods().inNamespace("shop").resource(new PodBuilder()
                .withNewMetadata().withName("waypoint-7d9f").endMetadata()
                .withNewSpec().withNodeName("node-a").withServiceAccountName("waypoint").endSpec()
                .build()).create();
        String uid = pod.getMetadata().getUid();
        minted.put("wp", new Minted("istio-ca", "system:serviceaccount:shop:waypoint", Map.of(
                "authentication.kubernetes.io/pod-name", List.of("waypoint-7d9f"),
                "authentication.kubernetes.io/pod-uid", List.of(uid))));
        minted.put("wp-unbound", new Minted("istio-ca", "system:serviceaccount:shop:waypoint", Map.of()));
        minted.put("wp-gone", new Minted("istio-ca", "system:serviceaccount:shop:waypoint", Map.of(
                "authentication.kubernetes.io/pod-name", List.of("waypoint-7d9f"),
                "authentication.kubernetes.io/pod-uid", List.of("uid-of-a-deleted-pod"))));
        minted.put("other-sa", new Minted("istio-ca", "system:serviceaccount:shop:web", Map.of(
                "authentication.kubernetes.io/pod-name", List.of("waypoint-7d9f"),
                "authentication.kubernetes.io/pod-uid", List.of(uid))));

        assertThat(workloads.authenticate(bearer("wp"))).isEqualTo(Authentication.workload("shop", "waypoint"));
        assertThat(workloads.authenticate(bearer("wp-unbound"))).isEqualTo(Authentication.denied(
                "token of shop/waypoint is not bound to a pod (expected: a projected service account token of the"
                        + " pod, audience istio-ca)"));
        assertThat(workloads.authenticate(bearer("wp-gone"))).isEqualTo(Authentication.denied(
                "pod shop/waypoint-7d9f (uid uid-of-a-deleted-pod) of the token no longer exists"));
        assertThat(workloads.authenticate(bearer("other-sa"))).isEqualTo(Authentication.denied(
                "pod shop/waypoint-7d9f runs as service account waypoint (expected: web, the token's)"));
        // Without withWorkloads only the node agent is accepted, as before.
        assertThat(authenticator.authenticate(bearer("wp"))).isInstanceOf(Authentication.Denied.class);
        // The node agent is still a node agent.
        minted.put("agent-a", new Minted("istio-ca", AGENT_USER,
                Map.of("authentication.kubernetes.io/node-name", List.of("node-a"))));
        assertThat(workloads.authenticate(bearer("agent-a"))).isEqualTo(Authentication.node("node-a"));
    }

    @Test
    void aWorkloadObtainsItsOwnIdentityAndNothingElseOverGrpc() throws Exception {
        Pod pod = client.pods().inNamespace("shop").resource(new PodBuilder()
                .withNewMetadata().withName("waypoint-7d9f").endMetadata()
                .withNewSpec().withNodeName("node-a").withServiceAccountName("waypoint").endSpec()
                .build()).create();
        minted.put("wp", new Minted("istio-ca", "system:serviceaccount:shop:waypoint", Map.of(
                "authentication.kubernetes.io/pod-name", List.of("waypoint-7d9f"),
                "authentication.kubernetes.io/pod-uid", List.of(pod.getMetadata().getUid()))));
        SpiffeId own = SpiffeId.of("cluster.local", "shop", "waypoint");
        SpiffeId web = SpiffeId.of("cluster.local", "shop", "web");
        // The model places web on node-a: a node agent there could get it, the waypoint may not.
        MeshResources model = new MeshResources(Map.of(), Map.of(), Map.of("node-a", Set.of(web)), List.of());
        java.nio.file.Path caDir = java.nio.file.Files.createTempDirectory("ambit-ca-test");
        MetricsRegistry metrics = MetricsRegistry.create();
        Server server = null;
        ManagedChannel channel = null;
        try {
            CaService service = CaService.of(CertificateAuthority.of(caDir), authenticator.withWorkloads(),
                    () -> model, metrics);
            server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(service.serviceDefinition()).build().start();
            channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
            Metadata headers = new Metadata();
            headers.put(CallerAuthenticator.AUTHORIZATION, "Bearer wp");
            var stub = IstioCertificateServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(10, TimeUnit.SECONDS);

            IstioCertificateResponse response =
                    stub.createCertificate(CaServiceTest.request(csrPem(p256(), own.uri()), own, 0));
            X509Certificate leaf = CaTestSupport.parseChain(response.getCertChainList()).getFirst();
            assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, own.uri()));

            StatusRuntimeException refused = catchThrowableOfType(StatusRuntimeException.class,
                    () -> stub.createCertificate(CaServiceTest.request(csrPem(p256(), web.uri()), web, 0)));
            assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(refused.getStatus().getDescription()).isEqualTo("identity " + web + " is not the caller's own ("
                    + own + ": a workload may obtain its own identity only)");
            assertThat(metrics.value(CaService.DENIED, "not_own_identity")).isEqualTo(1);
        } finally {
            if (channel != null) {
                channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
            if (server != null) {
                server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
            try (var files = java.nio.file.Files.walk(caDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private void forbidTokenReviews() {
        apiServer.clearExpectations();
        apiServer.expect().post().withPath(REVIEWS).andReturn(403, new StatusBuilder()
                .withStatus("Failure").withReason("Forbidden").withCode(403)
                .withMessage("tokenreviews.authentication.k8s.io is forbidden: User"
                        + " \"system:serviceaccount:istio-system:istiod\" cannot create resource \"tokenreviews\"")
                .build()).always();
    }

    private static Metadata bearer(String token) {
        Metadata headers = new Metadata();
        headers.put(CallerAuthenticator.AUTHORIZATION, "Bearer " + token);
        return headers;
    }
}
