package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ObjectRef;
import io.envoyproxy.envoy.config.route.v3.Route;
import java.util.List;
import java.util.Map;

/**
 * What one ingress gateway proxy serves, whatever the user wrote it with (an Istio
 * {@code Gateway} with VirtualServices bound by {@code gateways:}, a Gateway API
 * {@code Gateway} of class {@code istio} with its routes, or a Kubernetes {@code Ingress}):
 * the sources translate into this model, {@code GatewayTranslator} turns it into Envoy's
 * Listener, RouteConfiguration, Cluster, ClusterLoadAssignment and Secret resources.
 * Records only; every list is copied and immutable.
 */
public final class GatewayModel {

    private GatewayModel() {
    }

    /**
     * {@code NS/~k1=v1,k2=v2} (labels sorted by key): the proxy key of pods with these labels
     * (CONTRACT seam 1; {@code NodeMetadata#proxyKey} reads the same from a node).
     */
    public static String labelKey(String namespace, Map<String, String> labels) {
        requireNonNull(namespace, "namespace");
        java.util.StringJoiner j = new java.util.StringJoiner(",", namespace + "/~", "");
        new java.util.TreeMap<>(labels).forEach((k, v) -> j.add(k + "=" + v));
        return j.toString();
    }

    /**
     * {@code NS/@POD}: the proxy key of one gateway pod, named by the node's {@code NAME} (its pod
     * name). A proxy may not know its pod's every label (a Kubernetes Deployment adds
     * {@code pod-template-hash}, local mode its own), so each pod an Istio Gateway selects is also
     * served under its name, its labels read from the pod object itself.
     */
    public static String podKey(String namespace, String pod) {
        requireNonNull(namespace, "namespace");
        requireNonNull(pod, "pod");
        return namespace + "/@" + pod;
    }

    /** A server's protocol, as Istio's {@code Server.port.protocol} names them. */
    public enum Protocol {
        HTTP, HTTPS, HTTP2, GRPC, TCP, TLS;

        /** True when requests are routed by HTTP route tables (TLS terminated first for HTTPS). */
        public boolean isHttp() {
            return this == HTTP || this == HTTPS || this == HTTP2 || this == GRPC;
        }
    }

    /**
     * Istio's {@code ServerTLSSettings.mode} as the gateway serves it (AUTO_PASSTHROUGH, multi-network
     * east-west, is not one: reported and left out).
     */
    public enum TlsMode {
        SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, ISTIO_MUTUAL;

        /** Whether client certificates are verified when sent (MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL). */
        public boolean verifiesClients() {
            return this == MUTUAL || this == OPTIONAL_MUTUAL || this == ISTIO_MUTUAL;
        }

        /** Whether the CA comes from the credential's {@code ca.crt} (MUTUAL, OPTIONAL_MUTUAL). */
        public boolean usesCredentialCa() {
            return this == MUTUAL || this == OPTIONAL_MUTUAL;
        }
    }

    /**
     * A reference to the Secret holding a server's certificate (and, for MUTUAL, {@code ca.crt}).
     *
     * @param namespace the Secret's namespace (the gateway proxy's for Istio's {@code credentialName})
     * @param name the Secret's name
     */
    public record SecretRef(String namespace, String name) {
        public SecretRef {
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
        }
    }

    /**
     * The CA certificates (key {@code ca.crt}) client certificates are verified against, from a
     * ConfigMap or a Secret (Gateway API's {@code frontendValidation.caCertificateRefs}).
     *
     * @param configMap true for a ConfigMap, false for a Secret
     */
    public record CaRef(boolean configMap, String namespace, String name) {
        public CaRef {
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
        }

        /** How the object is named in problems: {@code ConfigMap ns/name}. */
        public String describe() {
            return (configMap ? "ConfigMap " : "Secret ") + namespace + "/" + name;
        }
    }

