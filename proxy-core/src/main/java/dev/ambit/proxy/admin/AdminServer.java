package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.http.HttpEndpoints.Handler;
import dev.ambit.common.http.HttpEndpoints.Request;
import dev.ambit.common.http.HttpEndpoints.Response;
import dev.ambit.common.json.JsonWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A proxy's admin endpoint, as ztunnel's on port {@value #DEFAULT_PORT} (loopback only by
 * default: it exposes the proxy's whole configuration and changes log levels). The shell
 * serves what every proxy has; each process fills {@code /config_dump} with its own sections
 * ({@link ConfigDumpSections} has the ones built on proxy-core's state):
 *
 * <ul>
 *   <li>{@code GET /config_dump}: one JSON object whose members are the registered
 *       {@linkplain Builder#section sections}, in registration order, each written afresh on
 *       every request.</li>
 *   <li>{@code GET /logging}: the backend, whether levels can change, and the effective
 *       level of the root, of each of the {@linkplain Builder#loggers process's loggers} and of
 *       every logger that has a level of its own.</li>
 *   <li>{@code POST /logging?level=debug} sets the root level; {@code ?<logger>=<level>}
 *       (for example {@code dev.ambit.agent.proxy=debug}) one logger's; {@code level} also
 *       takes a whole {@linkplain LogLevels#parseSpec spec}, as ztunnel's
 *       ({@code ?level=info,dev.ambit.agent.proxy=debug}). Changes take effect at once, for
 *       SLF4J, System.Logger and JUL callers alike, and add to the current levels (loggers not
 *       named keep theirs). Answers 200 with the new levels, 400 for an unknown level or no
 *       parameter (changing nothing), 501 with the reason when the logging backend cannot
 *       change levels at runtime (slf4j-simple; the proxies run on java.util.logging).</li>
 *   <li>whatever else the process adds with {@link Builder#route}.</li>
 * </ul>
 *
 * <pre>{@code
 * AdminServer admin = AdminServer.builder()
 *         .section("workloads", ConfigDumpSections.workloads(state))
 *         .section("xds", ConfigDumpSections.xds(xdsClient))
 *         .loggers(List.of("dev.ambit.agent", "ambit.access"))
 *         .start();
 * }</pre>
 */
public final class AdminServer implements AutoCloseable {

    /** ztunnel's admin port. */
    public static final int DEFAULT_PORT = IstioPorts.ADMIN;

    /** The paths the shell serves itself; {@link Builder#route} cannot take them. */
    private static final List<String> OWN_PATHS = List.of("/config_dump", "/logging");

    /**
     * Writes one {@code /config_dump} section: exactly one JSON value (object, array or
     * scalar) on every request. May throw (a protobuf that cannot be printed): the request
     * then answers 500 naming the failure.
     */
    @FunctionalInterface
    public interface Section {
        void write(JsonWriter json) throws Exception;
    }

    public static Builder builder() {
        return new Builder();
    }

    private final Map<String, Section> sections;
    private final LogLevels logLevels;
    private final List<String> loggers;
    private final HttpEndpoints http;

    private AdminServer(Builder b) {
        sections = new LinkedHashMap<>(b.sections);
        logLevels = b.logLevels != null ? b.logLevels : LogLevels.detect();
        loggers = List.copyOf(b.loggers);
        HttpEndpoints.Builder routes = HttpEndpoints.builder("admin")
                .get("/config_dump", req -> Response.json(configDump()))
                .get("/logging", req -> Response.json(logging()))
                .post("/logging", this::changeLogging);
        for (Route r : b.routes) {
            routes.route(r.method(), r.path(), r.handler());
        }
        http = routes.bind(b.address);
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

    /** The {@code /config_dump} document, built from the live sections on every request. */
    private String configDump() throws Exception {
        JsonWriter json = new JsonWriter().open('{');
        for (Map.Entry<String, Section> e : sections.entrySet()) {
            e.getValue().write(json.key(e.getKey()));
        }
        return json.close('}').toString();
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

    private record Route(String method, String path, Handler handler) {}

    /** Configures an {@link AdminServer}; everything is optional (with nothing, the dump is {@code {}}). */
    public static final class Builder {
        private final Map<String, Section> sections = new LinkedHashMap<>();
        private final List<Route> routes = new ArrayList<>();
        private LogLevels logLevels;
        private List<String> loggers = List.of();
        private InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT);

        private Builder() {}

        /**
         * Adds a top-level member {@code name} to {@code /config_dump}, after those added
         * before, written by {@code section} on every request.
         *
         * @throws IllegalArgumentException if {@code name} is blank or already a section
         */
        public Builder section(String name, Section section) {
            requireNonNull(name, "name");
            requireNonNull(section, "section");
            if (name.isBlank()) {
                throw new IllegalArgumentException("section: \"" + name + "\" (expected: not blank)");
            }
            if (sections.putIfAbsent(name, section) != null) {
                throw new IllegalArgumentException("section: " + name + " (already in the dump)");
            }
            return this;
        }

        /**
         * Serves one more endpoint, {@code method path}, besides {@code /config_dump} and
         * {@code /logging}.
         *
         * @throws IllegalArgumentException if the shell serves {@code path} itself or the route
         *     is already registered
         */
        public Builder route(String method, String path, Handler handler) {
            requireNonNull(method, "method");
            requireNonNull(path, "path");
            requireNonNull(handler, "handler");
            if (OWN_PATHS.contains(path)) {
                throw new IllegalArgumentException("route: " + path + " (served by the admin shell; "
                        + "use section() to add to /config_dump)");
            }
            for (Route r : routes) {
                if (r.method().equals(method) && r.path().equals(path)) {
                    throw new IllegalArgumentException("route: " + method + " " + path + " (already registered)");
                }
            }
            routes.add(new Route(method, path, handler));
            return this;
        }

        /** The log level backend; {@link LogLevels#detect()} by default. */
        public Builder logLevels(LogLevels logLevels) {
            this.logLevels = requireNonNull(logLevels, "logLevels");
            return this;
        }

        /**
         * The loggers {@code GET /logging} lists, in this order, after the root (and before
         * any other logger that has a level of its own); none by default.
         */
        public Builder loggers(List<String> loggers) {
            this.loggers = List.copyOf(requireNonNull(loggers, "loggers"));
            return this;
        }

        /** Where to listen; loopback port {@value AdminServer#DEFAULT_PORT} by default (0 picks a free port). */
        public Builder address(InetSocketAddress address) {
            this.address = requireNonNull(address, "address");
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
