package dev.ambit.waypoint;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.admin.ConfigDumpSections;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.waypoint.config.ConfigSnapshot;
import dev.ambit.waypoint.config.EnvoyConfigDump;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfigStore;
import dev.ambit.waypoint.upstream.ClusterManager;
import java.util.List;
import java.util.function.Supplier;

/**
 * What the waypoint's admin endpoint shows. {@code /config_dump} is Envoy's for the xDS
 * resources ({@code configs}: listeners, routes, clusters, endpoints, {@link EnvoyConfigDump}),
 * then Ambit's own sections: {@code waypoint} (config version and the compiled filter chains),
 * {@code workloads}, {@code services}, {@code policies}, {@code certificates} and {@code xds}
 * ({@link ConfigDumpSections}). {@code ambitctl proxy-config} reads this dump, so its shape is
 * an interface. With the data path's {@link ClusterManager} (resilience, issue 15) the
 * endpoints dump shows ejected endpoints UNHEALTHY and a section {@code upstream} shows the
 * picker, connection pools, circuit breakers and each endpoint's outlier-detection state.
 */
public final class WaypointAdmin {

    /** The loggers {@code GET /logging} lists. */
    public static final List<String> LOGGERS = List.of("dev.ambit.waypoint", "dev.ambit.waypoint.config",
            "dev.ambit.waypoint.http", "dev.ambit.waypoint.upstream", "dev.ambit.proxy.admin", "dev.ambit.proxy.identity",
            "dev.ambit.proxy.hbone", "dev.ambit.proxy.net", "dev.ambit.proxy.state", "dev.ambit.proxy.xds", "ambit.access");

    private WaypointAdmin() {}

    /** An admin server builder with the waypoint's sections and loggers; the caller sets the address and starts it. */
    public static AdminServer.Builder builder(WaypointConfigStore config, ProxyState state, CertificateManager certificates,
            Supplier<ConfigDumpSections.XdsStatus> xds) {
        return builder(config, state, certificates, xds, () -> null);
    }

    /** {@link #builder} with the data path's cluster manager ({@code upstreams} gives null until it runs). */
    public static AdminServer.Builder builder(WaypointConfigStore config, ProxyState state, CertificateManager certificates,
            Supplier<ConfigDumpSections.XdsStatus> xds, Supplier<ClusterManager> upstreams) {
        requireNonNull(config, "config");
        requireNonNull(upstreams, "upstreams");
        return AdminServer.builder()
                .section("configs", EnvoyConfigDump.section(config, () -> {
                    ClusterManager m = upstreams.get();
                    return m == null ? EnvoyConfigDump.EndpointStates.NONE : m::ejected;
                }))
                .section("waypoint", json -> writeWaypoint(json, config.snapshot()))
                .section("workloads", ConfigDumpSections.workloads(state))
                .section("services", ConfigDumpSections.services(state))
                .section("policies", ConfigDumpSections.policies(state))
                .section("certificates", ConfigDumpSections.certificates(certificates))
                .section("xds", ConfigDumpSections.xds(xds))
                .section("upstream", json -> {
                    ClusterManager m = upstreams.get();
                    if (m == null) {
                        json.open('{').close('}');
                    } else {
                        m.dump(json);
                    }
                })
                .loggers(LOGGERS);
    }

    /** The compiled view the engine uses: version and filter chains (the default one last). */
    static void writeWaypoint(JsonWriter json, ConfigSnapshot c) {
        json.open('{').key("version").value(c.version()).key("filterChains").open('[');
        for (FilterChain f : c.filterChains()) {
            json.open('{').key("name").value(f.name()).key("kind").value(f.kind().name());
            if (f.kind() == FilterChain.Kind.HTTP) {
                json.key("routeName").value(f.routeName()).key("codec").value(f.codec().name());
            } else {
                json.key("cluster").value(f.cluster());
            }
            json.close('}');
        }
        json.close(']');
        if (!c.gatewayListeners().isEmpty()) {
            // Gateway mode: each port's chains as the data path picks them (server names, TLS Secret).
            json.key("gatewayListeners").open('[');
            for (var l : new java.util.TreeMap<>(c.gatewayListeners()).values()) {
                json.open('{').key("name").value(l.name()).key("port").value(l.port()).key("chains").open('[');
                for (var chain : l.chains()) {
                    json.open('{').key("name").value(chain.chain().name()).key("kind").value(chain.chain().kind().name())
                            .key("serverNames").open('[');
                    chain.serverNames().forEach(json::value);
                    json.close(']');
                    if (chain.tls() != null) {
                        var common = chain.tls().getCommonTlsContext();
                        json.key("certificate").value(common.getTlsCertificateSdsSecretConfigs(0).getName())
                                .key("certificateReceived").value(c.secrets().containsKey(
                                        common.getTlsCertificateSdsSecretConfigs(0).getName()));
                        if (common.hasValidationContextSdsSecretConfig()) {
                            json.key("clientCa").value(common.getValidationContextSdsSecretConfig().getName());
                        }
                    }
                    json.close('}');
                }
                json.close(']').close('}');
            }
            json.close(']');
        }
        json.close('}');
    }
}