    /**
     * TLS at a server.
     *
     * @param mode SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH or ISTIO_MUTUAL
     * @param credential the certificate's Secret; null for PASSTHROUGH and ISTIO_MUTUAL (the gateway's
     *     own mesh certificate, SDS {@code default}, clients verified against SDS {@code ROOTCA})
     * @param subjectAltNames for the modes verifying clients: client SANs accepted (empty: any the CA signed)
     * @param minVersion {@code TLSV1_2} or {@code TLSV1_3}; empty for the default (1.2)
     * @param maxVersion empty for the default (1.3)
     * @param cipherSuites TLS 1.2 suites by OpenSSL name (empty: the defaults)
     * @param spkiPins client certificates' accepted base64 SHA-256 SPKI digests (Envoy: either pin list matching suffices)
     * @param certificateHashes client certificates' accepted hex SHA-256 digests
     * @param clientCa where the CA certificates verifying clients are, when not in the credential (Gateway
     *     API {@code frontendValidation}); null otherwise
     */
    public record Tls(TlsMode mode, SecretRef credential, List<String> subjectAltNames, String minVersion,
                      String maxVersion, List<String> cipherSuites, List<String> spkiPins,
                      List<String> certificateHashes, CaRef clientCa) {
        public Tls {
            requireNonNull(mode, "mode");
            subjectAltNames = List.copyOf(subjectAltNames);
            requireNonNull(minVersion, "minVersion");
            requireNonNull(maxVersion, "maxVersion");
            cipherSuites = List.copyOf(cipherSuites);
            spkiPins = List.copyOf(spkiPins);
            certificateHashes = List.copyOf(certificateHashes);
        }

        /** Clients verified against the credential's own CA (Istio's MUTUAL), or not at all. */
        public Tls(TlsMode mode, SecretRef credential, List<String> subjectAltNames, String minVersion,
                   String maxVersion, List<String> cipherSuites, List<String> spkiPins,
                   List<String> certificateHashes) {
            this(mode, credential, subjectAltNames, minVersion, maxVersion, cipherSuites, spkiPins, certificateHashes,
                    null);
        }

        /** The same, clients verified against {@code ca} in mode {@code m} (MUTUAL or OPTIONAL_MUTUAL). */
        public Tls withClientCa(TlsMode m, CaRef ca) {
            return new Tls(m, credential, subjectAltNames, minVersion, maxVersion, cipherSuites, spkiPins,
                    certificateHashes, requireNonNull(ca, "ca"));
        }

        /** Without cipher suites (the defaults). */
        public Tls(TlsMode mode, SecretRef credential, List<String> subjectAltNames, String minVersion,
                   String maxVersion) {
            this(mode, credential, subjectAltNames, minVersion, maxVersion, List.of(), List.of(), List.of());
        }
    }

    /**
     * One server (Istio) or listener (Gateway API) or the Ingress's implied 80/443 server.
     *
     * @param name unique within the proxy: Istio's {@code port.name}, a listener's name
     * @param port the port the proxy listens on (Istio's {@code port.number}; the gateway's {@code targetPort})
     * @param protocol what is spoken
     * @param hosts host patterns served, {@code namespace/} prefixes already removed: {@code *},
     *     {@code *.example.com} or {@code app.example.com}
     * @param tls null for plaintext
     * @param httpsRedirect Istio's {@code tls.httpsRedirect}: every request answered 301 to https
     * @param origin the object that declared it (for errors and status)
     */
    public record Server(String name, int port, Protocol protocol, List<String> hosts, Tls tls, boolean httpsRedirect,
                         ObjectRef origin) {
        public Server {
            requireNonNull(name, "name");
            requireNonNull(protocol, "protocol");
            hosts = List.copyOf(hosts);
            requireNonNull(origin, "origin");
        }
    }

    /**
     * Routes for one host on one server: one Envoy virtual host.
     *
     * @param server the {@link Server#name()} these routes attach to
     * @param host the domain ({@code app.example.com}, {@code *.example.com} or {@code *})
     * @param routes Envoy routes, already translated (VirtualService, HTTPRoute or Ingress rules)
     * @param origin the routing object they came from
     */
    public record HttpHost(String server, String host, List<Route> routes, ObjectRef origin) {
        public HttpHost {
            requireNonNull(server, "server");
            requireNonNull(host, "host");
            routes = List.copyOf(routes);
            requireNonNull(origin, "origin");
        }
    }

    /**
     * A TLS passthrough route (VirtualService {@code tls}, TLSRoute) or a TCP route ({@code tcp}):
     * connections on {@code server} whose SNI matches {@code sniHosts} (empty: any, TCP) go to
     * {@code cluster}'s endpoints, bytes untouched.
     */
    public record StreamRoute(String server, List<String> sniHosts, String cluster, ObjectRef origin) {
        public StreamRoute {
            requireNonNull(server, "server");
            sniHosts = List.copyOf(sniHosts);
            requireNonNull(cluster, "cluster");
            requireNonNull(origin, "origin");
        }
    }

    /**
     * Everything one gateway proxy serves.
     *
     * @param key the proxy key istiod-lite serves it under (see {@code NodeMetadata#proxyKey}):
     *     {@code NS/NAME} for a Gateway API gateway, {@code NS/~k=v,k=v} for pods an Istio
     *     Gateway's selector picks
     * @param namespace the proxy's namespace (where {@code credentialName} Secrets are read)
     * @param servers its servers
     * @param hosts HTTP routes per server and host
     * @param streams passthrough and TCP routes
     * @param clusters every cluster name a route refers to ({@code outbound|PORT|SUBSET|HOST})
     * @param secrets every Secret a server refers to, with the SDS name it is served under
     */
    public record Proxy(String key, String namespace, List<Server> servers, List<HttpHost> hosts,
                        List<StreamRoute> streams, List<String> clusters, Map<String, SecretRef> secrets) {
        public Proxy {
            requireNonNull(key, "key");
            requireNonNull(namespace, "namespace");
            servers = List.copyOf(servers);
            hosts = List.copyOf(hosts);
            streams = List.copyOf(streams);
            clusters = List.copyOf(clusters);
            secrets = Map.copyOf(secrets);
        }
    }
}
