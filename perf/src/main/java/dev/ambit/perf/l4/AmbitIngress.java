package dev.ambit.perf.l4;

import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.testing.TestNetwork.Node;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Ambit's ingress as a user of Istio gets it: Istio's {@code istio-ingressgateway} (the
 * waypoint-proxy in gateway mode, an uncaptured pod of {@code istio-system} labelled
 * {@code istio: ingressgateway}, on a host of its own) terminates TLS for
 * {@value IngressCerts#HOST} on 443 with the certificate of a {@code kubernetes.io/tls}
 * Secret ({@code credentialName}), matches the host, routes by one VirtualService bound to
 * the Gateway and sends each request over HBONE, with its own SPIFFE identity, to the server
 * pod's node agent ({@code nodei}), which hands it to nginx. The client (the shared client pod,
 * outside the mesh) calls {@code https://app.example.com/} with keep-alive.
 *
 * <p>Everything is configured as in production, by istiod-lite over delta xDS from a folder of
 * manifests: the Gateway, the VirtualService, the Secret, the gateway's pod and Service (what
 * {@code ambitctl local up} installs), the server's Service and pod. istiod-lite translates them
 * into the gateway's Listener, RouteConfiguration, Secret (SDS), Clusters and endpoints.
 *
 * <p>Proxies, in order: the gateway (the {@link #l7Proxy()}), the server's agent.
 */
final class AmbitIngress implements Scenario {

    static final String SERVER_VIP = "10.96.78.10";
    static final String GATEWAY_VIP = "10.96.78.100";

    private final String name;
    private final BenchEnv env;
    private final Path repo;
    private final Node cp;
    private final Node gatewayHost;
    private final Node node;
    private final Node client;
    private final Node server;
    private final int gatewayWorkers;
    private final List<String> gatewayJvm;
    private final List<Proc> started = new ArrayList<>();
    private IngressCerts certs;
    private Proc gateway;
    private Proc agent;

    /**
     * @param gatewayWorkers the gateway's {@code --worker-threads}; 0: its default, one per core
     * @param gatewayJvm the gateway's JVM flags (the waypoint's, {@link AmbitWaypoint#WAYPOINT_JVM}, by default)
     */
    AmbitIngress(String name, BenchEnv env, Path repo, Node cp, Node gatewayHost, Node node, Node client, Node server,
                 int gatewayWorkers, List<String> gatewayJvm) {
        this.name = name;
        this.env = env;
        this.repo = repo;
        this.cp = cp;
        this.gatewayHost = gatewayHost;
        this.node = node;
        this.client = client;
        this.server = server;
        this.gatewayWorkers = gatewayWorkers;
        this.gatewayJvm = List.copyOf(gatewayJvm);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Node client() {
        return client;
    }

    @Override
    public String httpUrl() {
        return "https://" + IngressCerts.HOST + "/";
    }

    @Override
    public boolean terminatesTls() {
        return true;
    }

    @Override
    public String hosts() {
        return BenchEnv.ip(gatewayHost) + " " + IngressCerts.HOST + "\n";
    }

    @Override
    public List<String> curlOptions() {
        return List.of("--cacert", certs.ca().toString());
    }

    @Override
    public boolean carriesIperf() {
        return false;
    }

    @Override
    public String iperfHost() {
        return BenchEnv.ip(gatewayHost);
    }

    @Override
    public int iperfPort() {
        return IngressProxy.HTTPS_PORT;
    }

    @Override
    public List<Proc> proxies() {
        return List.of(gateway, agent);
    }

    @Override
    public Proc l7Proxy() {
        return gateway;
    }

    @Override
    public int l7Port() {
        return IngressProxy.HTTPS_PORT;
    }

    @Override
    public Node l7Node() {
        return gatewayHost;
    }

    @Override
    public void start() throws Exception {
        Path dir = Files.createDirectories(env.dir().resolve(name));
        certs = IngressCerts.shared(env.dir().resolve("ingress-certs"));
        writeConfig(dir);
        String n = node.name();
        String gw = gatewayHost.name();
        Path credentials = dir.resolve("credentials");
        NodeCredentials.issue(credentials, n, dir.resolve(n + "/token"));
        NodeCredentials.issue(credentials, gw, dir.resolve(gw + "/token"));
        LocalSandboxes.write(dir.resolve(n + "/pods"), new PodSandbox("bench", "server",
                env.net().id() + "-" + server.name(), server.cgroup(), server.netns()));

        Path java = BenchEnv.java();
        Proc istiod = Proc.start(name + "-istiod-lite", cp.netns(), null, env.serviceCpus(), dir.resolve("istiod.log"),
                BenchEnv.istiodCommand(repo, dir, credentials));
        started.add(istiod);
        BenchEnv.awaitListening(cp, istiod, Duration.ofSeconds(180), IstioPorts.ISTIOD_SECURE);
        gateway = gateway(dir, java);
        agent = agent(dir);
        BenchEnv.awaitListening(server, agent, Duration.ofSeconds(180), IstioPorts.HBONE, IstioPorts.INBOUND_PLAINTEXT);
        // 443 is bound once the gateway has its Listener from istiod-lite (gateway mode binds LDS ports).
        BenchEnv.awaitListening(gatewayHost, gateway, Duration.ofSeconds(180), IngressProxy.HTTPS_PORT);
    }

    /** The gateway as {@code ambitctl local up} runs istio-ingressgateway: gateway mode, the pod's labels. */
    private Proc gateway(Path dir, Path java) throws Exception {
        Path labels = dir.resolve("labels");
        // The Kubernetes downward API's format, as a pod's /etc/istio/pod/labels.
        Files.writeString(labels, "app=\"istio-ingressgateway\"\nistio=\"ingressgateway\"\n");
        List<String> cmd = new ArrayList<>();
        cmd.add(java.toString());
        cmd.addAll(gatewayJvm);
        cmd.addAll(List.of("-jar", repo.resolve("waypoint-proxy/target/waypoint-proxy.jar").toString(),
                "--mode", "gateway", "--labels-file", labels.toString(),
                "--namespace", "istio-system", "--name", "istio-ingressgateway",
                "--pod-name", "istio-ingressgateway-0", "--pod-ip", BenchEnv.ip(gatewayHost),
                "--service-account", "istio-ingressgateway-service-account",
                "--xds-address", BenchEnv.ip(cp) + ":" + IstioPorts.ISTIOD_SECURE,
                "--ca-address", BenchEnv.ip(cp) + ":" + IstioPorts.ISTIOD_SECURE,
                "--root-cert", dir.resolve("ca/ambit-root-cert.pem").toString(),
                "--token-file", dir.resolve(gatewayHost.name() + "/token").toString(),
                // Istio's default: no access log (meshConfig.accessLogFile empty).
                "--log-level", "info,ambit.access=off"));
        if (gatewayWorkers > 0) {
            cmd.addAll(List.of("--worker-threads", Integer.toString(gatewayWorkers)));
        }
        Proc p = Proc.start(name + "-gateway", gatewayHost.netns(), null, env.serviceCpus(),
                dir.resolve("gateway.log"), cmd);
        started.add(p);
        return p;
    }

    private Proc agent(Path dir) {
        String n = node.name();
        List<String> cmd = BenchEnv.agentCommand(env.agentJvm(), repo, dir, dir.resolve(n), node, cp,
                env.net().bpffsRoot(), env.agentFlags());
        Proc p = Proc.start(name + "-agent-" + n, node.netns(), null, env.serviceCpus(),
                dir.resolve("agent-" + n + ".log"), cmd);
        started.add(p);
        return p;
    }

    private static String b64(Path file) throws java.io.IOException {
        return Base64.getEncoder().encodeToString(Files.readString(file).getBytes(StandardCharsets.UTF_8));
    }

    /** The mesh as istiod-lite reads it; what {@code ambitctl local} would write for the same objects. */
    private void writeConfig(Path dir) throws Exception {
        Path config = Files.createDirectories(dir.resolve("config"));
        Files.writeString(config.resolve("mesh.yaml"), """
                apiVersion: v1
                kind: Namespace
                metadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: istio-system}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: server, namespace: bench}
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: istio-ingressgateway-service-account, namespace: istio-system}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: server, namespace: bench, labels: {app: server}}
                spec:
                  nodeName: %1$s
                  serviceAccountName: server
                  containers: [{name: nginx, image: none, ports: [{containerPort: %2$d}]}]
                status: {phase: Running, podIP: %3$s, podIPs: [{ip: %3$s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: server, namespace: bench}
                spec:
                  selector: {app: server}
                  clusterIP: %4$s
                  ports: [{name: http, port: %2$d, targetPort: %2$d}]
                ---
                apiVersion: v1
                kind: Pod
                metadata:
                  name: istio-ingressgateway-0
                  namespace: istio-system
                  labels: {app: istio-ingressgateway, istio: ingressgateway, istio.io/dataplane-mode: none}
                spec:
                  nodeName: %5$s
                  serviceAccountName: istio-ingressgateway-service-account
                  containers: [{name: istio-proxy, image: none, ports: [{containerPort: 80}, {containerPort: 443}, {containerPort: 15021}]}]
                status: {phase: Running, podIP: %6$s, podIPs: [{ip: %6$s}], conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: istio-ingressgateway, namespace: istio-system, labels: {app: istio-ingressgateway, istio: ingressgateway}}
                spec:
                  type: LoadBalancer
                  selector: {app: istio-ingressgateway, istio: ingressgateway}
                  clusterIP: %7$s
                  ports:
                  - {name: status-port, port: 15021, targetPort: 15021}
                  - {name: http2, port: 80, targetPort: 80}
                  - {name: https, port: 443, targetPort: 443}
                ---
                apiVersion: v1
                kind: Secret
                metadata: {name: app-credential, namespace: istio-system}
                type: kubernetes.io/tls
                data:
                  tls.crt: %8$s
                  tls.key: %9$s
                ---
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: app-gateway, namespace: bench}
                spec:
                  selector: {istio: ingressgateway}
                  servers:
                  - port: {number: 443, name: https, protocol: HTTPS}
                    hosts: [%10$s]
                    tls: {mode: SIMPLE, credentialName: app-credential}
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: app, namespace: bench}
                spec:
                  hosts: [%10$s]
                  gateways: [app-gateway]
                  http:
                  - route: [{destination: {host: server.bench.svc.cluster.local, port: {number: %2$d}}}]
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: bench}
                spec: {mtls: {mode: STRICT}}
                """.formatted(node.name(), BenchEnv.HTTP_PORT, BenchEnv.ip(server), SERVER_VIP, gatewayHost.name(),
                BenchEnv.ip(gatewayHost), GATEWAY_VIP, b64(certs.cert()), b64(certs.key()), IngressCerts.HOST));
    }

    @Override
    public void close() {
        for (int i = started.size() - 1; i >= 0; i--) {
            started.get(i).close();
        }
        try {
            EbpfRedirector.uninstall(env.net().bpffsRoot().resolve(node.name()));
        } catch (RuntimeException e) {
            System.err.println(name + ": uninstalling " + node.name() + "'s BPF pins: " + e.getMessage());
        }
    }
}
