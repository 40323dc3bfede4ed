package dev.ambit.agent.tracing;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.telemetry.trace.ConnectionSpans;
import dev.ambit.proxy.telemetry.trace.CustomTag;
import dev.ambit.proxy.telemetry.trace.TraceSettings;
import dev.ambit.proxy.telemetry.trace.Tracer;
import dev.ambit.proxy.telemetry.trace.Tracers;
import dev.ambit.proxy.telemetry.trace.TracingConfig;
import dev.ambit.proxy.xds.ResourceHandler;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's tracing (issue 19), configured by istiod-lite over the agent's xDS stream in
 * Envoy's types, as a waypoint is: the agent subscribes to LDS and EDS besides Istio's workload
 * and authorization types.
 *
 * <ul>
 *   <li>LDS: one Listener, {@value #LISTENER} (the name Istio gives the listener that terminates
 *       HBONE), on 15008 with one HttpConnectionManager; its {@code tracing} is the mesh-wide
 *       tracing istiod-lite resolves for the node agents (root-namespace Telemetry over MeshConfig's
 *       providers). No {@code tracing}, or no listener: no spans. A node agent never starts a
 *       trace, so {@code random_sampling} must be 0 (Envoy: only incoming decisions are
 *       honoured); request-header custom tags are refused (a CONNECT is no application request).</li>
 *   <li>EDS: the collector cluster's ClusterLoadAssignment; spans go to its first endpoint in
 *       plaintext, as a waypoint sends them.</li>
 * </ul>
 *
 * Whatever the agent cannot honour (another listener, more filter chains or filters, an HCM field
 * it does not read, an unknown provider) is NACKed with the field named; the last accepted
 * configuration stays. Spans are exported through proxy-core's {@link Tracers} (bounded queue,
 * drops counted in {@code ambit_trace_spans_dropped_total}), so a collector that is down never
 * slows a tunnel.
 */
