package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatus;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.grpc.Metadata;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Authenticates node agents in a Kubernetes cluster: the agent presents its projected
 * service account token, the API server reviews it ({@code TokenReview},
 * {@code authentication.k8s.io/v1}), and the node comes from what the token is bound to.
 *
 * <p>Accepted when the review says authenticated, for the audiences asked (by default
 * {@value #DEFAULT_AUDIENCE}), and the user is the node agent's service account
 * {@code system:serviceaccount:<namespace>:<name>}. The node is the review's
 * {@value #NODE_NAME_EXTRA} (tokens bound to a pod carry it since Kubernetes 1.30); for
 * older API servers the pod named by {@value #POD_NAME_EXTRA} is read and its
 * {@code spec.nodeName} used, provided its UID is still the token's {@value #POD_UID_EXTRA}
 * (a deleted pod's token does not speak for a new pod of the same name).
 *
 * <p>{@linkplain #withWorkloads With workloads}, a token of any other service account
 * {@code NS/SA} is accepted too, as {@link Authentication.Workload}, when it is bound to a pod
 * that still exists (same UID) in NS and runs as SA: the CA then issues it
 * {@code spiffe://<td>/ns/NS/sa/SA} only. This is how a waypoint, which no node agent speaks
 * for, obtains its own certificate, as Istio's CA serves every workload its own identity.
 *
 * <p>istiod-lite's service account needs {@code create} on
 * {@code tokenreviews.authentication.k8s.io} and {@code get} on pods in the node agent's
 * namespace (with workloads: in every namespace). Each call is one or two blocking API
 * server round trips.
 */
public final class TokenReviewAuthenticator implements CallerAuthenticator {

    /** The audience Istio's CA asks for and its agents request tokens for. */
    public static final String DEFAULT_AUDIENCE = "istio-ca";
    static final String NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";
    static final String POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
    static final String POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid";
    private static final Pattern K8S_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
    private static final String SA_USER_PREFIX = "system:serviceaccount:";

    private final KubernetesClient client;
    private final String namespace;
    private final String expectedUser;
    private final List<String> audiences;
    private final boolean workloads;

    private TokenReviewAuthenticator(KubernetesClient client, String namespace, String expectedUser,
                                     List<String> audiences, boolean workloads) {
        this.client = client;
        this.namespace = namespace;
        this.expectedUser = expectedUser;
        this.audiences = audiences;
        this.workloads = workloads;
    }

    /**
     * This authenticator, also accepting pod-bound tokens of other service accounts as
     * {@link Authentication.Workload} (each may obtain its own identity only).
     */
    public TokenReviewAuthenticator withWorkloads() {
        return new TokenReviewAuthenticator(client, namespace, expectedUser, audiences, true);
    }

    /** Accepts tokens of {@code serviceAccount} in {@code namespace} for audience {@value #DEFAULT_AUDIENCE}. */
    public static TokenReviewAuthenticator of(KubernetesClient client, String namespace, String serviceAccount) {
        return of(client, namespace, serviceAccount, List.of(DEFAULT_AUDIENCE));
    }

    /**
     * Accepts tokens of {@code serviceAccount} in {@code namespace} issued for one of
     * {@code audiences}.
     */
    public static TokenReviewAuthenticator of(KubernetesClient client, String namespace, String serviceAccount,
                                              List<String> audiences) {
        requireNonNull(client, "client");
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        requireNonNull(audiences, "audiences");
        checkName("namespace", namespace);
        checkName("serviceAccount", serviceAccount);
        if (audiences.isEmpty()) {
            // An empty list would make the API server accept tokens minted for anything.
            throw new IllegalArgumentException("audiences: [] (expected: at least one, e.g. " + DEFAULT_AUDIENCE + ")");
        }
        return new TokenReviewAuthenticator(client, namespace, SA_USER_PREFIX + namespace + ':' + serviceAccount,
                List.copyOf(audiences), false);
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalStateException when the API server cannot review the token or read the
     *         pod (unreachable, or istiod-lite lacks the permissions listed above)
     */
    @Override
    public Authentication authenticate(Metadata headers) {
        requireNonNull(headers, "headers");
        BearerToken bearer = CallerAuthenticator.bearerToken(headers);
        if (!bearer.present()) {
            return Authentication.denied(bearer.problem());
        }
        TokenReviewStatus status = review(bearer.token());
        if (status == null || !Boolean.TRUE.equals(status.getAuthenticated())) {
            String error = status == null || status.getError() == null || status.getError().isBlank()
                    ? "" : ": " + status.getError();
            return Authentication.denied("token rejected by the Kubernetes API server" + error);
        }
        // The API server only authenticates for requested audiences; checked again in case an
        // authenticator webhook answers without regard to them.
        List<String> granted = status.getAudiences();
        if (granted != null && !granted.isEmpty() && granted.stream().noneMatch(audiences::contains)) {
            return Authentication.denied("token audiences " + granted + " (expected: one of " + audiences + ")");
        }
        UserInfo user = status.getUser();
        String username = user == null ? null : user.getUsername();
        Map<String, List<String>> extra = user == null || user.getExtra() == null ? Map.of() : user.getExtra();
        if (!expectedUser.equals(username)) {
            if (workloads && username != null && username.startsWith(SA_USER_PREFIX)) {
                return workload(username, extra);
            }
            return Authentication.denied("caller " + username + " is not the node agent (expected: " + expectedUser
                    + ")");
        }
        String node = single(extra, NODE_NAME_EXTRA);
        if (node != null) {
            return Authentication.node(node);
        }
        String podName = single(extra, POD_NAME_EXTRA);
        String podUid = single(extra, POD_UID_EXTRA);
        if (podName == null || podUid == null) {
            return Authentication.denied("token is not bound to a pod (expected: a projected service account"
                    + " token of the node agent's pod, audience " + audiences.getFirst() + ")");
        }
        return nodeOfPod(podName, podUid);
    }

    /** A workload's own identity, for a token bound to a pod that still exists and runs as the token's account. */
    private Authentication workload(String username, Map<String, List<String>> extra) {
        String[] parts = username.substring(SA_USER_PREFIX.length()).split(":", -1);
        if (parts.length != 2 || !K8S_NAME.matcher(parts[0]).matches() || !K8S_NAME.matcher(parts[1]).matches()) {
            return Authentication.denied("caller " + username
                    + " (expected: system:serviceaccount:<namespace>:<service account>)");
        }
        String ns = parts[0];
        String sa = parts[1];
        String podName = single(extra, POD_NAME_EXTRA);
        String podUid = single(extra, POD_UID_EXTRA);
        if (podName == null || podUid == null) {
            return Authentication.denied("token of " + ns + "/" + sa + " is not bound to a pod (expected: a"
                    + " projected service account token of the pod, audience " + audiences.getFirst() + ")");
        }
        Pod pod;
        try {
            pod = client.pods().inNamespace(ns).withName(podName).get();
        } catch (KubernetesClientException e) {
            throw new IllegalStateException("reading pod " + ns + '/' + podName + " failed (" + describe(e)
                    + "); istiod-lite needs 'get' on pods in " + ns, e);
        }
        if (pod == null || pod.getMetadata() == null || !podUid.equals(pod.getMetadata().getUid())) {
            return Authentication.denied("pod " + ns + '/' + podName + " (uid " + podUid
                    + ") of the token no longer exists");
        }
        String podSa = pod.getSpec() == null || pod.getSpec().getServiceAccountName() == null
                || pod.getSpec().getServiceAccountName().isEmpty() ? "default" : pod.getSpec().getServiceAccountName();
        if (!podSa.equals(sa)) {
            return Authentication.denied("pod " + ns + '/' + podName + " runs as service account " + podSa
                    + " (expected: " + sa + ", the token's)");
        }
        return Authentication.workload(ns, sa);
    }

    private TokenReviewStatus review(String token) {
        return review(client, token, audiences);
    }

    /**
     * Asks the API server to review {@code token} for {@code audiences}: the status, or
     * {@code null} when it answered none.
     *
     * @throws IllegalStateException when the API server cannot review it (unreachable, or
     *         istiod-lite lacks {@code create} on tokenreviews)
     */
    public static TokenReviewStatus review(KubernetesClient client, String token, List<String> audiences) {
        TokenReview review = new TokenReviewBuilder()
                .withNewSpec().withToken(token).withAudiences(audiences).endSpec()
                .build();
        try {
            TokenReview answer = client.authentication().v1().tokenReviews().create(review);
            return answer == null ? null : answer.getStatus();
        } catch (KubernetesClientException e) {
            throw new IllegalStateException("TokenReview failed (" + describe(e) + "); istiod-lite needs 'create'"
                    + " on tokenreviews.authentication.k8s.io", e);
        }
    }

    private Authentication nodeOfPod(String podName, String podUid) {
        Pod pod;
        try {
            pod = client.pods().inNamespace(namespace).withName(podName).get();
        } catch (KubernetesClientException e) {
            throw new IllegalStateException("reading pod " + namespace + '/' + podName + " failed (" + describe(e)
                    + "); istiod-lite needs 'get' on pods in " + namespace, e);
        }
        if (pod == null || pod.getMetadata() == null || !podUid.equals(pod.getMetadata().getUid())) {
            return Authentication.denied("pod " + namespace + '/' + podName + " (uid " + podUid
                    + ") of the token no longer exists");
        }
        String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
        if (node == null || node.isEmpty()) {
            return Authentication.denied("pod " + namespace + '/' + podName + " of the token is not scheduled on a node");
        }
        return Authentication.node(node);
    }

    private static String single(Map<String, List<String>> extra, String key) {
        List<String> values = extra.get(key);
        return values == null || values.size() != 1 || values.getFirst().isEmpty() ? null : values.getFirst();
    }

    /** The API server's own message when it sent one: fabric8's wraps it in request details. */
    private static String describe(KubernetesClientException e) {
        if (e.getCode() <= 0) {
            return e.getMessage();
        }
        String message = e.getStatus() != null && e.getStatus().getMessage() != null
                ? e.getStatus().getMessage() : e.getMessage();
        return "HTTP " + e.getCode() + ": " + message;
    }

    private static void checkName(String what, String value) {
        if (!K8S_NAME.matcher(value).matches()) {
            throw new IllegalArgumentException(what + ": " + value + " (expected: a Kubernetes name)");
        }
    }
}
