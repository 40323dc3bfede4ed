package dev.ambit.istiod.ingress;

import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

/**
 * Whether a Secret's data can serve as a gateway certificate, as far as its shape says: present,
 * with {@code tls.crt} holding a PEM certificate and {@code tls.key} a PEM private key (Istio's
 * {@code kubernetes.io/tls} and generic layouts alike). The reason names the Secret and the key,
 * never the bytes. Whether key and certificate match is the TLS loader's to say.
 */
public final class CertificateSecrets {

    private CertificateSecrets() {
    }

    /**
     * Why Secret {@code namespace/name} with {@code data} (decoded values; null when the Secret
     * does not exist) cannot be a certificate, or null when it can.
     */
    public static String problem(String namespace, String name, Map<String, byte[]> data) {
        String secret = "Secret " + namespace + "/" + name;
        if (data == null) {
            return secret + " does not exist";
        }
        String crt = text(data.get("tls.crt"));
        String key = text(data.get("tls.key"));
        if (crt == null) {
            return secret + ": tls.crt is missing (expected: a PEM certificate chain)";
        }
        if (!crt.contains("-----BEGIN CERTIFICATE-----")) {
            return secret + ": tls.crt is not a PEM certificate (expected: -----BEGIN CERTIFICATE-----)";
        }
        if (key == null) {
            return secret + ": tls.key is missing (expected: a PEM private key)";
        }
        if (!key.matches("(?s).*-----BEGIN [A-Z ]*PRIVATE KEY-----.*")) {
            return secret + ": tls.key is not a PEM private key (expected: -----BEGIN PRIVATE KEY-----)";
        }
        return null;
    }

    /**
     * {@link #problem(String, String, Map)} for a fabric8 Secret ({@code data} base64-encoded,
     * {@code stringData} as written); {@code secret} null when it does not exist.
     */
    public static String problemOf(String namespace, String name, Secret secret) {
        if (secret == null) {
            return problem(namespace, name, (Map<String, byte[]>) null);
        }
        Map<String, byte[]> data = new HashMap<>();
        if (secret.getData() != null) {
            secret.getData().forEach((k, v) -> {
                try {
                    data.put(k, Base64.getMimeDecoder().decode(v == null ? "" : v));
                } catch (IllegalArgumentException notBase64) {
                    data.put(k, new byte[0]);
                }
            });
        }
        if (secret.getStringData() != null) {
            secret.getStringData().forEach((k, v) -> data.put(k, v == null ? new byte[0]
                    : v.getBytes(StandardCharsets.UTF_8)));
        }
        return problem(namespace, name, data);
    }

    private static String text(byte[] b) {
        return b == null || b.length == 0 ? null : new String(b, StandardCharsets.US_ASCII);
    }
}