public final class AgentTracing implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AgentTracing.class);

    /** The one Listener the agent takes: Istio's name for the listener terminating HBONE. */
    public static final String LISTENER = "connect_terminate";
    static final String HCM_FILTER = "envoy.filters.network.http_connection_manager";
    /**
     * The service of the agents' spans: Istio's {@code <app>.<namespace>} of the node agents' pods
     * ({@code app=ztunnel} in {@code istio-system}, as the agents' metrics are scraped), the name
     * istiod-lite gives the OpenTelemetry provider too.
     */
    public static final String SERVICE_NAME = "ztunnel.istio-system";

    private static final Set<String> LISTENER_FIELDS = Set.of("name", "address", "filter_chains");
    private static final Set<String> CHAIN_FIELDS = Set.of("filters");
    private static final Set<String> HCM_FIELDS = Set.of("stat_prefix", "codec_type", "route_config",
            "upgrade_configs", "http2_protocol_options", "tracing");
    private static final Set<String> TRACING_FIELDS = Set.of("random_sampling", "custom_tags",
            "max_path_tag_length", "provider");

    private final Tracers tracers;
    private final String serviceName;
    private final Map<String, InetSocketAddress> endpoints = new ConcurrentHashMap<>();
    private final ConnectionSpans spans;
    private volatile Tracer tracer;
    private volatile TraceSettings settings;

    private AgentTracing(MetricsRegistry metrics, String serviceName, String nodeId) {
        this.serviceName = serviceName;
        this.tracers = Tracers.builder(metrics, endpoints::get).build();
        this.spans = ConnectionSpans.of(() -> tracer, nodeId);
    }

    /**
     * The tracing of an agent whose spans are service {@code serviceName} (Istio's
     * {@code <app>.<namespace>} of the agent's pods, {@code ztunnel.istio-system}) and carry
     * {@code node_id = nodeId}; drop counts go to {@code metrics}.
     */
    public static AgentTracing of(MetricsRegistry metrics, String serviceName, String nodeId) {
        return new AgentTracing(requireNonNull(metrics, "metrics"), requireNonNull(serviceName, "serviceName"),
                requireNonNull(nodeId, "nodeId"));
    }

    /** The spans of the agent's tunnels, with the tracer configured now. */
    public ConnectionSpans spans() {
        return spans;
    }

    /** The tracing settings in use, or null when the agent does not trace. */
    public TraceSettings settings() {
        return settings;
    }

    /** The handlers of LDS and EDS to register on the agent's xDS client. */
    public List<ResourceHandler<?>> handlers() {
        return List.of(new ListenerHandler(), new EndpointHandler());
    }

    /** The export pipelines (tests: flush, pending spans). */
    public Tracers tracers() {
        return tracers;
    }

    @Override
    public void close() {
        tracer = null;
        tracers.close();
    }

    // ------------------------------------------------------------------ LDS

    private final class ListenerHandler implements ResourceHandler<Listener> {
        private final Map<String, Listener> held = new HashMap<>();

        @Override
        public String typeUrl() {
            return TypeUrls.LISTENER;
        }

        @Override
        public Class<Listener> messageType() {
            return Listener.class;
        }

        @Override
        public List<Rejection> apply(Map<String, Listener> updates, List<String> removes) {
            List<Rejection> rejected = new ArrayList<>();
            TraceSettings next = null;
            boolean set = false;
            for (var e : updates.entrySet()) {
                try {
                    next = settingsOf(e.getKey(), e.getValue());
                    set = true;
                } catch (IllegalArgumentException ex) {
                    rejected.add(new Rejection(e.getKey(), ex.getMessage()));
                }
            }
            if (!rejected.isEmpty()) {
                return rejected;
            }
            removes.forEach(held::remove);
            held.putAll(updates);
            if (held.isEmpty()) {
                use(null); // no listener: no spans
            } else if (set) {
                use(next);
            }
            return List.of();
        }
    }

    private void use(TraceSettings s) {
        if (java.util.Objects.equals(s, settings)) {
            return;
        }
        settings = s;
        tracer = s == null ? null : tracers.tracer(s);
        log.info("tracing: {}", s == null ? "off" : "spans of sampled tunnels to " + s.collector());
    }

    /**
     * The tracing of listener {@code name}: null when its HCM has none.
     *
     * @throws IllegalArgumentException what the agent cannot honour, naming the field and what it expects
     */
    TraceSettings settingsOf(String name, Listener l) {
        if (!LISTENER.equals(name) || !LISTENER.equals(l.getName())) {
            throw new IllegalArgumentException("listener " + name + ": not served by a node agent (expected: only "
                    + LISTENER + ")");
        }
        only(l, LISTENER_FIELDS, "listener " + name);
        if (l.getFilterChainsCount() != 1) {
            throw new IllegalArgumentException("listener " + name + ": filter_chains: " + l.getFilterChainsCount()
                    + " (expected: 1)");
        }
        FilterChain chain = l.getFilterChains(0);
        only(chain, CHAIN_FIELDS, "listener " + name + " filter_chains[0]");
        if (chain.getFiltersCount() != 1 || !chain.getFilters(0).getName().equals(HCM_FILTER)
                || !chain.getFilters(0).hasTypedConfig()) {
            throw new IllegalArgumentException("listener " + name + ": filter_chains[0].filters: "
                    + chain.getFiltersList().stream().map(Filter::getName).toList() + " (expected: one " + HCM_FILTER
                    + " with typed_config)");
        }
        HttpConnectionManager hcm;
        try {
            hcm = chain.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("listener " + name + ": " + HCM_FILTER + " typed_config: "
                    + e.getMessage() + " (expected: an HttpConnectionManager)", e);
        }
        String where = "listener " + name + " " + HCM_FILTER;
        only(hcm, HCM_FIELDS, where);
        if (!hcm.hasTracing()) {
            return null;
        }
        HttpConnectionManager.Tracing t = hcm.getTracing();
        only(t, TRACING_FIELDS, where + " tracing");
        if (!t.hasRandomSampling() || t.getRandomSampling().getValue() != 0) {
            throw new IllegalArgumentException(where + " tracing.random_sampling: "
                    + (t.hasRandomSampling() ? t.getRandomSampling().getValue() : "unset (100)")
                    + " (expected: 0: a node agent never starts a trace, it follows the CONNECT's decision)");
        }
        TraceSettings s = TracingConfig.settings(hcm, serviceName);
        for (CustomTag tag : s.customTags()) {
            if (tag.kind() == CustomTag.Kind.REQUEST_HEADER) {
                throw new IllegalArgumentException(where + " tracing.custom_tags[" + tag.tag()
                        + "]: request_header (expected: literal or environment: a tunnel has no request headers)");
            }
        }
        return s;
    }

    /** Refuses a message that sets a field not in {@code allowed}. */
    private static void only(Message m, Set<String> allowed, String where) {
        for (FieldDescriptor f : m.getAllFields().keySet()) {
            if (!allowed.contains(f.getName())) {
                throw new IllegalArgumentException(where + ": " + f.getName() + " is set (expected: only "
                        + new java.util.TreeSet<>(allowed) + "; a node agent does not implement the rest)");
            }
        }
    }

    // ------------------------------------------------------------------ EDS

    private final class EndpointHandler implements ResourceHandler<ClusterLoadAssignment> {
        @Override
        public String typeUrl() {
            return TypeUrls.CLUSTER_LOAD_ASSIGNMENT;
        }

        @Override
        public Class<ClusterLoadAssignment> messageType() {
            return ClusterLoadAssignment.class;
        }

        @Override
        public List<Rejection> apply(Map<String, ClusterLoadAssignment> updates, List<String> removes) {
            Map<String, InetSocketAddress> next = new HashMap<>();
            List<Rejection> rejected = new ArrayList<>();
            for (var e : updates.entrySet()) {
                try {
                    next.put(e.getKey(), first(e.getKey(), e.getValue()));
                } catch (IllegalArgumentException ex) {
                    rejected.add(new Rejection(e.getKey(), ex.getMessage()));
                }
            }
            if (!rejected.isEmpty()) {
                return rejected;
            }
            removes.forEach(endpoints::remove);
            next.forEach((k, v) -> {
                if (v == null) {
                    endpoints.remove(k);
                } else {
                    endpoints.put(k, v);
                }
            });
            return List.of();
        }
    }

    /** The first endpoint of {@code cla} (null: none now); a socket address that is no IP:port is refused. */
    static InetSocketAddress first(String name, ClusterLoadAssignment cla) {
        for (var locality : cla.getEndpointsList()) {
            for (var lb : locality.getLbEndpointsList()) {
                var a = lb.getEndpoint().getAddress().getSocketAddress();
                if (a.getAddress().isEmpty() || a.getPortValue() <= 0 || a.getPortValue() > 65535
                        || !io.netty.util.NetUtil.isValidIpV4Address(a.getAddress())
                        && !io.netty.util.NetUtil.isValidIpV6Address(a.getAddress())) {
                    throw new IllegalArgumentException("cluster_load_assignment " + name + ": endpoint "
                            + a.getAddress() + ":" + a.getPortValue() + " (expected: an IP address and a port 1-65535)");
                }
                return new InetSocketAddress(a.getAddress(), a.getPortValue());
            }
        }
        return null;
    }
}
