package dev.ambit.common.config;

/**
 * Istio's well-known port numbers, defined once. Ambit keeps Istio's numbers so that Istio's
 * tooling, charts and network policies work unchanged; a proxy or control plane may be told
 * to listen elsewhere (flags), these are the defaults and what the redirection targets.
 */
public final class IstioPorts {

    /** The proxy's admin endpoint ({@code /config_dump}, {@code /logging}), loopback only. */
    public static final int ADMIN = 15000;

    /** Where outbound traffic of a captured pod is redirected. */
    public static final int OUTBOUND = 15001;

    /** Where plaintext inbound traffic of a captured pod is redirected. */
    public static final int INBOUND_PLAINTEXT = 15006;

    /** HBONE: mTLS HTTP/2 CONNECT tunnels between proxies. */
    public static final int HBONE = 15008;

    /** istiod's plaintext xDS. */
    public static final int ISTIOD_XDS_PLAINTEXT = 15010;

    /** istiod's xDS and CA over TLS. */
    public static final int ISTIOD_SECURE = 15012;

    /** istiod's monitoring: Prometheus {@code /metrics}, {@code /ready}, {@code /debug}. */
    public static final int CONTROL_PLANE_MONITORING = 15014;

    /** istiod's validating webhook (HTTPS). */
    public static final int WEBHOOK = 15017;

    /** A proxy's merged Prometheus {@code /metrics}. */
    public static final int MERGED_METRICS = 15020;

    /** A proxy's health: {@code /healthz/ready}. */
    public static final int HEALTH = 15021;

    /** An Envoy-based proxy's own Prometheus endpoint (the waypoint's). */
    public static final int PROMETHEUS = 15090;

    private IstioPorts() {
    }
}
