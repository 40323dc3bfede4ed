package dev.ambit.agent.admin;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.admin.ConfigDumpSections;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import java.util.List;
import java.util.function.Supplier;

/**
 * What the node agent's admin endpoint shows: its {@code /config_dump} sections, in this
 * order, {@code generation}, {@code workloads} by uid, {@code services} by
 * {@code <namespace>/<hostname>}, {@code policies} by {@code <namespace>/<name>},
 * {@code certificates} (one per tracked identity), {@code endpoints} (the outbound endpoints'
 * passive health), {@code pods} (the enrolled pods), {@code xds} (connection state) and {@code denials} (the last L4
 * denials with policy and rule, {@link dev.ambit.proxy.authz.RecentDenials}), see
 * {@link ConfigDumpSections}; and the loggers {@code /logging} lists ({@link #LOGGERS}).
 * {@code ambitctl config} reads this dump, so its shape is an interface.
 */
public final class AgentAdmin {

    /** The loggers {@code GET /logging} lists: the agent's packages and its access log. */
    public static final List<String> LOGGERS = List.of("dev.ambit.agent", "dev.ambit.proxy.admin",
            "dev.ambit.proxy.health", "dev.ambit.proxy.identity", "dev.ambit.agent.inpod", "dev.ambit.agent.proxy",
            "dev.ambit.proxy.authz", "dev.ambit.agent.redirect", "dev.ambit.proxy.state", "dev.ambit.proxy.telemetry",
            "dev.ambit.proxy.xds", "ambit.access");

    /**
     * The stats-port path of the mesh view's read-only JSON ({@link #meshView}); {@code ambitctl
     * dashboard --kubernetes} reads it at each agent pod's IP.
     */
    public static final String MESH_VIEW_PATH = "/mesh_view";

    private AgentAdmin() {}

    /**
     * {@code GET /mesh_view} on the stats port ({@value dev.ambit.common.config.IstioPorts#MERGED_METRICS}):
     * {@code {"pods": [...], "denials": {...}}}, the two {@code /config_dump} sections the mesh
     * view reads, in the same shape (pods without {@code netns}, a host path the view does not need).
     *
     * <p>Why here: admin 15000 binds loopback inside the agent's pod (it has {@code /logging},
     * which changes levels, and the whole configuration with every workload, policy and
     * certificate), so a dashboard pod cannot reach it. The stats port is on the pod IP
     * already, scraped by Prometheus, and its metrics already carry the same workload names,
     * namespaces and principals as these two sections; only they are added, read-only.
     */
    public static HttpEndpoints.Handler meshView(ProxyState state, Supplier<List<InPodManager.Enrolled>> pods) {
        requireNonNull(state, "state");
        requireNonNull(pods, "pods");
        return req -> {
            JsonWriter json = new JsonWriter().open('{');
            writePods(json.key("pods"), pods.get(), false);
            state.denials().write(json.key("denials"));
            return HttpEndpoints.Response.json(json.close('}').toString());
        };
    }

    /**
     * An admin server builder with the node agent's sections and loggers; the caller sets
     * the address and starts it.
     */
    public static AdminServer.Builder builder(ProxyState state, XdsClient xds, CertificateManager certificates,
            EndpointHealth endpointHealth, Supplier<List<InPodManager.Enrolled>> pods) {
        requireNonNull(pods, "pods");
        return AdminServer.builder()
                .section("generation", ConfigDumpSections.generation(state))
                .section("workloads", ConfigDumpSections.workloads(state))
                .section("services", ConfigDumpSections.services(state))
                .section("policies", ConfigDumpSections.policies(state))
                .section("certificates", ConfigDumpSections.certificates(certificates))
                .section("endpoints", ConfigDumpSections.endpoints(endpointHealth))
                .section("pods", json -> writePods(json, pods.get(), true))
                .section("xds", ConfigDumpSections.xds(xds))
                .section("denials", json -> state.denials().write(json))
                .loggers(LOGGERS);
    }

    /** The pods this agent has enrolled; {@code netns}: with their network namespace's path. */
    static void writePods(JsonWriter json, List<InPodManager.Enrolled> pods, boolean netns) {
        json.open('[');
        for (InPodManager.Enrolled p : pods) {
            json.open('{')
                    .key("pod").value(p.pod())
                    .key("uid").value(p.uid())
                    .key("workload").value(p.workloadUid())
                    .key("identity").value(p.identity().uri())
                    .key("addresses").open('[');
            p.addresses().forEach(addr -> json.value(addr.getHostAddress()));
            json.close(']');
            if (netns) {
                json.key("netns").value(p.netns());
            }
            json.close('}');
        }
        json.close(']');
    }
}
