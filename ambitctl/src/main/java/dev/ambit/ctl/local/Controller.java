package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.addons.Addons;
import dev.ambit.ctl.local.addons.ScrapePod;
import dev.ambit.ctl.local.addons.ScrapeTargets;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The local cluster's kubelet and controller manager in one loop: every
 * {@value #TICK_MILLIS} ms it reads the applied manifests and makes the machine match —
 * Deployments expanded to pods, pod sandboxes (network namespace, cgroup, veth, routes,
 * hosts file) created and deleted, containers run as processes and restarted per
 * {@code restartPolicy}, Service VIPs allocated — then writes what istiod-lite reads
 * ({@code istiod/config}), what each node agent reads ({@code nodes/<node>/pods}) and
 * {@code status.json}. A meshed pod's containers start only once its node's agent has
 * captured it ({@link PodEnrollment}, the CNI plugin's part).
 *
 * <p>This class is the loop and its order; each job is a class of its own: {@link DesiredPods}
 * (which pods), {@link PodSandboxes} (their sandboxes), {@link PodSupervisor} (their
 * containers), {@link Probes}, {@link ServiceRegistry} (VIPs and endpoints),
 * {@link Waypoints} and {@link GatewayStatuses} (Istio's waypoint deployment controller),
 * {@link IstioIngress} (the demo profile's ingress gateway), {@link MeshConfigWriter} (istiod-lite's
 * folder), {@link HostsFiles} (DNS), {@link ExternalForwards} (LoadBalancer addresses and node ports,
 * served by {@link LoadBalancerProxy}) and {@link StatusWriter}.
 *
 * <p>Single-threaded: all state below belongs to the loop. It starts clean: sandboxes a
 * previous controller left are removed first (pods get new uids and addresses).
 */
public final class Controller {

    static final long TICK_MILLIS = 200;

    private final StateDir state;
    private final ClusterInfo cluster;
    private final Path podsCgroup;
    private final PrintStream log;
    /** The running pods by {@code namespace/name}; {@link PodSandboxes} adds and removes them. */
    private final Map<String, RunningPod> pods = new LinkedHashMap<>();
    private final StoredManifests storedManifests;
    private final DesiredPods desiredPods;
    private final ServiceRegistry services;
    private final HostsFiles hosts;
    private final PodSandboxes sandboxes;
    private final PodSupervisor supervisor;
    private final MeshConfigWriter meshConfig;
    private final StatusWriter status;
    private final Waypoints waypoints;
    private final GatewayStatuses gatewayStatuses;
    private final RouteStatuses routeStatuses = new RouteStatuses(Instant::now);
    private final Probes probes;
    private final IstioGatewayStatuses istioGatewayStatuses = new IstioGatewayStatuses(Instant::now);
    private final IstioGatewayDeployments istioGateways;
    private ServiceBalancerHook balancer = backends -> { };
    private Map<String, List<String>> lastBackends = Map.of();
    /** Istio's demo ingress gateway, or null ({@code local up --no-ingress}). */
    private final IstioIngress ingress;
    /** Istio's sample addons enabled with {@code local addon enable} (Prometheus). */
    private final Addons addons;
    private ExternalTraffic external = forwards -> { };
    private List<ExternalForwards.Forward> lastForwards = List.of();
    private List<KubeObject> manifests = List.of();
    /** The applied objects plus what the controller derives from them (waypoints' Services, pods ...). */
    private List<KubeObject> objects = List.of();
    private volatile boolean stopped;

    private Controller(StateDir state, ClusterInfo cluster, PrintStream log) {
        this.state = state;
        this.cluster = cluster;
        this.podsCgroup = Path.of(cluster.cgroupRoot()).resolve(Topology.CGROUP_DIR).resolve("pods");
        this.log = log;
        this.storedManifests = new StoredManifests(state.manifests(), this::log);
        PodEnrollment enrollment = new PodEnrollment(state::nodeCniSocket, new CniClient(PodEnrollment.CALL_TIMEOUT),
                Instant::now, this::log);
        this.desiredPods = new DesiredPods(cluster.nodeNames(), new Random());
        this.services = new ServiceRegistry(IpPool.serviceAddresses(), this::log);
        this.hosts = new HostsFiles(Topology::etcNetns, this::log);
        this.sandboxes = new PodSandboxes(state, cluster, podsCgroup, pods, enrollment, hosts,
                () -> HostsFiles.serviceNames(services.update(objects, pods.values())), this::log);
        this.supervisor = new PodSupervisor(state, cluster, enrollment, this::log);
        this.probes = new Probes(supervisor::kill, this::log);
        PodObjects podObjects = new PodObjects(cluster, enrollment::waiting);
        this.meshConfig = new MeshConfigWriter(state.istiodConfig(), podObjects, this::log);
        this.status = new StatusWriter(state.statusJson(), podObjects, enrollment::waiting, sandboxes::failure,
                services::createdAt);
        Waypoints.Launch launch = Waypoints.Launch.of(state, Path.of(cluster.home()));
        this.waypoints = new Waypoints(launch);
        this.istioGateways = new IstioGatewayDeployments(waypoints);
        this.gatewayStatuses = new GatewayStatuses(launch.jar(), Instant::now);
        this.ingress = Boolean.TRUE.equals(cluster.ingress()) ? new IstioIngress(launch) : null;
        List<ScrapePod> daemons = new ArrayList<>(cluster.nodes().stream()
                .map(n -> ScrapeTargets.nodeAgent(n.name(), n.address())).toList());
        daemons.add(ScrapeTargets.istiod(Topology.CP_ADDRESS));
        this.addons = Addons.of(state, daemons, this::log);
    }

    /** A controller for the cluster in {@code state}, logging to {@code log}. */
    public static Controller create(StateDir state, PrintStream log) {
        requireNonNull(state, "state");
        requireNonNull(log, "log");
        return new Controller(state, ClusterInfo.require(state), log);
    }

    /** Where the eBPF Service load balancer gets its table (the controller command sets it). */
    public Controller balancer(ServiceBalancerHook hook) {
        this.balancer = requireNonNull(hook, "hook");
        return this;
    }

    /** Where LoadBalancer addresses and node ports are served (the controller command sets it). */
    Controller externalTraffic(ExternalTraffic traffic) {
        this.external = requireNonNull(traffic, "traffic");
        return this;
    }

    /** Runs until {@link #stop()}: removes what an earlier controller left, then reconciles every tick. */
    public void run() {
        log("controller for " + state.root() + " started: nodes " + cluster.nodeNames() + ", pods in " + podsCgroup);
        sandboxes.cleanupLeftovers();
        meshConfig.loadWritten();
        while (!stopped) {
            try {
                tick();
            } catch (RuntimeException e) {
                log("reconcile failed (retrying): " + e);
            }
            try {
                Thread.sleep(TICK_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        probes.close();
        log("controller stopped; pods keep running until ambitctl local down");
    }

    public void stop() {
        stopped = true;
    }

    void tick() {
        reloadManifests();
        // Istio's deployment controller: waypoint Gateways become a ServiceAccount, Service and Deployment.
        Waypoints.Expansion expansion = waypoints.expand(manifests);
        // ... Gateways of class istio a ServiceAccount, LoadBalancer Service and gateway-mode Deployment;
        // Istio's demo profile: the ingress gateway, kept in place as the operator keeps it.
        objects = istioGateways.expand(expansion.objects());
        objects = ingress == null ? objects : ingress.expand(objects);
        objects = addons.expand(objects); // Istio's sample addons (Prometheus), when enabled
        Map<String, DesiredPod> desired = Map.of();
        try {
            Map<String, DesiredPod> next = desiredPods.of(objects, pods);
            // Deleted and created; their containers: supervise(), after the files others read.
            sandboxes.reconcile(next, objects);
            desired = next;
        } catch (RuntimeException e) {
            // Logged and retried next tick; what istiod-lite reads is still written below, so a
            // pod problem never holds back a policy change.
            log("reconciling pods failed (retrying): " + e);
        }
        probes.probe(pods.values()); // probes first: Services list only ready pods
        Map<String, ServiceView> views = services.update(objects, pods.values());
        List<KubeObject> gateways = istioGatewayStatuses.update(
                gatewayStatuses.update(objects, expansion.problems(), views, pods.values()), objects, views, pods.values());
        List<KubeObject> routes = routeStatuses.update(objects);
        List<KubeObject> withStatuses = new ArrayList<>(gateways);
        withStatuses.addAll(routes);
        withStatuses.addAll(IstioGatewayStatuses.ingresses(objects, views));
        meshConfig.write(withStatus(objects, withStatuses), views, pods.values(), storedManifests.unknown());
        hosts.writeAll(pods.values(), cluster.nodes(), views);
        addons.publish(pods.values().stream().map(this::scrapePod).toList()); // Prometheus's targets
        updateBalancer(views);
        updateExternal(views);
        // Last: asking a node agent to capture a meshed pod blocks up to CniClient's timeout
        // (10 s) per pending pod, and a slow agent must never delay a policy change written above.
        // The pods are already in istiod-lite's folder, so their agent can learn their workload.
        try {
            supervisor.supervise(pods.values());
        } catch (RuntimeException e) {
            log("supervising pods failed (retrying): " + e);
        }
        status.write(pods, desired, views, gateways, routes, storedManifests.errors());
    }

    /** {@code objects} with each Gateway and mesh route replaced by its version with status, as istiod-lite reads them on a cluster. */
    static List<KubeObject> withStatus(List<KubeObject> objects, List<KubeObject> gateways) {
        Map<String, KubeObject> byKey = new LinkedHashMap<>();
        gateways.forEach(g -> byKey.put(g.key(), g));
        return objects.stream().map(o -> byKey.getOrDefault(o.key(), o)).toList();
    }

    /** A pod as Prometheus's Kubernetes discovery sees it (the Prometheus addon's targets). */
    private ScrapePod scrapePod(RunningPod p) {
        JsonNode owner = p.metadata.path("ownerReferences").path(0);
        PodTemplate.Container c = p.template.containers().getFirst();
        return new ScrapePod(p.namespace, p.name, p.uid, p.node,
                cluster.node(p.node).map(ClusterInfo.Node::address).orElse(""), p.ip == null ? "" : p.ip, p.phase, p.ready(),
                KubeObject.stringMap(p.metadata.path("labels")), KubeObject.stringMap(p.metadata.path("annotations")),
                owner.path("kind").asText(""), owner.path("name").asText(""), c.name(),
                c.ports().isEmpty() ? 0 : c.ports().getFirst().containerPort());
    }

    private void reloadManifests() {
        if (storedManifests.refresh()) {
            manifests = storedManifests.objects();
            log("manifests: " + manifests.size() + " objects"
                    + (storedManifests.errors().isEmpty() ? "" : ", " + storedManifests.errors().size() + " files unreadable"));
        }
    }

    private void updateBalancer(Map<String, ServiceView> views) {
        Map<String, List<String>> backends = ServiceRegistry.backends(views);
        if (!backends.equals(lastBackends)) {
            lastBackends = Map.copyOf(backends);
            // The one place the eBPF Service load balancer is fed (see ServiceBalancerHook).
            balancer.update(lastBackends);
        }
    }

    private void updateExternal(Map<String, ServiceView> views) {
        List<ExternalForwards.Forward> forwards = ExternalForwards.plan(views, cluster.nodes());
        if (!forwards.equals(lastForwards) || external.retryPending()) {
            lastForwards = forwards;
            try {
                external.apply(forwards);
            } catch (RuntimeException e) {
                lastForwards = List.of(); // applied again next tick
                log("load balancer update failed (retrying): " + e);
            }
        }
    }

    private void log(String message) {
        log.println(Instant.now() + " " + message);
        log.flush();
    }
}
