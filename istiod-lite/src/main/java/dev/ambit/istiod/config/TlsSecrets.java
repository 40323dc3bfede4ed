package dev.ambit.istiod.config;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;

/**
 * Which Secrets istiod-lite keeps, and how their keys are read. Only TLS material is kept,
 * as Istio's credential controller reads it: type {@code kubernetes.io/tls}, or any other type
 * (Opaque, generic) holding {@code tls.crt} and {@code tls.key}, or {@code ca.crt}. Nothing in
 * this class ever logs or formats a value.
 */
public final class TlsSecrets {

    public static final String TLS_TYPE = "kubernetes.io/tls";
    public static final String CERT = "tls.crt";
    public static final String KEY = "tls.key";
    public static final String CA = "ca.crt";

    private TlsSecrets() {
    }

    /**
     * Whether istiod-lite keeps {@code object}: a Secret holding TLS material, or a ConfigMap
     * holding CA certificates ({@code ca.crt}, for Gateway API's {@code frontendValidation}).
     * Other Secrets and ConfigMaps are never stored.
     */
    public static boolean relevant(HasMetadata object) {
        if (object instanceof ConfigMap c) {
            return c.getData() != null && c.getData().containsKey(CA);
        }
        if (!(object instanceof Secret s)) {
            return false;
        }
        return TLS_TYPE.equals(s.getType()) || (has(s, CERT) && has(s, KEY)) || has(s, CA);
    }

    /** Whether a source keeps {@code object} of {@code kind}: Secrets and ConfigMaps only when {@link #relevant}. */
    public static boolean kept(Kind kind, HasMetadata object) {
        return (kind != Kind.SECRET && kind != Kind.CONFIG_MAP) || relevant(object);
    }

    private static boolean has(Secret s, String key) {
        return (s.getData() != null && s.getData().containsKey(key))
                || (s.getStringData() != null && s.getStringData().containsKey(key));
    }

    /**
     * The value of {@code key}: {@code data} (base64, as the API server stores it) or, in files
     * written by hand, {@code stringData}; empty when absent.
     *
     * @throws IllegalArgumentException when {@code data.<key>} is not base64 (the message names the key only)
     */
    public static Optional<byte[]> value(Secret secret, String key) {
        requireNonNull(secret, "secret");
        requireNonNull(key, "key");
        Map<String, String> data = secret.getData();
        if (data != null && data.get(key) != null) {
            try {
                // Strict base64 as the API server stores it; line breaks (YAML folding) are tolerated.
                return Optional.of(Base64.getDecoder().decode(data.get(key).replaceAll("\\s", "")));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("data." + key + " is not base64", null);
            }
        }
        Map<String, String> plain = secret.getStringData();
        if (plain != null && plain.get(key) != null) {
            return Optional.of(plain.get(key).getBytes(StandardCharsets.UTF_8));
        }
        return Optional.empty();
    }
}
