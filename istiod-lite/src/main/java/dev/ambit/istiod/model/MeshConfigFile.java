package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * Istio's mesh config file (the {@code mesh} key of the {@code istio} ConfigMap, istiod's
 * {@code --meshConfig}), the parts istiod-lite honours on top of its flags:
 * {@code pathNormalization.normalization} and {@code extensionProviders[]} with
 * {@code envoyExtAuthzHttp} (service, port, pathPrefix, includeRequestHeadersInCheck,
 * headersToUpstreamOnAllow, headersToDownstreamOnDeny, failOpen, timeout, statusOnError).
 * Other keys are left to their flags or ignored; a provider of another kind is skipped (a
 * CUSTOM policy naming it fails closed). Errors name the key and the expected value.
 */
public final class MeshConfigFile {

    private MeshConfigFile() {}

    /** {@code base} with the file's settings. */
    public static MeshConfig read(Path file, MeshConfig base) throws IOException {
        return parse(Files.readString(requireNonNull(file, "file")), base);
    }

    /** {@code base} with the settings of {@code yaml}. */
    public static MeshConfig parse(String yaml, MeshConfig base) {
        requireNonNull(base, "base");
        Object root = new Yaml(new SafeConstructor(new LoaderOptions())).load(requireNonNull(yaml, "yaml"));
        if (root == null) {
            return base;
        }
        if (!(root instanceof Map<?, ?> mesh)) {
            throw new IllegalArgumentException("mesh config: " + kind(root) + " (expected: a mapping)");
        }
        MeshConfig.PathNormalization normalization = base.pathNormalization();
        if (mesh.get("pathNormalization") instanceof Map<?, ?> pn && pn.get("normalization") != null) {
            String v = pn.get("normalization").toString().toUpperCase(Locale.ROOT);
            try {
                normalization = MeshConfig.PathNormalization.valueOf(v);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("mesh config: pathNormalization.normalization: " + v
                        + " (expected one of DEFAULT, NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES)");
            }
        }
        List<MeshConfig.ExtAuthzHttpProvider> providers = new ArrayList<>(base.extensionProviders());
        TelemetryProviders telemetry = telemetry(mesh, base.telemetry());
        if (mesh.get("extensionProviders") instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof Map<?, ?> p) || !(p.get("name") instanceof String name)) {
                    throw new IllegalArgumentException("mesh config: extensionProviders[" + i + "]: no name "
                            + "(expected: {name: ..., envoyExtAuthzHttp: {...}})");
                }
                if (p.get("envoyExtAuthzHttp") instanceof Map<?, ?> h) {
                    providers.removeIf(x -> x.name().equals(name));
                    providers.add(provider(name, h, "extensionProviders[" + i + "].envoyExtAuthzHttp"));
                }
            }
        }
        return base.withAuthorization(normalization, providers).withTelemetry(telemetry);
    }

    /**
     * The telemetry keys (issue 19): {@code extensionProviders[]} with {@code zipkin},
     * {@code opentelemetry}, {@code prometheus} or {@code envoyFileAccessLog};
     * {@code defaultProviders}; {@code defaultConfig.tracing.sampling}; {@code enableTracing};
     * {@code accessLogFile}, {@code accessLogEncoding}, {@code accessLogFormat}.
     */
    private static TelemetryProviders telemetry(Map<?, ?> mesh, TelemetryProviders base) {
        List<TelemetryProviders.Provider> providers = new ArrayList<>(base.providers());
        if (mesh.get("extensionProviders") instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof Map<?, ?> p) || !(p.get("name") instanceof String name)) {
                    continue; // reported with the authorization providers
                }
                String at = "extensionProviders[" + i + "]";
                TelemetryProviders.Provider provider;
                try {
                    provider = telemetryProvider(name, p, at);
                } catch (IllegalArgumentException e) {
                    String m = e.getMessage();
                    throw new IllegalArgumentException(m.startsWith("mesh config: ") ? m : "mesh config: " + m, e);
                }
                if (provider != null) {
                    providers.removeIf(x -> x.name().equals(name));
                    providers.add(provider);
                }
            }
        }
        List<String> tracing = base.defaultTracing();
        List<String> metrics = base.defaultMetrics();
        List<String> logging = base.defaultAccessLogging();
        if (mesh.get("defaultProviders") instanceof Map<?, ?> d) {
            tracing = d.containsKey("tracing") ? strings(d.get("tracing"), "defaultProviders.tracing") : tracing;
            metrics = d.containsKey("metrics") ? strings(d.get("metrics"), "defaultProviders.metrics") : metrics;
            logging = d.containsKey("accessLogging") ? strings(d.get("accessLogging"), "defaultProviders.accessLogging")
                    : logging;
        }
        java.util.Optional<Double> sampling = base.sampling();
        if (mesh.get("defaultConfig") instanceof Map<?, ?> dc && dc.get("tracing") instanceof Map<?, ?> t
                && t.get("sampling") != null) {
            if (!(t.get("sampling") instanceof Number n) || !(n.doubleValue() >= 0 && n.doubleValue() <= 100)) {
                throw new IllegalArgumentException("mesh config: defaultConfig.tracing.sampling: " + t.get("sampling")
                        + " (expected: a percentage 0-100)");
            }
            sampling = java.util.Optional.of(n.doubleValue());
        }
        boolean enableTracing = base.enableTracing();
        if (mesh.containsKey("enableTracing")) {
            if (!(mesh.get("enableTracing") instanceof Boolean b)) {
                throw new IllegalArgumentException("mesh config: enableTracing: " + mesh.get("enableTracing")
                        + " (expected: true or false)");
            }
            enableTracing = b;
        }
        String accessLogFile = mesh.get("accessLogFile") == null ? base.accessLogFile()
                : mesh.get("accessLogFile").toString();
        String encoding = mesh.get("accessLogEncoding") == null ? base.accessLogEncoding()
                : mesh.get("accessLogEncoding").toString().toUpperCase(Locale.ROOT);
        String format = mesh.get("accessLogFormat") == null ? base.accessLogFormat()
                : mesh.get("accessLogFormat").toString();
        TelemetryProviders out;
        try {
            out = new TelemetryProviders(providers, tracing, metrics, logging, sampling, enableTracing, accessLogFile,
                    encoding, format);
            out.provider(TelemetryProviders.ENVOY); // accessLogFormat under JSON must parse
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("mesh config: " + e.getMessage(), e);
        }
        for (var e : Map.of("tracing", tracing, "metrics", metrics, "accessLogging", logging).entrySet()) {
            for (String name : e.getValue()) {
                if (out.provider(name).isEmpty()) {
                    throw new IllegalArgumentException("mesh config: defaultProviders." + e.getKey() + ": " + name
                            + " (expected: the name of an extensionProviders entry)");
                }
            }
        }
        return out;
    }

    /** A telemetry provider, or null when the entry is of another kind (ext_authz). */
    private static TelemetryProviders.Provider telemetryProvider(String name, Map<?, ?> p, String at) {
        if (p.get("zipkin") instanceof Map<?, ?> z) {
            return new TelemetryProviders.Zipkin(name, string(z.get("service")), port(z.get("port"), at + ".zipkin"),
                    z.get("maxTagLength") == null ? 0 : integer(z.get("maxTagLength"), at + ".zipkin.maxTagLength"),
                    string(z.get("path")));
        }
        if (p.get("opentelemetry") instanceof Map<?, ?> o) {
            boolean http = o.get("http") instanceof Map<?, ?>;
            Map<?, ?> h = http ? (Map<?, ?>) o.get("http") : o.get("grpc") instanceof Map<?, ?> g ? g : Map.of();
            String kind = at + ".opentelemetry." + (http ? "http" : "grpc");
            Map<String, String> headers = new java.util.LinkedHashMap<>();
            Object hs = http ? h.get("headers") : h.get("initialMetadata");
            if (hs instanceof List<?> l) {
                for (Object x : l) {
                    if (x instanceof Map<?, ?> hv && hv.get("name") != null) {
                        headers.put(hv.get("name").toString(), hv.get("value") == null ? "" : hv.get("value").toString());
                    }
                }
            }
            return new TelemetryProviders.OpenTelemetry(name, string(o.get("service")),
                    port(o.get("port"), at + ".opentelemetry"), http, http ? string(h.get("path")) : "",
                    h.get("timeout") == null ? Duration.ZERO : duration(h.get("timeout").toString(), kind + ".timeout"),
                    headers);
        }
        if (p.containsKey("prometheus")) {
            return new TelemetryProviders.Prometheus(name);
        }
        if (p.get("envoyFileAccessLog") instanceof Map<?, ?> f) {
            String text = "";
            Map<String, String> labels = new java.util.LinkedHashMap<>();
            if (f.get("logFormat") instanceof Map<?, ?> lf) {
                text = string(lf.get("text"));
                if (lf.get("labels") instanceof Map<?, ?> lm) {
                    lm.forEach((k, v) -> labels.put(k.toString(), TelemetryProviders.labelValue(v,
                            at + ".envoyFileAccessLog.logFormat.labels." + k)));
                }
            }
            return new TelemetryProviders.FileAccessLog(name, f.get("path") == null ? "/dev/stdout"
                    : f.get("path").toString(), text, labels);
        }
        return null;
    }

    private static String string(Object o) {
        return o == null ? "" : o.toString();
    }

    private static int port(Object o, String at) {
        if (!(o instanceof Number n)) {
            throw new IllegalArgumentException("mesh config: " + at + ".port: " + o + " (expected: a port number)");
        }
        return n.intValue();
    }

    private static int integer(Object o, String at) {
        if (!(o instanceof Number n)) {
            throw new IllegalArgumentException("mesh config: " + at + ": " + o + " (expected: a number)");
        }
        return n.intValue();
    }

    private static MeshConfig.ExtAuthzHttpProvider provider(String name, Map<?, ?> h, String at) {
        if (!(h.get("service") instanceof String service) || service.isEmpty()) {
            throw new IllegalArgumentException("mesh config: " + at + ".service: missing (expected: the authorizer's "
                    + "host, e.g. ext-authz.foo.svc.cluster.local)");
        }
        if (!(h.get("port") instanceof Number port)) {
            throw new IllegalArgumentException("mesh config: " + at + ".port: " + h.get("port")
                    + " (expected: a port number)");
        }
        int status = 0;
        if (h.get("statusOnError") != null) {
            try {
                status = Integer.parseInt(h.get("statusOnError").toString());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("mesh config: " + at + ".statusOnError: " + h.get("statusOnError")
                        + " (expected: an HTTP status)");
            }
        }
        return new MeshConfig.ExtAuthzHttpProvider(name, service, port.intValue(),
                h.get("pathPrefix") == null ? "" : h.get("pathPrefix").toString(),
                strings(h.get("includeRequestHeadersInCheck"), at), strings(h.get("headersToUpstreamOnAllow"), at),
                strings(h.get("headersToDownstreamOnDeny"), at), Boolean.TRUE.equals(h.get("failOpen")),
                h.get("timeout") == null ? Duration.ZERO : duration(h.get("timeout").toString(), at + ".timeout"),
                status);
    }

    /** A protobuf JSON duration ({@code 0.5s}, {@code 10s}) or {@code 500ms}, {@code 1m}. */
    static Duration duration(String v, String at) {
        try {
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            if (v.endsWith("s")) {
                return Duration.ofNanos(new java.math.BigDecimal(v.substring(0, v.length() - 1))
                        .movePointRight(9).longValueExact());
            }
            if (v.endsWith("m")) {
                return Duration.ofMinutes(Long.parseLong(v.substring(0, v.length() - 1)));
            }
            if (v.endsWith("h")) {
                return Duration.ofHours(Long.parseLong(v.substring(0, v.length() - 1)));
            }
        } catch (RuntimeException e) {
            // reported below
        }
        throw new IllegalArgumentException("mesh config: " + at + ": " + v + " (expected: a duration like 0.5s or 10s)");
    }

    private static List<String> strings(Object o, String at) {
        if (o == null) {
            return List.of();
        }
        if (!(o instanceof List<?> l)) {
            throw new IllegalArgumentException("mesh config: " + at + ": " + o + " (expected: a list of header names)");
        }
        return l.stream().map(Object::toString).toList();
    }

    private static String kind(Object o) {
        return o instanceof List<?> ? "a list" : "a " + o.getClass().getSimpleName();
    }
}
