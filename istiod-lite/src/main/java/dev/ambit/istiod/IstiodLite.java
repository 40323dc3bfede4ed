package dev.ambit.istiod;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Limits;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.http.HttpEndpoints.Response;
import dev.ambit.common.metrics.Histogram;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.ca.Authentication;
import dev.ambit.istiod.ca.CaService;
import dev.ambit.istiod.ca.CallerAuthenticator;
import dev.ambit.istiod.ca.CertificateAuthority;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.istiod.ca.TokenReviewAuthenticator;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ConfigSource;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.config.kube.KubernetesSource;
import dev.ambit.istiod.deploy.Fabric8ClusterWriter;
import dev.ambit.istiod.deploy.RootCertPublisher;
import dev.ambit.istiod.deploy.WaypointDeployer;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshResources;
import dev.ambit.istiod.webhook.CaBundlePatcher;
import dev.ambit.istiod.webhook.ValidationWebhook;
import dev.ambit.istiod.webhook.WebhookConfiguration;
import dev.ambit.istiod.xds.L7DebugJson;
import dev.ambit.istiod.xds.XdsServer;
import dev.ambit.istiod.xds.XdsService;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.grpc.Server;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * istiod-lite: the one wiring class. A config source feeds snapshots to the model
 * thread, which rebuilds the mesh model (workloads, policies) and translates the L7
 * objects (VirtualService, DestinationRule, HTTPRoute, GRPCRoute → Envoy resources per waypoint and
 * for proxyless gRPC) from the same snapshot, and hands both to the xDS service (pushes);
 * the mesh model also goes to the CA (who runs where).
 *
 * <p>Listeners: plaintext xDS (15010), xDS and the CA over TLS (15012, serving certificate
 * issued by the mesh CA), monitoring (15014: {@code /metrics}, {@code /ready}, and for
 * loopback callers or valid tokens {@code /debug/model}, {@code /debug/clients},
 * {@code /debug/config}, {@code /debug/l7[?waypoint=NS/NAME]}), and in Kubernetes mode the
 * validating webhook (15017, HTTPS).
 */
