package dev.ambit.it.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.APIResource;
import io.fabric8.kubernetes.api.model.APIResourceBuilder;
import io.fabric8.kubernetes.api.model.APIResourceListBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kubelet-less cluster's API server: fabric8's mock in CRUD mode, serving the base chart's
 * CRDs, plus what the mock lacks and the cluster's clients need: {@code TokenReview}
 * (authentication.k8s.io/v1), answered for the service-account tokens this server
 * {@linkplain #issueToken issued} (as the API server answers for the tokens the kubelet asked
 * it for: projected, audience-bound, bound to a pod), and the core group's discovery document.
 */
public final class ApiServer implements AutoCloseable {

    static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final Pattern NODE_SELECTOR = Pattern.compile("([?&])fieldSelector=spec\\.nodeName(?:%3D|=)[^&]*&?");
    private static final String TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews";

    /** What a token was issued for, as the API server's TokenReview reports it. */
    record Token(String namespace, String serviceAccount, String audience, String podName, String podUid,
                 String nodeName) {}

    private final KubernetesMockServer server;
    private final KubernetesClient client;
    private final Map<String, Token> tokens = new ConcurrentHashMap<>();
    private final AtomicInteger reviews = new AtomicInteger();
    private final AtomicInteger refused = new AtomicInteger();
    private final SecureRandom random = new SecureRandom();
    private Path adminKubeconfig;

