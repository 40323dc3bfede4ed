package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.http.HttpEndpoints.Request;
import dev.ambit.common.http.HttpEndpoints.Response;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The node agent's admin endpoint, as ztunnel's on port {@value #DEFAULT_PORT} (loopback only
 * by default: it exposes the node's whole configuration and changes log levels):
 *
 * <ul>
 *   <li>{@code GET /config_dump}: JSON of what the agent holds: {@code workloads} by uid and
 *       {@code services} by {@code <namespace>/<hostname>} (each the resource's protobuf JSON,
 *       so bytes fields such as addresses are base64; fields at
 *       their default are printed too), {@code policies} by
 *       {@code <namespace>/<name>}, {@code certificates} (one per tracked identity) and
 *       {@code xds} (connection state), plus the state's {@code generation}, and with
 *       {@link Builder#endpointHealth} the outbound {@code endpoints}' passive health.</li>
 *   <li>{@code GET /logging}: the backend, whether levels can change, and the effective
 *       level of the root, of each of the agent's loggers and of every logger that has a
 *       level of its own.</li>
 *   <li>{@code POST /logging?level=debug} sets the root level; {@code ?<logger>=<level>}
 *       (for example {@code dev.ambit.agent.proxy=debug}) one logger's; {@code level} also
 *       takes a whole {@linkplain LogLevels#parseSpec spec}, as ztunnel's
 *       ({@code ?level=info,dev.ambit.agent.proxy=debug}). Changes take effect at once, for
 *       SLF4J, System.Logger and JUL callers alike, and add to the current levels (loggers not
 *       named keep theirs). Answers 200 with the new levels, 400 for an unknown level or no
 *       parameter (changing nothing), 501 with the reason when the logging backend cannot
 *       change levels at runtime (slf4j-simple; the agent runs on java.util.logging).</li>
 * </ul>
 *
 * <pre>{@code
 * AdminServer admin = AdminServer.builder(state)
 *         .xds(xdsClient)
 *         .certificates(certificateManager)
 *         .start();
 * }</pre>
 */
public final class AdminServer implements AutoCloseable {

    /** ztunnel's admin port. */
    public static final int DEFAULT_PORT = IstioPorts.ADMIN;

    /** The loggers {@code GET /logging} lists by default: the agent's packages and its access log. */
    public static final List<String> AGENT_LOGGERS = List.of("dev.ambit.agent", "dev.ambit.proxy.admin",
            "dev.ambit.proxy.health", "dev.ambit.proxy.identity", "dev.ambit.agent.inpod", "dev.ambit.agent.proxy", "dev.ambit.proxy.authz",
            "dev.ambit.agent.redirect", "dev.ambit.proxy.state", "dev.ambit.proxy.telemetry", "dev.ambit.proxy.xds",
            "ambit.access");

    /** What {@code config_dump} shows of the xDS client; a snapshot. */
    public record XdsStatus(boolean connected, boolean synced, String lastNack) {
        public XdsStatus {
            requireNonNull(lastNack, "lastNack");
        }

        /** The current status of {@code client}. */
        public static XdsStatus of(XdsClient client) {
            return new XdsStatus(client.isConnected(), client.isSynced(), client.lastNack());
        }
    }

    public static Builder builder(ProxyState state) {
        return new Builder(state);
    }

    /**
     * Prints default values too: without them enum zeros (scope GLOBAL, status HEALTHY) and
     * empty lists vanish from the dump, which reads as "not set" to whoever is debugging.
     */
    private static final JsonFormat.Printer PROTO_JSON =
            JsonFormat.printer().alwaysPrintFieldsWithNoPresence().omittingInsignificantWhitespace();

    private final ProxyState state;
    private final Supplier<XdsStatus> xds;
    private final CertificateManager certificates;
    private final LogLevels logLevels;
    private final List<String> loggers;
    private final Clock clock;
    private final Map<String, Consumer<JsonWriter>> sections;
    private final HttpEndpoints http;

    private AdminServer(Builder b) {
        state = b.state;
        xds = b.xds;
        certificates = b.certificates;
        logLevels = b.logLevels != null ? b.logLevels : LogLevels.detect();
        loggers = List.copyOf(b.loggers);
        clock = b.clock;
        sections = new LinkedHashMap<>(b.sections);
        http = HttpEndpoints.builder("admin")
                .get("/config_dump", req -> Response.json(configDump()))
                .get("/logging", req -> Response.json(logging()))
                .post("/logging", this::changeLogging)
                .bind(b.address);
    }

    /** Where the server listens (the bound port when configured with 0). */
    public InetSocketAddress localAddress() {
        return http.localAddress();
    }

    @Override
    public void close() {
        http.close();
    }

    // ---------------------------------------------------------------- /config_dump

    /** The {@code /config_dump} document, built from the live state on every request. */
    private String configDump() throws InvalidProtocolBufferException {
        JsonWriter json = new JsonWriter().open('{');
        json.key("generation").value(state.generation());

        // Sorted, so two dumps of the same state diff cleanly.
        TreeMap<String, Workload> workloads = new TreeMap<>();
        state.workloads().forEach(w -> workloads.put(w.getUid(), w));
        protoMap(json.key("workloads"), workloads);

        TreeMap<String, Service> services = new TreeMap<>();
        state.services().forEach(s -> services.put(ProxyState.serviceKey(s), s));
        protoMap(json.key("services"), services);

        TreeMap<String, Authorization> policies = new TreeMap<>();
        state.policies().forEach(p -> policies.put(p.getNamespace() + "/" + p.getName(), p));
        protoMap(json.key("policies"), policies);

        json.key("certificates");
        certificates(json);

        for (Map.Entry<String, Consumer<JsonWriter>> e : sections.entrySet()) {
            e.getValue().accept(json.key(e.getKey()));
        }

        json.key("xds");
        if (xds == null) {
            json.value((String) null);
        } else {
            XdsStatus s = xds.get();
            json.open('{')
                    .key("connected").value(s.connected())
                    .key("synced").value(s.synced())
                    .key("lastNack").value(s.lastNack())
                    .close('}');
        }
        return json.close('}').toString();
    }

    private static void protoMap(JsonWriter json, Map<String, ? extends MessageOrBuilder> resources)
            throws InvalidProtocolBufferException {
        json.open('{');
        for (Map.Entry<String, ? extends MessageOrBuilder> e : resources.entrySet()) {
            json.key(e.getKey()).raw(PROTO_JSON.print(e.getValue()));
        }
        json.close('}');
    }

    private void certificates(JsonWriter json) {
        json.open('[');
        if (certificates != null) {
            List<SpiffeId> ids = new ArrayList<>(certificates.identities());
            ids.sort(Comparator.comparing(SpiffeId::uri));
            for (SpiffeId id : ids) {
                json.open('{').key("identity").value(id.uri());
                Optional<WorkloadCertificate> current = certificates.current(id);
                if (current.isEmpty()) {
                    // Tracked but without a valid certificate: first fetch or renewal still failing.
                    json.key("state").value("pending");
                } else {
                    WorkloadCertificate c = current.get();
                    json.key("state").value("valid")
                            .key("serial").value(c.serialNumber().toString(16))
                            .key("notBefore").value(c.notBefore().toString())
                            .key("notAfter").value(c.notAfter().toString())
                            .key("secondsToExpiry").value(
                                    Math.max(0, Duration.between(clock.instant(), c.notAfter()).toSeconds()))
                            .key("chainLength").value(c.chain().size());
                }
                json.close('}');
            }
        }
        json.close(']');
    }

    // ---------------------------------------------------------------- /logging

    private String logging() {
        JsonWriter json = new JsonWriter().open('{');
        json.key("backend").value(logLevels.backend());
        json.key("changeable").value(logLevels.unsupportedReason() == null);
        if (logLevels.unsupportedReason() != null) {
            json.key("reason").value(logLevels.unsupportedReason());
        }
        Map<String, String> levels = new LinkedHashMap<>();
        levels.put("root", logLevels.level(LogLevels.ROOT));
        for (String l : loggers) {
            levels.put(l, logLevels.level(l));
        }
        for (String l : logLevels.overridden()) {
            levels.putIfAbsent(l, logLevels.level(l));
        }
        json.key("levels").map(levels);
        return json.close('}').toString();
    }

    private Response changeLogging(Request req) {
        if (req.query().isEmpty()) {
            return Response.status(400, "expected ?level=<level> or ?<logger>=<level>, level one of "
                    + LogLevels.LEVELS + "\n");
        }
        // Validate everything before changing anything, so a bad request changes nothing.
        Map<String, String> changes = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : req.query().entrySet()) {
            String value = e.getValue().isEmpty() ? "" : e.getValue().getLast();
            try {
                if (e.getKey().equals("level")) {
                    Map<String, String> spec = LogLevels.parseSpec(value);
                    if (spec.isEmpty()) {
                        LogLevels.checkLevel(value); // a blank level: rejected with the usual message
                    }
                    changes.putAll(spec);
                } else {
                    changes.put(e.getKey().equals("root") ? LogLevels.ROOT : e.getKey(), LogLevels.checkLevel(value));
                }
            } catch (IllegalArgumentException ex) {
                return Response.status(400, e.getKey() + ": " + ex.getMessage() + "\n");
            }
        }
        String reason = logLevels.unsupportedReason();
        if (reason != null) {
            return Response.status(501, "cannot change log levels: " + reason + "\n");
        }
        changes.forEach(logLevels::setLevel);
        return Response.json(logging());
    }

    // ---------------------------------------------------------------- builder

    /** Configures an {@link AdminServer}; everything but the state is optional. */
    public static final class Builder {
        private final Map<String, Consumer<JsonWriter>> sections = new LinkedHashMap<>();
        private final ProxyState state;
        private Supplier<XdsStatus> xds;
        private CertificateManager certificates;
        private LogLevels logLevels;
        private List<String> loggers = AGENT_LOGGERS;
        private Clock clock = Clock.systemUTC();
        private InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT);

        private Builder(ProxyState state) {
            this.state = requireNonNull(state, "state");
        }

        /** Shows this client's connection state; without it (or {@link #xdsStatus}) {@code xds} is null. */
        public Builder xds(XdsClient client) {
            requireNonNull(client, "client");
            return xdsStatus(() -> XdsStatus.of(client));
        }

        /** Where the xDS status comes from, read on every dump. */
        public Builder xdsStatus(Supplier<XdsStatus> status) {
            this.xds = requireNonNull(status, "status");
            return this;
        }

        /** Lists this manager's identities and certificates; without it the list is empty. */
        public Builder certificates(CertificateManager certificates) {
            this.certificates = requireNonNull(certificates, "certificates");
            return this;
        }

        /** The log level backend; {@link LogLevels#detect()} by default. */
        public Builder logLevels(LogLevels logLevels) {
            this.logLevels = requireNonNull(logLevels, "logLevels");
            return this;
        }

        /** The loggers {@code GET /logging} lists besides the root; {@link #AGENT_LOGGERS} by default. */
        public Builder loggers(List<String> loggers) {
            this.loggers = List.copyOf(requireNonNull(loggers, "loggers"));
            return this;
        }

        /** For seconds to expiry; the system clock by default. */
        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        /** Where to listen; loopback port {@value AdminServer#DEFAULT_PORT} by default (0 picks a free port). */
        public Builder address(InetSocketAddress address) {
            this.address = requireNonNull(address, "address");
            return this;
        }

        /**
         * Shows the passive health of the outbound endpoints as {@code endpoints}: each tracked
         * endpoint's {@code address}, {@code workload}, {@code state} ({@code healthy} or
         * {@code ejected}) and counts ({@link EndpointHealth#writeJson}).
         */
        public Builder endpointHealth(EndpointHealth health) {
            requireNonNull(health, "health");
            return section("endpoints", health::writeJson);
        }

        /**
         * Adds a top-level member {@code key} to {@code /config_dump}, written by {@code writer}
         * (exactly one JSON value) on every request, e.g. the enrolled pods.
         */
        public Builder section(String key, Consumer<JsonWriter> writer) {
            requireNonNull(key, "key");
            requireNonNull(writer, "writer");
            if (List.of("generation", "workloads", "services", "policies", "certificates", "xds").contains(key)
                    || sections.putIfAbsent(key, writer) != null) {
                throw new IllegalArgumentException("section: " + key + " (already in the dump)");
            }
            return this;
        }

        /**
         * Binds and starts serving.
         *
         * @throws IllegalStateException naming the address when it cannot be bound
         */
        public AdminServer start() {
            return new AdminServer(this);
        }
    }
}