public final class IstiodLite implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(IstiodLite.class);

    private final IstiodConfig config;
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final ExecutorService modelThread = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().name("ambit-model").daemon().factory());
    private final AtomicReference<ConfigSnapshot> pendingSnapshot = new AtomicReference<>();
    private final AtomicBoolean rebuildScheduled = new AtomicBoolean();
    private final CountDownLatch firstModel = new CountDownLatch(1);
    private final Histogram.Family rebuildSeconds;
    private volatile MeshResources model = MeshResources.empty();
    private volatile L7Resources l7 = L7Resources.empty();
    /** Keeps the last good version of each routing object across snapshots; used on the model thread. */
    private final L7Translator l7Translator;
    /** jwt: RequestAuthentication's jwksUri keys, fetched and refreshed here (Istio's istiod-side JWKS). */
    private final dev.ambit.istiod.l7.JwksFetcher jwks = dev.ambit.istiod.l7.JwksFetcher.create();
    private AutoCloseable jwksRefresh;
    private volatile ConfigSnapshot lastSnapshot;
    private volatile List<ConfigError> rejected = List.of();
    private volatile List<FailClosed> failClosed = List.of();
    private volatile Set<String> lastWarnings = Set.of();

    private ConfigSource source;
    private KubernetesClient kubernetes;
    private XdsService xds;
    private XdsServer plaintext;
    private Server secure;
    private HttpEndpoints monitoring;
    private ValidationWebhook webhook;
    private WaypointDeployer deployer;
    // istio-ca-root-cert: the mesh root in every namespace (Kubernetes mode, deploy.RootCertPublisher).
    private RootCertPublisher rootCerts;

    private IstiodLite(IstiodConfig config) {
        this.config = config;
        this.l7Translator = L7Translator.of(config.mesh(), jwks);
        this.rebuildSeconds = metrics.histogram("ambit_istiod_model_rebuild_seconds",
                "Time to rebuild the mesh model from a config snapshot.", Histogram.LATENCY_SECONDS);
        metrics.gauge("ambit_istiod_config_rejected_inputs", "Inputs currently rejected (security objects fail closed, others keep their last good version).",
                () -> rejected.size());
        metrics.gauge("ambit_istiod_config_fail_closed_objects",
                "Rejected security objects (AuthorizationPolicy, PeerAuthentication) failing closed in their scope.",
                () -> failClosed.size());
        metrics.gauge("ambit_istiod_model_workloads", "Workload and service addresses in the model.",
                () -> model.addresses().size());
        metrics.gauge("ambit_istiod_model_authorizations", "Authorization policies in the model.",
                () -> model.authorizations().size());
        metrics.gauge("ambit_istiod_model_waypoints", "Waypoints and gateway proxies with L7 resources in the model.",
                () -> l7.waypoints().size());
        metrics.gauge("ambit_istiod_l7_warnings", "Problems the L7 translation reports (see /debug/l7).",
                () -> l7.warnings().size());
    }

    /** Starts every listener and the config source; returns once the first model is served. */
    public static IstiodLite start(IstiodConfig config) throws IOException, ConfigException, InterruptedException {
        requireNonNull(config, "config");
        IstiodLite istiod = new IstiodLite(config);
        try {
            istiod.startAll();
        } catch (IOException | ConfigException | InterruptedException | RuntimeException e) {
            istiod.close();
            throw e;
        }
        return istiod;
    }

    private void startAll() throws IOException, ConfigException, InterruptedException {
        CertificateAuthority ca = CertificateAuthority.builder(config.caDir())
                .trustDomain(config.mesh().trustDomain())
                .leafLifetime(config.certTtl())
                .build();
        xds = XdsService.builder(metrics)
                .debounce(config.debounce(), config.maxDebounce())
                .build();
        CaService caService = CaService.of(ca, authenticator(), () -> model, metrics);

        plaintext = XdsServer.builder(xds).address(config.address(config.xdsPort())).build().start();
        secure = NettyServerBuilder.forAddress(config.address(config.securePort()))
                .sslContext(serverTls(ca))
                .addService(xds.bindService())
                .addService(caService.serviceDefinition())
                .maxInboundMessageSize(Limits.MAX_GRPC_MESSAGE_BYTES)
                .build()
                .start();
        DebugAccess debug = config.debugTokenFile() != null ? DebugAccess.tokenFile(config.debugTokenFile())
                : config.kubernetes() ? DebugAccess.tokenReview(kubernetes(), config.namespace())
                : DebugAccess.loopbackOnly();
        monitoring = HttpEndpoints.builder("monitoring")
                .get("/metrics", req -> Response.prometheus(metrics.scrape()))
                .get("/ready", req -> firstModel.getCount() == 0
                        ? Response.text("ready\n") : Response.status(503, "waiting for the first config snapshot\n"))
                .get("/healthz", req -> Response.text("ok\n"))
                .getAsync("/debug/model", guarded(debug, req -> Response.json(DebugJson.model(model, rejected, failClosed))))
                .getAsync("/debug/clients", guarded(debug, req -> Response.json(xds.debugView().toJson())))
                .getAsync("/debug/config", guarded(debug, req -> Response.json(DebugJson.rejected(rejected, failClosed))))
                .getAsync("/debug/l7", guarded(debug, req -> Response.json(
                        L7DebugJson.render(l7, req.param("waypoint", "")))))
                .getAsync("/debug/trust-bundle", guarded(debug, req -> Response.text(ca.trustBundlePem())))
                .bind(config.address(config.monitoringPort()));
        if (config.kubernetes()) {
            webhook = startWebhook(ca);
            registerWebhook(CaBundlePatcher.kubernetes(kubernetes()), config.webhookConfigName(), ca.trustBundlePem());
            deployer = config.waypointImage().isEmpty() ? null : startWaypointDeployer(ca);
            // istio-ca-root-cert: as istiod's namespace controller, whether or not waypoints are deployed.
            rootCerts = RootCertPublisher.builder(Fabric8ClusterWriter.of(kubernetes()),
                    ca::trustBundlePem, metrics).watch(kubernetes()).build();
            rootCerts.start();
        }

        source = config.kubernetes() ? KubernetesSource.builder(metrics).build()
                : FolderSource.of(config.configDir(), Duration.ofMillis(100), metrics);
        // jwt: refreshed keys reach the waypoints with a rebuild of the last snapshot.
        jwksRefresh = jwks.startRefreshing(Duration.ofMinutes(1), () -> {
            ConfigSnapshot last = lastSnapshot;
            if (last != null) {
                scheduleRebuild(last);
            }
        });
        source.start(new ConfigSource.Listener() {
            @Override
            public void onSnapshot(ConfigSnapshot snapshot) {
                scheduleRebuild(snapshot);
                if (deployer != null) {
                    deployer.onSnapshot(snapshot); // waypoint Gateways → Deployments, Services, status
                }
                if (rootCerts != null) {
                    rootCerts.onSnapshot(snapshot); // istio-ca-root-cert in new namespaces
                }
            }

            @Override
            public void onRejected(List<ConfigError> errors) {
                rejected = List.copyOf(errors);
            }
        });
        if (!firstModel.await(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no mesh model 60 s after " + source.describe()
                    + " started (see the log for the model thread's error)");
        }
        log.info("istiod-lite serving {}: xDS {} (plaintext), {} (TLS, with CA), monitoring {}; trust domain {}",
                source.describe(), plaintext.localAddress(), secure.getListenSockets(), monitoring.localAddress(),
                config.mesh().trustDomain());
    }

    /** {@code /debug/*}: the whole model, so only for loopback callers or valid tokens ({@link DebugAccess}). */
    static HttpEndpoints.AsyncHandler guarded(DebugAccess access, HttpEndpoints.Handler handler) {
        return req -> access.refusal(req).thenApply(refusal -> {
            if (refusal != null) {
                return refusal;
            }
            try {
                return handler.handle(req);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
    }

    /** The validating webhook, with a serving certificate from the mesh CA for the Service's names. */
    private ValidationWebhook startWebhook(CertificateAuthority ca) throws IOException {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair key = gen.generateKeyPair();
            String host = config.serviceName() + "." + config.namespace();
            List<X509Certificate> chain = ca.issueServing(key.getPublic(), List.of(host + ".svc",
                    host + ".svc." + config.mesh().domainSuffix(), host), Duration.ofDays(365));
            return ValidationWebhook.start(config.address(config.webhookPort()), key.getPrivate(), chain, metrics);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up TLS for the webhook port " + config.webhookPort(), e);
        }
    }

    /**
     * Fills in the webhook configuration's caBundle. Not fatal when it fails: istiod-lite
     * still serves the mesh, only the API server cannot call the webhook (with
     * {@code failurePolicy: Fail} it then refuses Istio objects, naming the webhook).
     */
    static void registerWebhook(CaBundlePatcher patcher, String name, String caBundlePem) {
        try {
            patcher.patch(name, caBundlePem);
            log.info("validating webhook: caBundle of ValidatingWebhookConfiguration {} set", name);
        } catch (IllegalStateException e) {
            log.error("validating webhook: {}", e.getMessage());
        }
    }

    /**
     * Kubernetes mode: deploys a waypoint for every Gateway of class {@code istio-waypoint}
     * (folder mode: {@code ambitctl local}'s controller runs waypoints itself).
     */
    private WaypointDeployer startWaypointDeployer(CertificateAuthority ca) {
        WaypointDeployer d = WaypointDeployer.builder(Fabric8ClusterWriter.of(kubernetes()), metrics)
                .image(config.waypointImage())
                .istiodAddress(config.serviceName() + "." + config.namespace() + ".svc:"
                        + dev.ambit.common.config.IstioPorts.ISTIOD_SECURE)
                .trustDomain(config.mesh().trustDomain())
                .clusterId(config.mesh().clusterId())
                .domainSuffix(config.mesh().domainSuffix())
                .rootCert(ca::trustBundlePem)
                .build();
        d.start();
        return d;
    }

    /** Latest snapshot wins: a burst of snapshots costs one rebuild after the one running. */
    private void scheduleRebuild(ConfigSnapshot snapshot) {
        pendingSnapshot.set(snapshot);
        if (rebuildScheduled.compareAndSet(false, true)) {
            modelThread.execute(this::rebuild);
        }
    }

    private void rebuild() {
        rebuildScheduled.set(false);
        ConfigSnapshot snapshot = pendingSnapshot.getAndSet(null);
        if (snapshot == null) {
            return;
        }
        lastSnapshot = snapshot;
        long start = System.nanoTime();
        try {
            MeshResources next = AmbientModel.build(snapshot, config.mesh());
            model = next;
            failClosed = snapshot.failClosed();
            // Never throws on user input: a rejected routing object keeps its last good
            // version inside the translator and comes back as a warning.
            L7Resources nextL7 = l7Translator.translate(snapshot);
            l7 = nextL7;
            xds.update(next, nextL7);
            rebuildSeconds.labels().observe((System.nanoTime() - start) / 1e9);
            // Each warning once while it holds, not on every rebuild.
            Set<String> warnings = new HashSet<>(next.warnings());
            warnings.addAll(nextL7.warnings());
            for (String w : warnings) {
                if (!lastWarnings.contains(w)) {
                    log.warn("{}", w);
                }
            }
            lastWarnings = warnings;
            firstModel.countDown();
        } catch (RuntimeException e) {
            // The previous model stays served; the next snapshot retries.
            log.error("mesh model rebuild failed; still serving the previous model", e);
        }
    }

    private CallerAuthenticator authenticator() {
        if (config.nodeCredentials() != null) {
            return NodeCredentials.load(config.nodeCredentials());
        }
        if (config.kubernetes()) {
            String[] sa = config.nodeAgentServiceAccount().split("/", 2);
            if (sa.length != 2) {
                throw new IllegalArgumentException("--node-agent-sa: " + config.nodeAgentServiceAccount()
                        + " (expected: <namespace>/<service account>)");
            }
            // withWorkloads: a waypoint obtains its own identity with its pod's token (deploy.WaypointDeployer).
            return TokenReviewAuthenticator.of(kubernetes(), sa[0], sa[1]).withWorkloads();
        }
        log.warn("no --node-credentials: the CA refuses every certificate request");
        return headers -> Authentication.denied("this istiod-lite has no node credentials "
                + "(start it with --node-credentials FILE)");
    }

    private KubernetesClient kubernetes() {
        if (kubernetes == null) {
            kubernetes = new KubernetesClientBuilder().build();
        }
        return kubernetes;
    }

    /** TLS 1.3 for 15012 with a serving certificate from the mesh CA (renewed by restart: 1 year). */
    private SslContext serverTls(CertificateAuthority ca) {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair key = gen.generateKeyPair();
            // <service>.<namespace>.svc, as the webhook's; and in the root namespace, the name the
            // node agents check by default, when the two namespaces differ.
            Set<String> names = new java.util.LinkedHashSet<>();
            for (String ns : List.of(config.namespace(), config.mesh().rootNamespace())) {
                names.add(config.serviceName() + "." + ns + ".svc");
                names.add(config.serviceName() + "." + ns + ".svc." + config.mesh().domainSuffix());
            }
            names.add("istiod-lite");
            names.add("localhost");
            List<X509Certificate> chain = ca.issueServing(key.getPublic(), List.copyOf(names), Duration.ofDays(365));
            return GrpcSslContexts.configure(SslContextBuilder.forServer(key.getPrivate(),
                    chain.toArray(X509Certificate[]::new)).protocols("TLSv1.3")).build();
        } catch (java.security.GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot set up TLS for the secure port " + config.securePort(), e);
        }
    }

    public MetricsRegistry metrics() {
        return metrics;
    }

    public MeshResources model() {
        return model;
    }

    /** The L7 resources of the last rebuild (what waypoints and gRPC clients are served). */
    public L7Resources l7() {
        return l7;
    }

    public List<ConfigError> rejected() {
        return rejected;
    }

    public XdsService xds() {
        return xds;
    }

    public int xdsPort() {
        return plaintext.localAddress().getPort();
    }

    public int securePort() {
        return ((java.net.InetSocketAddress) secure.getListenSockets().getFirst()).getPort();
    }

    /** The validating webhook's port (Kubernetes mode), or -1. */
    public int webhookPort() {
        return webhook == null ? -1 : webhook.localAddress().getPort();
    }

    public int monitoringPort() {
        return monitoring.localAddress().getPort();
    }

    @Override
    public void close() {
        List<Throwable> failures = new ArrayList<>();
        for (AutoCloseable c : new AutoCloseable[] {jwksRefresh, source, deployer, rootCerts, webhook, monitoring, plaintext,
                secure == null ? null : () -> secure.shutdownNow().awaitTermination(5, TimeUnit.SECONDS), xds,
                kubernetes}) {
            if (c == null) {
                continue;
            }
            try {
                c.close();
            } catch (Exception e) {
                failures.add(e);
            }
        }
        modelThread.shutdownNow();
        failures.forEach(f -> log.warn("shutdown step failed", f));
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || List.of(args).contains("--help")) {
            System.out.print(IstiodConfig.USAGE);
            System.exit(args.length == 0 ? 2 : 0);
        }
        IstiodConfig config;
        try {
            config = IstiodConfig.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("istiod-lite: " + e.getMessage());
            System.err.print(IstiodConfig.USAGE);
            System.exit(2);
            return;
        }
        if (config.printWebhookConfiguration()) {
            CertificateAuthority ca = CertificateAuthority.builder(config.caDir())
                    .trustDomain(config.mesh().trustDomain()).build();
            System.out.print(WebhookConfiguration.yaml(config.serviceName(), config.namespace(), ca.trustBundlePem()));
            return;
        }
        IstiodLite istiod = start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(() -> {
            istiod.close();
            stopped.countDown();
        }));
        stopped.await();
    }
}
