package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;
import dev.ambit.common.config.Checks;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.ingress.GatewayApiAttachments;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes mode's waypoint deployer (Istio's gateway deployment controller, for the
 * {@code istio-waypoint} class only): for every Gateway API {@code Gateway} with
 * {@code gatewayClassName: istio-waypoint} it creates or updates the ServiceAccount, Deployment
 * and Service {@link WaypointObjects} describes (and the namespace's {@code istio-ca-root-cert}
 * ConfigMap the pods mount), then writes the Gateway's status ({@link WaypointStatus}).
 * Deleting the Gateway deletes its objects: they carry its owner reference, and the API
 * server's garbage collector does the rest. A Gateway that is not accepted (no HBONE listener
 * on 15008) gets its status and nothing deployed; objects of an earlier valid version stay.
 * An object of the same name that this Gateway does not control is never taken over.
 *
 * <p>When: on every {@linkplain #onSnapshot config snapshot} (the Kubernetes source delivers
 * one after any Gateway or HTTPRoute change, status writes included), every
 * {@linkplain Builder#resync resync period}, and while a Gateway is not programmed yet
 * (its Deployment has no available replica, its Service no IP, a write failed) again after a
 * {@linkplain Builder#pendingBackoff backoff}, since Deployment and Service changes are not
 * watched. Runs are serialized on one thread; each is idempotent: reading, comparing and
 * writing only what differs ({@link ClusterWriter}), so a run over an unchanged cluster writes
 * nothing.
 *
 * <p>Gateways of class {@code istio} are deployed the same way as Istio's gateway controller
 * deploys them ({@link IstioGatewayObjects}: {@code <gw>-istio} ServiceAccount, gateway-mode
 * Deployment, LoadBalancer Service), their status computed by {@link GatewayApiStatus}.
 *
 * <p>After the Gateways, each run writes the {@code status.parents} of the mesh's HTTPRoutes and
 * GRPCRoutes (Service parents; {@link RouteStatus}) and of routes attached to Gateways of class
 * istio ({@link GatewayApiStatus}), and Istio's Ingresses' {@code status.loadBalancer}, through
 * the same writer.
 *
 * <p>Metrics: {@code ambit_deployer_applies_total{kind,result}} (result {@code created},
 * {@code updated}, {@code unchanged}), {@code ambit_deployer_status_updates_total},
 * {@code ambit_deployer_errors_total{kind}} (a refused read or write), and the gauges
 * {@code ambit_deployer_waypoints} and {@code ambit_deployer_waypoints_programmed}.
 */
public final class WaypointDeployer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(WaypointDeployer.class);

    private final ClusterWriter writer;
    private final WaypointObjects.Template template;
    private final Supplier<String> rootCertPem;
    private final Duration resync;
    private final Backoff pendingBackoff;
    private final Clock clock;
    private final Counter.Family applies;
    private final Counter.Family statusUpdates;
    private final Counter.Family errors;
    private final RouteStatusWriter routeStatus;
    private final Function<ConfigSnapshot, GatewayApiStatus.Secrets> secrets;

    private final AtomicReference<ConfigSnapshot> latest = new AtomicReference<>();
    private ReconcileLoop loop;

    // Confined to the deployer's thread (or the test calling reconcile directly).
    private final Set<String> known = new HashSet<>();
    private final Map<String, String> lastProblem = new HashMap<>();
    private final Set<String> programmed = new HashSet<>();
    private volatile int waypointCount;
    private volatile int programmedCount;

    private WaypointDeployer(Builder b) {
        this.writer = b.writer;
        this.template = new WaypointObjects.Template(b.image, b.istiodAddress, b.trustDomain, b.clusterId,
                b.domainSuffix);
        this.rootCertPem = b.rootCertPem;
        this.resync = b.resync;
        this.pendingBackoff = b.pendingBackoff;
        this.clock = b.clock;
        this.secrets = b.secrets;
        MetricsRegistry metrics = b.metrics;
        this.routeStatus = new RouteStatusWriter(b.writer, metrics, b.clock);
        applies = metrics.counter("ambit_deployer_applies_total",
                "Objects the waypoint deployer applied, by kind and result (created, updated, unchanged).",
                "kind", "result");
        statusUpdates = metrics.counter("ambit_deployer_status_updates_total",
                "Gateway status writes by the waypoint deployer.");
        errors = metrics.counter("ambit_deployer_errors_total",
                "Reads or writes of the waypoint deployer the API server refused, by kind.", "kind");
        metrics.gauge("ambit_deployer_waypoints", "Waypoint Gateways (class istio-waypoint) the deployer manages.",
                () -> waypointCount);
        metrics.gauge("ambit_deployer_waypoints_programmed", "Waypoint Gateways whose Programmed condition is True.",
                () -> programmedCount);
    }

    /**
     * A builder writing through {@code writer}; {@code metrics} receives the deployer's
     * metrics. {@code image} and {@code istiodAddress} must be set.
     */
    public static Builder builder(ClusterWriter writer, MetricsRegistry metrics) {
        return new Builder(requireNonNull(writer, "writer"), requireNonNull(metrics, "metrics"));
    }

    /** Starts the deployer's thread and the periodic resync. Snapshots given before are reconciled now. */
    public synchronized void start() {
        if (loop != null) {
            throw new IllegalStateException("start: already started");
        }
        loop = ReconcileLoop.start("ambit-waypoint-deployer", resync, pendingBackoff, timed -> run());
        log.info("waypoint deployer started: image {}, istiod {}, resync every {}", template.image(),
                template.istiodAddress(), resync);
    }

    /** The latest configuration; reconciled soon on the deployer's thread (a burst costs one run). */
    public void onSnapshot(ConfigSnapshot snapshot) {
        latest.set(requireNonNull(snapshot, "snapshot"));
        ReconcileLoop l;
        synchronized (this) {
            l = loop;
        }
        if (l != null) {
            l.request();
        }
    }

    /** One pass on the loop's thread; false while a Gateway is not programmed yet (look again soon). */
    private boolean run() {
        ConfigSnapshot snapshot = latest.get();
        return snapshot == null || !reconcile(snapshot);
    }

    /**
     * Reconciles every waypoint Gateway of {@code snapshot} on the calling thread; returns
     * whether one is still not programmed (worth another look soon). Callers must not run two
     * at once: {@link #start}ed deployers call it from their own thread only.
     */
    boolean reconcile(ConfigSnapshot snapshot) {
        List<HTTPRoute> routes = snapshot.list(Kind.HTTP_ROUTE, HTTPRoute.class);
        Set<String> present = new HashSet<>();
        boolean pending = false;
        for (Gateway gw : snapshot.list(Kind.GATEWAY, Gateway.class)) {
            if (gw.getSpec() == null || !WaypointObjects.WAYPOINT_CLASS.equals(gw.getSpec().getGatewayClassName())) {
                continue;
            }
            String key = gw.getMetadata().getNamespace() + "/" + gw.getMetadata().getName();
            present.add(key);
            if (known.add(key)) {
                log.info("waypoint {}: Gateway found, deploying it", key);
            }
            pending |= !reconcileOne(key, gw, routes);
        }
        for (String gone : List.copyOf(known)) {
            if (!present.contains(gone)) {
                known.remove(gone);
                programmed.remove(gone);
                lastProblem.remove(gone);
                log.info("waypoint {}: Gateway deleted (or no longer of class {}); its Deployment, Service and "
                        + "ServiceAccount are deleted by the API server's garbage collector (owner references)",
                        gone, WaypointObjects.WAYPOINT_CLASS);
            }
        }
        waypointCount = known.size();
        programmedCount = programmed.size();
        // Gateways of class istio (Istio's automated deployment), then the routes' status.parents.
        GatewayApiAttachments eval = GatewayApiAttachments.of(snapshot);
        GatewayApiStatus.Secrets secretCheck = secrets.apply(snapshot);
        for (GatewayApiAttachments.GatewayState gw : eval.gateways()) {
            pending |= !reconcileIstio(gw.key(), gw.gateway(), eval, secretCheck);
        }
        routeStatus.reconcile(snapshot, eval);
        return pending;
    }

    /**
     * One Gateway of class istio: its ServiceAccount, Deployment and LoadBalancer Service
     * ({@link IstioGatewayObjects}), then its status ({@link GatewayApiStatus}). Returns whether
     * it is programmed.
     */
    private boolean reconcileIstio(String key, Gateway fromSnapshot, GatewayApiAttachments eval,
                                   GatewayApiStatus.Secrets secretCheck) {
        Gateway current;
        try {
            current = writer.read(ref(fromSnapshot)).orElse(null);
        } catch (KubernetesClientException e) {
            errors.labels("Gateway").inc();
            problem(key, "cannot read Gateway " + key + ": " + describe(e));
            return false;
        }
        if (current == null || !GatewayApiAttachments.isIstioClass(current)) {
            return true;
        }
        String host = IstioGatewayObjects.name(current) + "." + current.getMetadata().getNamespace() + ".svc."
                + template.domainSuffix();
        GatewayApiStatus.Observed observed;
        try {
            if (rootCertPem != null) {
                apply(WaypointObjects.rootCert(current.getMetadata().getNamespace(), rootCertPem.get()), null);
            }
            apply(IstioGatewayObjects.serviceAccount(current), current);
            Service service = apply(IstioGatewayObjects.service(current), current);
            Deployment deployment = apply(IstioGatewayObjects.deployment(current, template), current);
            List<String> addresses = new ArrayList<>();
            var lb = service.getStatus() == null ? null : service.getStatus().getLoadBalancer();
            for (var i : lb == null || lb.getIngress() == null ? List.<io.fabric8.kubernetes.api.model
                    .LoadBalancerIngress>of() : lb.getIngress()) {
                addresses.add(i.getIp() != null ? i.getIp() : i.getHostname());
            }
            addresses.removeIf(Objects::isNull);
            var st = deployment.getStatus();
            boolean ready = st != null && st.getAvailableReplicas() != null && st.getAvailableReplicas() > 0;
            observed = new GatewayApiStatus.Observed(addresses, ready, host, null);
        } catch (RefusedException e) {
            problem(key, e.getMessage());
            observed = new GatewayApiStatus.Observed(List.of(), false, host, e.getMessage());
        }
        GatewayStatus status = GatewayApiStatus.gateway(current, eval, observed, secretCheck, clock.instant());
        if (status != null && !WaypointStatus.same(status, current.getStatus())) {
            try {
                writer.updateStatus(new GatewayBuilder(current).withStatus(status).build());
                statusUpdates.labels().inc();
            } catch (KubernetesClientException e) {
                errors.labels("Gateway").inc();
                problem(key, "cannot write the status of Gateway " + key + ": " + describe(e));
                return false;
            }
        }
        return WaypointStatus.isProgrammed(status);
    }

    /** One Gateway: deploy when valid, then status. Returns whether it is programmed (or invalid: nothing to wait for). */
    private boolean reconcileOne(String key, Gateway fromSnapshot, List<HTTPRoute> routes) {
        Gateway current;
        try {
            // The snapshot may lag behind: deploy from, and compute the status on, the stored version.
            current = writer.read(ref(fromSnapshot)).orElse(null);
        } catch (KubernetesClientException e) {
            errors.labels("Gateway").inc();
            problem(key, "cannot read Gateway " + key + ": " + describe(e));
            return false;
        }
        if (current == null || current.getSpec() == null
                || !WaypointObjects.WAYPOINT_CLASS.equals(current.getSpec().getGatewayClassName())) {
            return true; // deleted or changed meanwhile: the next snapshot says so
        }
        WaypointStatus.Validation validation = WaypointStatus.validate(current);
        WaypointStatus.Observed observed = null;
        if (validation.accepted()) {
            observed = deploy(key, current);
        } else {
            problem(key, "not accepted, not deploying it: " + validation.message());
        }
        GatewayStatus status = WaypointStatus.compute(current, validation, observed, routes,
                template.domainSuffix(), clock.instant());
        boolean isProgrammed = WaypointStatus.isProgrammed(status);
        if (isProgrammed) {
            if (programmed.add(key)) {
                log.info("waypoint {}: programmed, addresses {}", key, status.getAddresses().stream()
                        .map(a -> a.getValue()).toList());
            }
            lastProblem.remove(key);
        } else {
            programmed.remove(key);
        }
        if (!WaypointStatus.same(status, current.getStatus())) {
            Gateway update = new GatewayBuilder(current).withStatus(status).build();
            try {
                writer.updateStatus(update);
                statusUpdates.labels().inc();
            } catch (KubernetesClientException e) {
                // 409: the Gateway changed since it was read; the snapshot of that change reconciles again.
                errors.labels("Gateway").inc();
                problem(key, "cannot write the status of Gateway " + key + ": " + describe(e));
                return false;
            }
        }
        return isProgrammed || !validation.accepted();
    }

    /** Applies the waypoint's objects; what was observed of them, or the first failure. */
    private WaypointStatus.Observed deploy(String key, Gateway gw) {
        try {
            if (rootCertPem != null) {
                apply(WaypointObjects.rootCert(gw.getMetadata().getNamespace(), rootCertPem.get()), null);
            }
            apply(WaypointObjects.serviceAccount(gw), gw);
            Service service = apply(WaypointObjects.service(gw), gw);
            Deployment deployment = apply(WaypointObjects.deployment(gw, template), gw);
            List<String> ips = new ArrayList<>();
            if (service.getSpec().getClusterIPs() != null && !service.getSpec().getClusterIPs().isEmpty()) {
                ips.addAll(service.getSpec().getClusterIPs());
            } else if (service.getSpec().getClusterIP() != null) {
                ips.add(service.getSpec().getClusterIP());
            }
            ips.removeIf(ip -> ip.isEmpty() || ip.equals("None"));
            var st = deployment.getStatus();
            int available = st == null || st.getAvailableReplicas() == null ? 0 : st.getAvailableReplicas();
            int replicas = deployment.getSpec().getReplicas() == null ? 1 : deployment.getSpec().getReplicas();
            return new WaypointStatus.Observed(ips, available, replicas, null);
        } catch (RefusedException e) {
            problem(key, e.getMessage());
            return WaypointStatus.Observed.failed(e.getMessage());
        }
    }

    /**
     * Applies one object, refusing to take over one of the same name that {@code owner} does
     * not control ({@code owner} null: a shared object, anyone's).
     */
    private <T extends HasMetadata> T apply(T desired, Gateway owner) throws RefusedException {
        String kind = desired.getKind();
        String what = Fabric8ClusterWriter.describe(desired);
        try {
            if (owner != null) {
                T existing = writer.read(desired).orElse(null);
                if (existing != null && !controlledBy(existing, owner)) {
                    errors.labels(kind).inc();
                    throw new RefusedException(what + " exists and is not controlled by Gateway "
                            + owner.getMetadata().getName() + " (uid " + owner.getMetadata().getUid()
                            + "); not taking it over (expected: delete or rename it, or rename the Gateway)");
                }
            }
            ClusterWriter.Applied<T> applied = writer.apply(desired);
            applies.labels(kind, applied.outcome().name().toLowerCase(java.util.Locale.ROOT)).inc();
            if (applied.outcome() != ClusterWriter.Outcome.UNCHANGED) {
                log.info("waypoint deployer: {} {}", applied.outcome().name().toLowerCase(java.util.Locale.ROOT),
                        what);
            }
            return applied.object();
        } catch (KubernetesClientException e) {
            errors.labels(kind).inc();
            throw new RefusedException("cannot create or update " + what + ": " + describe(e));
        }
    }

    private static boolean controlledBy(HasMetadata object, Gateway owner) {
        List<OwnerReference> refs = object.getMetadata().getOwnerReferences();
        return refs != null && refs.stream().anyMatch(r -> Boolean.TRUE.equals(r.getController())
                && "Gateway".equals(r.getKind()) && Objects.equals(r.getUid(), owner.getMetadata().getUid()));
    }

    /** Logs a problem of one waypoint once, not on every resync. */
    private void problem(String key, String message) {
        if (!message.equals(lastProblem.put(key, message))) {
            log.warn("waypoint {}: {}", key, message);
        }
    }

    private static Gateway ref(Gateway gw) {
        return new GatewayBuilder().withNewMetadata().withName(gw.getMetadata().getName())
                .withNamespace(gw.getMetadata().getNamespace()).endMetadata().build();
    }

    private static String describe(KubernetesClientException e) {
        String message = e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage()
                : e.getMessage();
        return "HTTP " + e.getCode() + " " + message;
    }

    /** Stops the thread; objects and statuses written stay. */
    @Override
    public synchronized void close() {
        if (loop != null) {
            loop.close();
        }
    }

    /** A write the API server refused, or an object the deployer must not take over. */
    private static final class RefusedException extends Exception {
        RefusedException(String message) {
            super(message, null, false, false);
        }
    }

    /** Builds a {@link WaypointDeployer}. */
    public static final class Builder {
        private final ClusterWriter writer;
        private final MetricsRegistry metrics;
        private String image;
        private String istiodAddress;
        private String trustDomain = "cluster.local";
        private String clusterId = "Kubernetes";
        private String domainSuffix = "cluster.local";
        private Supplier<String> rootCertPem;
        private Duration resync = Duration.ofMinutes(1);
        private Backoff pendingBackoff = Backoff.of(Duration.ofSeconds(1), Duration.ofSeconds(30));
        private Clock clock = Clock.systemUTC();
        private Function<ConfigSnapshot, GatewayApiStatus.Secrets> secrets = snapshot -> (ns, name) ->
                dev.ambit.istiod.ingress.CertificateSecrets.problemOf(ns, name, snapshot.get(
                        dev.ambit.istiod.config.Kind.SECRET, ns, name, io.fabric8.kubernetes.api.model.Secret.class)
                        .orElse(null));

        private Builder(ClusterWriter writer, MetricsRegistry metrics) {
            this.writer = writer;
            this.metrics = metrics;
        }

        /** The waypoint image (istiod-lite's {@code --waypoint-image}). Required. */
        public Builder image(String image) {
            requireNonNull(image, "image");
            if (image.isBlank() || image.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException("image: \"" + image + "\" (expected: an image reference)");
            }
            this.image = image;
            return this;
        }

        /** host:port of istiod-lite's xDS and CA over TLS for the waypoints, e.g. {@code istiod.istio-system.svc:15012}. Required. */
        public Builder istiodAddress(String istiodAddress) {
            requireNonNull(istiodAddress, "istiodAddress");
            int colon = istiodAddress.lastIndexOf(':');
            if (colon <= 0 || !istiodAddress.substring(colon + 1).matches("[0-9]{1,5}")) {
                throw new IllegalArgumentException("istiodAddress: \"" + istiodAddress + "\" (expected: host:port)");
            }
            this.istiodAddress = istiodAddress;
            return this;
        }

        public Builder trustDomain(String trustDomain) {
            this.trustDomain = requireNonNull(trustDomain, "trustDomain");
            return this;
        }

        public Builder clusterId(String clusterId) {
            this.clusterId = requireNonNull(clusterId, "clusterId");
            return this;
        }

        /** The Service host names' suffix ({@code NAME.NS.svc.<suffix>}) in {@code status.addresses}. */
        public Builder domainSuffix(String domainSuffix) {
            this.domainSuffix = requireNonNull(domainSuffix, "domainSuffix");
            return this;
        }

        /**
         * The mesh root (PEM) written to the {@code istio-ca-root-cert} ConfigMap of each
         * waypoint's namespace, which its pods mount. Without it the ConfigMap is left to others.
         */
        public Builder rootCert(Supplier<String> rootCertPem) {
            this.rootCertPem = requireNonNull(rootCertPem, "rootCertPem");
            return this;
        }

        /** How often every waypoint is reconciled without a change. Default 1 minute. */
        public Builder resync(Duration resync) {
            Checks.positive(resync, "resync");
            this.resync = resync;
            return this;
        }

        /** How soon a waypoint not yet programmed is looked at again. Default 1 s doubling to 30 s. */
        public Builder pendingBackoff(Backoff pendingBackoff) {
            this.pendingBackoff = requireNonNull(pendingBackoff, "pendingBackoff");
            return this;
        }

        /** The clock of conditions' {@code lastTransitionTime}. */
        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        /**
         * How a snapshot's Secrets are checked as listener certificates (a missing or malformed
         * one makes the listener's ResolvedRefs False, InvalidCertificateRef); by default the
         * snapshot's own Secrets, checked by {@code CertificateSecrets}.
         */
        public Builder secrets(Function<ConfigSnapshot, GatewayApiStatus.Secrets> secrets) {
            this.secrets = requireNonNull(secrets, "secrets");
            return this;
        }

        public WaypointDeployer build() {
            if (image == null) {
                throw new IllegalStateException("image: not set (expected: the waypoint image)");
            }
            if (istiodAddress == null) {
                throw new IllegalStateException("istiodAddress: not set (expected: host:port of istiod-lite's 15012)");
            }
            return new WaypointDeployer(this);
        }
    }
}
