package dev.ambit.it;

/**
 * The manifests of the waypoint tests: a Service {@code reviews} with two versions (pods
 * {@code reviews-v1} on node1 and {@code reviews-v2} on node2) running
 * {@code resources/waypoint/backend.js} (HTTP/1.1 8080, h2c 8081, gRPC 50051, TCP echo 9000),
 * a Service {@code ratings} with its own backend that opts out of the namespace's waypoint,
 * a client pod, and the VirtualServices and DestinationRule the tests apply.
 */
final class WaypointYaml {

    private WaypointYaml() {
    }

    static final String NS = "it-waypoint";

    static String backend() {
        return Ambitctl.REPO.resolve("integration/src/test/resources/waypoint/backend.js").toString();
    }

    static String client() {
        return Ambitctl.REPO.resolve("integration/src/test/resources/waypoint/client.js").toString();
    }

    private static String backendPod(String name, String app, String version, String node) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: %1$s
                  namespace: %2$s
                  labels: {app: %3$s, version: %4$s}
                spec:
                  serviceAccountName: %3$s
                  nodeName: %5$s
                  containers:
                  - name: backend
                    image: ignored
                    command: [node, "%6$s"]
                    env:
                    - {name: VERSION, value: %4$s}
                    ports:
                    - {name: http, containerPort: 8080}
                    - {name: h2c, containerPort: 8081}
                    - {name: grpc, containerPort: 50051}
                    - {name: echo, containerPort: 9000}
                ---
                """.formatted(name, NS, app, version, node, backend());
    }

    private static String service(String name, String extraLabels) {
        return """
                apiVersion: v1
                kind: Service
                metadata:
                  name: %1$s
                  namespace: %2$s
                  labels: {%3$s}
                spec:
                  selector: {app: %1$s}
                  ports:
                  - {name: http, port: 8080, targetPort: 8080}
                  - {name: http2, port: 8081, targetPort: 8081}
                  - {name: grpc, port: 50051, targetPort: 50051}
                  - {name: tcp-echo, port: 9000, targetPort: 9000}
                ---
                """.formatted(name, NS, extraLabels);
    }

    /** Namespace, service accounts, the backends, the services, the client. */
    static String app() {
        return Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "reviews") + Yaml.serviceAccount(NS, "ratings")
                + Yaml.serviceAccount(NS, "client")
                + backendPod("reviews-v1", "reviews", "v1", "node1") + backendPod("reviews-v2", "reviews", "v2", "node2")
                + backendPod("ratings-v1", "ratings", "v1", "node2")
                + service("reviews", "app: reviews")
                // Istio's opt-out: this Service keeps the L4 path though its namespace has a waypoint.
                + service("ratings", "app: ratings, istio.io/use-waypoint: none")
                + """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: client
                  namespace: %1$s
                  labels: {app: client}
                spec:
                  serviceAccountName: client
                  nodeName: node1
                  containers:
                  - {name: client, image: ignored, command: [sleep, "100000"]}
                ---
                """.formatted(NS);
    }

    static final String DESTINATION_RULE = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews, namespace: %1$s}
            spec:
              host: reviews
              subsets:
              - {name: v1, labels: {version: v1}}
              - {name: v2, labels: {version: v2}}
            ---
            """.formatted(NS);

    /**
     * The routes of the HTTP tests, first match wins: jason → v2; /old redirected; /api
     * rewritten; /flaky retried; /slow timed out; /delayed and /aborted faults; /mirrored
     * mirrored to v2; /headers with header changes; /only-this is the last prefix, so other
     * paths on port 8080 fall through to the 90/10 split, and /none matches nothing on 8081.
     */
    static final String VIRTUAL_SERVICE = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews, namespace: %1$s}
            spec:
              hosts: [reviews]
              http:
              - name: jason
                match: [{headers: {end-user: {exact: jason}}}]
                route: [{destination: {host: reviews, subset: v2}}]
              - name: redirect
                match: [{uri: {prefix: /old}}]
                redirect: {uri: /new, redirectCode: 301}
              - name: rewrite
                match: [{uri: {prefix: /api/}}]
                rewrite: {uri: /, authority: rewritten.example}
                route: [{destination: {host: reviews, subset: v1}}]
              - name: flaky
                match: [{uri: {exact: /flaky}}]
                retries: {attempts: 3, retryOn: 5xx}
                route: [{destination: {host: reviews, subset: v1}}]
              - name: slow
                match: [{uri: {prefix: /sleep}}]
                timeout: 1s
                route: [{destination: {host: reviews, subset: v1}}]
              - name: delayed
                match: [{uri: {exact: /delayed}}]
                fault: {delay: {fixedDelay: 300ms, percentage: {value: 50}}}
                route: [{destination: {host: reviews, subset: v1}}]
              - name: aborted
                match: [{uri: {exact: /aborted}}]
                fault: {abort: {httpStatus: 418, percentage: {value: 30}}}
                route: [{destination: {host: reviews, subset: v1}}]
              - name: mirrored
                match: [{uri: {exact: /mirrored}}]
                mirror: {host: reviews, subset: v2}
                mirrorPercentage: {value: 100}
                route: [{destination: {host: reviews, subset: v1}}]
              - name: headers
                match: [{uri: {exact: /headers}}]
                headers:
                  request: {set: {x-from-waypoint: "yes"}, remove: [x-drop-me]}
                  response: {add: {x-answered-by: waypoint}}
                route: [{destination: {host: reviews, subset: v1}}]
              - name: grpc-and-h2
                match: [{port: 50051}, {port: 8081, uri: {prefix: /h2}}]
                route: [{destination: {host: reviews, subset: v2}}]
              - name: split
                match: [{port: 8080}]
                route:
                - {destination: {host: reviews, subset: v1}, weight: 90}
                - {destination: {host: reviews, subset: v2}, weight: 10}
            ---
            """.formatted(NS);
}
