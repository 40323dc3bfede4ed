package dev.ambit.it;

import java.util.Map;
import java.util.stream.Collectors;

/**
 * The manifests the tests apply: plain Kubernetes YAML, as a user would write it. Apps are
 * ordinary tools run as the container command ({@code ambitctl local} ignores images).
 */
final class Yaml {

    private Yaml() {
    }

    static final String SPIFFE = "spiffe://cluster.local/ns/";

    /**
     * The HTTP server of samples/demo: socat accepts on 8080, the shell script answers each
     * request with {@code hello from <pod>} (it reads the request head first, so curl and
     * wget are happy). Plus an echo on 9000 that greets with its pod name then echoes lines
     * back, for clients that hold a connection open (socat).
     */
    private static final String SERVER_CONTAINERS = """
                  - name: http
                    image: ignored
                    ports: [{name: http, containerPort: 8080}]
                    command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", 'SYSTEM:eval "$RESPONDER"']
                    env:
                    - name: RESPONDER
                      value: >-
                        while read -r h && [ "$(printf %s "$h" | tr -d "\\r")" != "" ]; do true; done;
                        b="hello from $POD_NAME";
                        printf "HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s\\n" $((${#b}+1)) "$b"
                  - name: echo
                    image: ignored
                    ports: [{name: echo, containerPort: 9000}]
                    command: [socat, "TCP-LISTEN:9000,fork,reuseaddr", "SYSTEM:echo hello-from-$POD_NAME; exec cat"]
            """;

    static String namespace(String name, boolean ambient) {
        return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
                + (ambient ? "  labels: {istio.io/dataplane-mode: ambient}\n" : "") + "---\n";
    }

    static String serviceAccount(String ns, String name) {
        return "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: " + name + ", namespace: " + ns + "}\n---\n";
    }

    /** A Deployment of {@code replicas} servers (HTTP on 8080, echo on 9000), label app=NAME. */
    static String serverDeployment(String ns, String name, int replicas, String serviceAccount) {
        return """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                  replicas: %3$d
                  selector: {matchLabels: {app: %1$s}}
                  template:
                    metadata: {labels: {app: %1$s}}
                    spec:
                      serviceAccountName: %4$s
                      containers:
                """.formatted(name, ns, replicas, serviceAccount) + SERVER_CONTAINERS.indent(4) + "---\n";
    }

    /** One server pod on {@code node}, labels app=NAME plus {@code labels}. */
    static String serverPod(String ns, String name, String serviceAccount, String node, Map<String, String> labels) {
        return pod(ns, name, serviceAccount, node, labels, SERVER_CONTAINERS);
    }

    /** A client pod (it sleeps; the tests exec curl, socat, wget in it) on {@code node}. */
    static String clientPod(String ns, String name, String serviceAccount, String node, Map<String, String> labels) {
        return pod(ns, name, serviceAccount, node, labels,
                "  - {name: client, image: ignored, command: [sleep, \"100000\"]}\n");
    }

    private static String pod(String ns, String name, String serviceAccount, String node, Map<String, String> labels,
                              String containers) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: %1$s
                  namespace: %2$s
                  labels: {%5$s}
                spec:
                  serviceAccountName: %3$s
                  nodeName: %4$s
                  containers:
                """.formatted(name, ns, serviceAccount, node, labels(name, labels)) + containers + "---\n";
    }

    /** A Service for pods with app=APP: HTTP 8080 and echo 9000. */
    static String service(String ns, String name, String app) {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                  selector: {app: %3$s}
                  ports:
                  - {name: http, port: 8080, targetPort: http}
                  - {name: echo, port: 9000, targetPort: echo}
                ---
                """.formatted(name, ns, app);
    }

    /**
     * An AuthorizationPolicy. {@code app} null: namespace-wide; else a selector on app=APP.
     * {@code principals}: the sources the one rule matches (cluster.local/ns/NS/sa/SA).
     */
    static String authorizationPolicy(String ns, String name, String app, String action, String... principals) {
        String selector = app == null ? "" : "  selector:\n    matchLabels: {app: " + app + "}\n";
        String list = java.util.Arrays.stream(principals).map(p -> "\"" + p + "\"").collect(Collectors.joining(", "));
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                %3$s  action: %4$s
                  rules:
                  - from:
                    - source:
                        principals: [%5$s]
                ---
                """.formatted(name, ns, selector, action, list);
    }

    /** A namespace-wide PeerAuthentication. */
    static String peerAuthentication(String ns, String mode) {
        return """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: %1$s}
                spec:
                  mtls: {mode: %2$s}
                ---
                """.formatted(ns, mode);
    }

    private static String labels(String app, Map<String, String> extra) {
        StringBuilder b = new StringBuilder("app: " + app);
        extra.forEach((k, v) -> b.append(", ").append(k).append(": ").append(v));
        return b.toString();
    }
}
