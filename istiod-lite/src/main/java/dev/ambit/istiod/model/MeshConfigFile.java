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
        return base.withAuthorization(normalization, providers);
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