    private ApiServer(InetAddress address) {
        // The CRUD mock learns a custom resource kind when its CRD is created through it, as the
        // API server serves a kind once its CRD is established.
        List<CustomResourceDefinitionContext> contexts = new ArrayList<>();
        String core = SERIALIZATION.asJson(new APIResourceListBuilder().withGroupVersion("v1")
                .addToResources(core("namespaces", "Namespace", false), core("pods", "Pod", true),
                        core("services", "Service", true), core("serviceaccounts", "ServiceAccount", true),
                        core("secrets", "Secret", true), core("configmaps", "ConfigMap", true))
                .build());
        KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher(contexts) {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                String path = request.getPath();
                if (request.getMethod().equals("POST") && path.startsWith(TOKEN_REVIEWS)) {
                    return review(request.getUtf8Body());
                }
                if (request.getMethod().equals("GET") && (path.equals("/api/v1") || path.startsWith("/api/v1?"))) {
                    return new MockResponse().setResponseCode(200).setBody(core);
                }
                Matcher m = NODE_SELECTOR.matcher(path);
                if (path.contains("/pods") && m.find()) {
                    // The mock matches field selectors on metadata only: a pod's spec.nodeName never
                    // matches and the node agents would see no pod. Without the selector they get every
                    // node's pods, and keep their own (they check spec.nodeName themselves).
                    String unfiltered = m.replaceFirst("$1").replaceAll("[?&]$", "").replace("?&", "?");
                    request = new RecordedRequest(request.getRequestLine().replace(path, unfiltered),
                            request.method(), unfiltered, request.getHeaders(), request.getBody());
                }
                return super.dispatch(request);
            }
        };
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init(address, 0);
        client = server.createClient();
    }

    /** Starts the server on {@code address} (an ephemeral port). */
    public static ApiServer start(InetAddress address) {
        return new ApiServer(requireNonNull(address, "address"));
    }

    /**
     * Writes the kubeconfig of {@code KUBECONFIG} (set for the test JVM by the module's surefire
     * configuration), which Helm as a library reads for its {@code lookup}; {@link #close()}
     * deletes it again.
     */
    public void writeAdminKubeconfig() throws IOException {
        String path = System.getenv("KUBECONFIG");
        if (path == null) {
            throw new IllegalStateException("KUBECONFIG is not set: run through Maven (integration/pom.xml sets it)");
        }
        adminKubeconfig = writeKubeconfig(Path.of(path).toAbsolutePath(), "admin", "default");
    }

    private static APIResource core(String plural, String kind, boolean namespaced) {
        return new APIResourceBuilder().withName(plural).withKind(kind).withNamespaced(namespaced)
                .withVerbs("get", "list", "watch", "create", "update", "patch", "delete").build();
    }

    /** One YAML document in fabric8's model: typed where fabric8 knows the kind, else generic. */
    public static io.fabric8.kubernetes.api.model.HasMetadata parse(String yaml) {
        return SERIALIZATION.unmarshal(yaml, io.fabric8.kubernetes.api.model.HasMetadata.class);
    }

    /** A client with the mock's own (unchecked) credentials: the test's, and the "controllers'". */
    public KubernetesClient client() {
        return client;
    }

    /** The API server's URL, e.g. {@code http://10.244.90.1:34567}. */
    public String url() {
        return client.getConfiguration().getMasterUrl().replaceAll("/$", "");
    }

    /**
     * A projected service-account token for {@code namespace/serviceAccount}, bound to pod
     * {@code podName} ({@code podUid}) on {@code nodeName} (null: an API server before 1.30, whose
     * reviews do not name the node), valid for {@code audience}.
     */
    public String issueToken(String namespace, String serviceAccount, String audience, String podName, String podUid,
                             String nodeName) {
        byte[] b = new byte[24];
        random.nextBytes(b);
        String token = "ambit-test." + HexFormat.of().formatHex(b);
        tokens.put(token, new Token(namespace, serviceAccount, audience, podName, podUid, nodeName));
        return token;
    }

    /** A kubeconfig file for this server presenting {@code token}, as a pod's in-cluster configuration would. */
    public Path writeKubeconfig(Path file, String token, String namespace) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.writeString(file, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: kubeletless
                  cluster: {server: "%s"}
                contexts:
                - name: kubeletless
                  context: {cluster: kubeletless, user: sa, namespace: %s}
                current-context: kubeletless
                users:
                - name: sa
                  user: {token: "%s"}
                """.formatted(url(), namespace, token));
    }

    /** TokenReviews answered so far, and how many of those said not authenticated. */
    public int reviews() {
        return reviews.get();
    }

    public int refusedReviews() {
        return refused.get();
    }

    private MockResponse review(String body) {
        reviews.incrementAndGet();
        TokenReview asked = SERIALIZATION.unmarshal(body, TokenReview.class);
        String token = asked.getSpec() == null ? null : asked.getSpec().getToken();
        List<String> audiences = asked.getSpec() == null || asked.getSpec().getAudiences() == null
                ? List.of() : asked.getSpec().getAudiences();
        Token t = token == null ? null : tokens.get(token);
        TokenReviewStatusBuilder status = new TokenReviewStatusBuilder();
        // As the API server: a token is authenticated only for its own audience, and an empty
        // list in the request means the API server's own audience, which no projected token has.
        if (t == null || !audiences.contains(t.audience())) {
            refused.incrementAndGet();
            status.withAuthenticated(false).withError(t == null ? "invalid bearer token"
                    : "token audiences [" + t.audience() + "] do not intersect " + audiences);
        } else {
            Map<String, List<String>> extra = new HashMap<>();
            extra.put("authentication.kubernetes.io/pod-name", List.of(t.podName()));
            extra.put("authentication.kubernetes.io/pod-uid", List.of(t.podUid()));
            if (t.nodeName() != null) {
                extra.put("authentication.kubernetes.io/node-name", List.of(t.nodeName()));
            }
            status.withAuthenticated(true).withAudiences(t.audience()).withNewUser()
                    .withUsername("system:serviceaccount:" + t.namespace() + ":" + t.serviceAccount())
                    .withGroups("system:serviceaccounts", "system:serviceaccounts:" + t.namespace(),
                            "system:authenticated")
                    .withExtra(extra).endUser();
        }
        TokenReview answer = new TokenReviewBuilder().withApiVersion("authentication.k8s.io/v1")
                .withKind("TokenReview").withSpec(asked.getSpec()).withStatus(status.build()).build();
        return new MockResponse().setResponseCode(201).setBody(SERIALIZATION.asJson(answer));
    }

    @Override
    public void close() throws IOException {
        if (adminKubeconfig != null) {
            Files.deleteIfExists(adminKubeconfig);
        }
        client.close();
        server.destroy();
    }
}
