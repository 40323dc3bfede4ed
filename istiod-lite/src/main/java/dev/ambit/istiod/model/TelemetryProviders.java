package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The telemetry half of Istio's MeshConfig: {@code extensionProviders[]} of the telemetry kinds
 * ({@code zipkin}, {@code opentelemetry}, {@code prometheus}, {@code envoyFileAccessLog}),
 * {@code defaultProviders}, {@code defaultConfig.tracing.sampling}, {@code enableTracing} and
 * {@code accessLogFile}. The Telemetry API ({@code dev.ambit.istiod.telemetry}) selects among
 * these providers by name.
 *
 * @param providers the telemetry providers by declaration order (names unique)
 * @param defaultTracing {@code defaultProviders.tracing}
 * @param defaultMetrics {@code defaultProviders.metrics} (empty: Istio's default, {@code prometheus})
 * @param defaultAccessLogging {@code defaultProviders.accessLogging}
 * @param sampling {@code defaultConfig.tracing.sampling}, percent; empty = Istio's 1.0
 * @param enableTracing {@code enableTracing} (Istio's default true)
 * @param accessLogFile {@code accessLogFile}: "" = none (Istio's default profile); when set,
 *        the built-in {@code envoy} provider logs there and is on by default
 * @param accessLogEncoding {@code accessLogEncoding} of the built-in {@code envoy} provider:
 *        {@code TEXT}, {@code JSON}, or "" when unset
 * @param accessLogFormat {@code accessLogFormat}: "" = the encoding's default
 */
public record TelemetryProviders(List<Provider> providers, List<String> defaultTracing, List<String> defaultMetrics,
                                 List<String> defaultAccessLogging, Optional<Double> sampling, boolean enableTracing,
                                 String accessLogFile, String accessLogEncoding, String accessLogFormat) {

    /** Istio's built-in access log provider: a file access log at {@code accessLogFile} (or stdout). */
    public static final String ENVOY = "envoy";
    /**
     * Istio's default access log format for {@code accessLogEncoding: TEXT} (its
     * {@code EnvoyTextLogFormat}), one line per request.
     */
    public static final String ISTIO_TEXT_FORMAT = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% "
            + "%PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
            + "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
            + "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
            + "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% "
            + "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
            + "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";
    /** Istio's built-in metrics provider. */
    public static final String PROMETHEUS = "prometheus";

    public TelemetryProviders {
        providers = List.copyOf(providers);
        defaultTracing = List.copyOf(defaultTracing);
        defaultMetrics = List.copyOf(defaultMetrics);
        defaultAccessLogging = List.copyOf(defaultAccessLogging);
        requireNonNull(sampling, "sampling");
        requireNonNull(accessLogFile, "accessLogFile");
        requireNonNull(accessLogEncoding, "accessLogEncoding");
        requireNonNull(accessLogFormat, "accessLogFormat");
        if (!accessLogEncoding.isEmpty() && !accessLogEncoding.equals("TEXT") && !accessLogEncoding.equals("JSON")) {
            throw new IllegalArgumentException("accessLogEncoding: " + accessLogEncoding + " (expected: TEXT or JSON)");
        }
        sampling.ifPresent(s -> {
            if (!(s >= 0 && s <= 100)) {
                throw new IllegalArgumentException("defaultConfig.tracing.sampling: " + s + " (expected: 0-100)");
            }
        });
    }

    /** Istio's defaults: no providers beyond the built-in ones, tracing enabled, no access log file. */
    public static TelemetryProviders defaults() {
        return new TelemetryProviders(List.of(), List.of(), List.of(), List.of(), Optional.empty(), true, "", "", "");
    }

    /** Sampling of new traces when nothing else says: {@code defaultConfig.tracing.sampling}, else 1 %. */
    public double defaultSampling() {
        return sampling.orElse(1.0);
    }

    /**
     * The provider named {@code name}: a declared one, else the built-ins {@code prometheus} and
     * {@code envoy} (a file access log at {@code accessLogFile}, {@code /dev/stdout} when unset), as Istio has them.
     */
    public Optional<Provider> provider(String name) {
        for (Provider p : providers) {
            if (p.name().equals(name)) {
                return Optional.of(p);
            }
        }
        return switch (name) {
            case PROMETHEUS -> Optional.of(new Prometheus(PROMETHEUS));
            case ENVOY -> Optional.of(envoy());
            default -> Optional.empty();
        };
    }

    /**
     * The built-in {@code envoy} provider with MeshConfig's {@code accessLogEncoding} and
     * {@code accessLogFormat} as Istio applies them: a format under TEXT (Istio's default
     * encoding) is a format string, under JSON a JSON object of labels; TEXT without a format is
     * Istio's default text format. Neither encoding nor format keeps the proxy's own JSON line, and
     * so does JSON without a format (Ambit's line stands in for Istio's default JSON labels).
     */
    private FileAccessLog envoy() {
        String path = accessLogFile.isEmpty() ? "/dev/stdout" : accessLogFile;
        if (accessLogEncoding.equals("JSON")) {
            return new FileAccessLog(ENVOY, path, "", accessLogFormat.isEmpty() ? Map.of()
                    : jsonLabels(accessLogFormat));
        }
        if (accessLogFormat.isEmpty()) {
            return new FileAccessLog(ENVOY, path, accessLogEncoding.equals("TEXT") ? ISTIO_TEXT_FORMAT : "", Map.of());
        }
        return new FileAccessLog(ENVOY, path, accessLogFormat, Map.of());
    }

    /** {@code accessLogFormat} under JSON: a flat JSON object of string values, in order. */
    private static Map<String, String> jsonLabels(String json) {
        Object o;
        try {
            o = new org.yaml.snakeyaml.Yaml(new org.yaml.snakeyaml.constructor.SafeConstructor(
                    new org.yaml.snakeyaml.LoaderOptions())).load(json);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("accessLogFormat: not JSON (expected: a JSON object of labels under "
                    + "accessLogEncoding JSON): " + e.getMessage(), e);
        }
        if (!(o instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException("accessLogFormat: " + json + " (expected: a JSON object of labels under "
                    + "accessLogEncoding JSON)");
        }
        Map<String, String> out = new java.util.LinkedHashMap<>();
        m.forEach((k, v) -> out.put(String.valueOf(k), labelValue(v, "accessLogFormat." + k)));
        return out;
    }

    /** A label's command operators: a string (a number or boolean as written). */
    static String labelValue(Object v, String at) {
        if (v instanceof Map<?, ?> || v instanceof List<?> || v == null) {
            throw new IllegalArgumentException(at + ": " + (v == null ? "null" : v.getClass().getSimpleName())
                    + " (expected: a string of command operators, e.g. \"%RESPONSE_CODE%\")");
        }
        return v.toString();
    }

    /** One telemetry provider of {@code extensionProviders[]}. */
    public sealed interface Provider permits Zipkin, OpenTelemetry, Prometheus, FileAccessLog {
        String name();
    }

    /**
     * {@code zipkin}: spans in Zipkin v2 JSON over HTTP.
     *
     * @param service the collector's host ({@code zipkin.istio-system.svc.cluster.local}, or {@code ns/host})
     * @param maxTagLength {@code maxTagLength}, 0 = unset (Envoy's 256)
     * @param path the collector's path ({@code /api/v2/spans} when unset)
     */
    public record Zipkin(String name, String service, int port, int maxTagLength, String path) implements Provider {
        public Zipkin {
            requireNonNull(name, "name");
            service = hostOf(service, name, "zipkin");
            checkPort(port, name, "zipkin");
            if (maxTagLength < 0) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].zipkin.maxTagLength: "
                        + maxTagLength + " (expected: >= 0)");
            }
            path = path == null || path.isEmpty() ? "/api/v2/spans" : path;
            if (!path.startsWith("/")) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].zipkin.path: " + path
                        + " (expected: beginning with /)");
            }
        }
    }

    /**
     * {@code opentelemetry}: spans over OTLP, gRPC ({@code grpc: {}} or neither given) or HTTP
     * ({@code http: {path, timeout, headers}}).
     *
     * @param http OTLP/HTTP when true, else OTLP/gRPC
     * @param httpPath {@code http.path} ({@code /v1/traces} when unset)
     * @param timeout {@code http.timeout} or {@code grpc.timeout}; zero = unset
     * @param headers {@code http.headers} / {@code grpc.initialMetadata} (name → value)
     */
    public record OpenTelemetry(String name, String service, int port, boolean http, String httpPath,
                                Duration timeout, Map<String, String> headers) implements Provider {
        public OpenTelemetry {
            requireNonNull(name, "name");
            service = hostOf(service, name, "opentelemetry");
            checkPort(port, name, "opentelemetry");
            httpPath = httpPath == null || httpPath.isEmpty() ? "/v1/traces" : httpPath;
            if (!httpPath.startsWith("/")) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].opentelemetry.http.path: "
                        + httpPath + " (expected: beginning with /)");
            }
            requireNonNull(timeout, "timeout");
            headers = Map.copyOf(headers);
        }
    }

    /** {@code prometheus}: Istio's standard metrics, scraped from the proxy. */
    public record Prometheus(String name) implements Provider {
        public Prometheus {
            requireNonNull(name, "name");
        }
    }

    /**
     * {@code envoyFileAccessLog}.
     *
     * @param path where lines go ({@code /dev/stdout})
     * @param text {@code logFormat.text}, "" = the proxy's own format
     * @param labels {@code logFormat.labels} (JSON keys → Envoy command operators, in order); at
     *        most one of {@code text} and {@code labels} (Istio's {@code logFormat} is a oneof)
     */
    public record FileAccessLog(String name, String path, String text, Map<String, String> labels)
            implements Provider {
        public FileAccessLog {
            requireNonNull(name, "name");
            requireNonNull(path, "path");
            if (path.isEmpty()) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].envoyFileAccessLog.path: empty "
                        + "(expected: a file, e.g. /dev/stdout)");
            }
            text = text == null ? "" : text;
            labels = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(labels));
            if (!text.isEmpty() && !labels.isEmpty()) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].envoyFileAccessLog.logFormat: "
                        + "both text and labels (expected: one of them)");
            }
        }
    }

    /** The host of a provider's {@code service}: {@code ns/host} loses its {@code ns/}. */
    private static String hostOf(String service, String name, String kind) {
        if (service == null || service.isEmpty()) {
            throw new IllegalArgumentException("extensionProviders[" + name + "]." + kind + ".service: missing "
                    + "(expected: the collector's host, e.g. zipkin.istio-system.svc.cluster.local)");
        }
        int slash = service.indexOf('/');
        return slash < 0 ? service : service.substring(slash + 1);
    }

    private static void checkPort(int port, String name, String kind) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("extensionProviders[" + name + "]." + kind + ".port: " + port
                    + " (expected: 1-65535)");
        }
    }
}
