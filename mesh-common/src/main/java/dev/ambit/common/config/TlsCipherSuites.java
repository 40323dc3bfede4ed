package dev.ambit.common.config;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The TLS 1.2 cipher suites Ambit's ingress gateway can be told to offer (Istio's
 * {@code Gateway} {@code servers[].tls.cipherSuites}, Envoy's {@code tls_params.cipher_suites}),
 * by their OpenSSL/BoringSSL names as Istio and Envoy write them, with the IANA name the JDK and
 * Netty take. The ECDHE suites of Istio's list ({@code ValidCipherSuites}); suites with RSA key
 * exchange ({@code AES128-GCM-SHA256}, {@code AES128-SHA}, ...) and 3DES are left out: the JDK
 * disables them, so the gateway could not honour them. TLS 1.3 suites are not configurable (as in
 * Envoy). The one table istiod-lite reports against and the gateway NACKs against.
 */
public final class TlsCipherSuites {

    private static final Map<String, String> IANA = new LinkedHashMap<>();

    static {
        for (String auth : new String[] {"ECDSA", "RSA"}) {
            IANA.put("ECDHE-" + auth + "-AES128-GCM-SHA256", "TLS_ECDHE_" + auth + "_WITH_AES_128_GCM_SHA256");
            IANA.put("ECDHE-" + auth + "-AES256-GCM-SHA384", "TLS_ECDHE_" + auth + "_WITH_AES_256_GCM_SHA384");
            IANA.put("ECDHE-" + auth + "-CHACHA20-POLY1305", "TLS_ECDHE_" + auth + "_WITH_CHACHA20_POLY1305_SHA256");
            IANA.put("ECDHE-" + auth + "-AES128-SHA", "TLS_ECDHE_" + auth + "_WITH_AES_128_CBC_SHA");
            IANA.put("ECDHE-" + auth + "-AES256-SHA", "TLS_ECDHE_" + auth + "_WITH_AES_256_CBC_SHA");
        }
    }

    /** The TLS 1.3 suites (IANA names) offered whatever {@code cipher_suites} says, as Envoy/BoringSSL do. */
    public static final java.util.List<String> TLS13 = java.util.List.of("TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256");

    private TlsCipherSuites() {
    }

    /** Whether the gateway can offer {@code openSslName}. */
    public static boolean supported(String openSslName) {
        return IANA.containsKey(openSslName);
    }

    /** The IANA name of a supported suite. */
    public static String iana(String openSslName) {
        String name = IANA.get(openSslName);
        if (name == null) {
            throw new IllegalArgumentException("cipher suite: " + openSslName + " (expected one of " + IANA.keySet()
                    + ")");
        }
        return name;
    }

    /** The supported OpenSSL names, in preference order. */
    public static java.util.Set<String> names() {
        return java.util.Collections.unmodifiableSet(IANA.keySet());
    }
}
