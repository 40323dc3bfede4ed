package dev.ambit.it;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The manifests of {@link IngressTest}, as a user of Istio writes them for the secure-ingress
 * tasks: the apps (frontend → backend, two versions of orders, a pod terminating TLS itself;
 * {@code resources/ingress/app.js}), Istio Gateways selecting {@code istio: ingressgateway},
 * VirtualServices bound to them, and the credential Secrets in {@code istio-system}, the
 * gateway's namespace (Istio reads {@code credentialName} there).
 */
final class IngressYaml {

    static final String NS = "it-ingress";
    static final String GATEWAY_NS = "istio-system";
    /** The apps' script, where the build copied it (pods run the machine's files). */
    static final Path APP = resource("/ingress/app.js");

    static final String APP_HOST = "app.example.com";
    static final String MTLS_HOST = "mtls.example.com";
    static final String PASSTHROUGH_HOST = "passthrough.example.com";
    static final String REDIRECT_HOST = "secure.example.com";

    private IngressYaml() {
    }

    private static Path resource(String name) {
        try {
            return Path.of(java.util.Objects.requireNonNull(IngressYaml.class.getResource(name),
                    name + " is not on the test class path").toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One app pod: {@code labels} inside the braces, {@code env} as YAML list items. */
    private static String pod(String name, String sa, String labels, String node, String env, int port) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: %1$s
                  namespace: %2$s
                  labels: {%3$s}
                spec:
                  serviceAccountName: %4$s
                  nodeName: %5$s
                  containers:
                  - name: app
                    image: ignored
                    command: [node, "%6$s"]
                    ports: [{containerPort: %7$d}]
                    env:
                %8$s---
                """.formatted(name, NS, labels, sa, node, APP, port, env.indent(4));
    }

    private static String service(String name, String portName, int port) {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                  selector: {app: %1$s}
                  ports: [{name: %3$s, port: %4$d, targetPort: %4$d}]
                ---
                """.formatted(name, NS, portName, port);
    }

    /**
     * The namespace (ambient) and its apps: frontend on node1 calling backend on node2 (so the
     * call crosses nodes over HBONE), orders v1 and v2, and the passthrough pod serving
     * {@code passthroughCert} on 8443.
     */
    static String app(Certs.Pair passthroughCert) {
        StringBuilder b = new StringBuilder(Yaml.namespace(NS, true));
        for (String sa : new String[] {"frontend", "backend", "orders", "passthrough"}) {
            b.append(Yaml.serviceAccount(NS, sa));
        }
        b.append(pod("frontend", "frontend", "app: frontend", "node1", "- {name: ROLE, value: frontend}\n", 8080));
        b.append(pod("backend", "backend", "app: backend", "node2", "- {name: ROLE, value: backend}\n", 8080));
        b.append(pod("orders-v1", "orders", "app: orders, version: v1", "node1",
                "- {name: ROLE, value: orders}\n- {name: VERSION, value: v1}\n", 8080));
        b.append(pod("orders-v2", "orders", "app: orders, version: v2", "node2",
                "- {name: ROLE, value: orders}\n- {name: VERSION, value: v2}\n", 8080));
        b.append(pod("passthrough", "passthrough", "app: passthrough", "node2", "- {name: ROLE, value: passthrough}\n"
                + "- {name: TLS_CERT, value: \"" + passthroughCert.cert() + "\"}\n"
                + "- {name: TLS_KEY, value: \"" + passthroughCert.key() + "\"}\n", 8443));
        b.append(service("frontend", "http", 8080)).append(service("backend", "http", 8080))
                .append(service("orders", "http", 8080)).append(service("passthrough", "https", 8443));
        b.append("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: orders, namespace: %1$s}
                spec:
                  host: orders
                  subsets:
                  - {name: v1, labels: {version: v1}}
                  - {name: v2, labels: {version: v2}}
                ---
                """.formatted(NS));
        return b.toString();
    }

    /** A Secret in the gateway's namespace; {@code data} values in plain text (base64-encoded here). */
    static String secret(String name, String type, Map<String, String> data) {
        StringBuilder b = new StringBuilder("""
                apiVersion: v1
                kind: Secret
                metadata: {name: %s, namespace: %s}
                type: %s
                data:
                """.formatted(name, GATEWAY_NS, type));
        data.forEach((k, v) -> b.append("  ").append(k).append(": ").append(Certs.b64(v)).append('\n'));
        return b.append("---\n").toString();
    }

    /** A {@code kubernetes.io/tls} Secret with the pair's certificate and key. */
    static String tlsSecret(String name, Certs.Pair pair) {
        Map<String, String> data = new LinkedHashMap<>();
        data.put("tls.crt", pair.certPem());
        data.put("tls.key", pair.keyPem());
        return secret(name, "kubernetes.io/tls", data);
    }

    /** A generic Secret with {@code tls.crt}, {@code tls.key} and {@code ca.crt}: Istio's MUTUAL credential. */
    static String mutualSecret(String name, Certs.Pair pair, Certs.Pair clientCa) {
        Map<String, String> data = new LinkedHashMap<>();
        data.put("tls.crt", pair.certPem());
        data.put("tls.key", pair.keyPem());
        data.put("ca.crt", clientCa.certPem());
        return secret(name, "Opaque", data);
    }

    /**
     * {@code app-gateway}: app.example.com over HTTP and HTTPS (SIMPLE, {@code app-credential}),
     * mtls.example.com (MUTUAL, {@code mtls-credential}) and passthrough.example.com
     * (PASSTHROUGH) on 443; {@code redirect-gateway}: secure.example.com on 80 with
     * {@code httpsRedirect}. Then their VirtualServices.
     */
    static final String GATEWAYS = """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: app-gateway, namespace: %1$s}
            spec:
              selector: {istio: ingressgateway}
              servers:
              - port: {number: 80, name: http, protocol: HTTP}
                hosts: [%2$s]
              - port: {number: 443, name: https, protocol: HTTPS}
                hosts: [%2$s]
                tls: {mode: SIMPLE, credentialName: app-credential}
              - port: {number: 443, name: https-mtls, protocol: HTTPS}
                hosts: [%3$s]
                tls: {mode: MUTUAL, credentialName: mtls-credential}
              - port: {number: 443, name: tls-passthrough, protocol: TLS}
                hosts: [%4$s]
                tls: {mode: PASSTHROUGH}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: redirect-gateway, namespace: %1$s}
            spec:
              selector: {istio: ingressgateway}
              servers:
              - port: {number: 80, name: http-redirect, protocol: HTTP}
                hosts: [%5$s]
                tls: {httpsRedirect: true}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: app, namespace: %1$s}
            spec:
              hosts: [%2$s, %3$s]
              gateways: [app-gateway]
              http:
              - name: orders
                match: [{uri: {prefix: /orders}}]
                route:
                - {destination: {host: orders, subset: v1, port: {number: 8080}}, weight: 90}
                - {destination: {host: orders, subset: v2, port: {number: 8080}}, weight: 10}
              - name: frontend
                route: [{destination: {host: frontend, port: {number: 8080}}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: secure, namespace: %1$s}
            spec:
              hosts: [%5$s]
              gateways: [redirect-gateway]
              http:
              - route: [{destination: {host: frontend, port: {number: 8080}}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: passthrough, namespace: %1$s}
            spec:
              hosts: [%4$s]
              gateways: [app-gateway]
              tls:
              - match: [{port: 443, sniHosts: [%4$s]}]
                route: [{destination: {host: passthrough, port: {number: 8443}}}]
            ---
            """.formatted(NS, APP_HOST, MTLS_HOST, PASSTHROUGH_HOST, REDIRECT_HOST);

    /**
     * Bad input: {@code broken-gateway} with one server whose Secret does not exist and one
     * whose Secret is not a certificate.
     */
    static final String BROKEN_GATEWAY = """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: broken-gateway, namespace: %1$s}
            spec:
              selector: {istio: ingressgateway}
              servers:
              - port: {number: 443, name: https-missing, protocol: HTTPS}
                hosts: [missing.example.com]
                tls: {mode: SIMPLE, credentialName: missing-credential}
              - port: {number: 443, name: https-malformed, protocol: HTTPS}
                hosts: [malformed.example.com]
                tls: {mode: SIMPLE, credentialName: malformed-credential}
            ---
            """.formatted(NS);

    /** Bad input: a newer Gateway claiming app.example.com on 443 with another certificate. */
    static final String CONFLICTING_GATEWAY = """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: conflict-gateway, namespace: %1$s}
            spec:
              selector: {istio: ingressgateway}
              servers:
              - port: {number: 443, name: https-conflict, protocol: HTTPS}
                hosts: [%2$s]
                tls: {mode: SIMPLE, credentialName: conflict-credential}
            ---
            """.formatted(NS, APP_HOST);
}
