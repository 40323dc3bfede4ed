package dev.ambit.istiod.telemetry;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.ingress.GatewayModel;
import dev.ambit.istiod.l7.GatewayContext;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.LinkedHashMap;
import java.util.Map;

/** The Telemetry of a gateway proxy (issue 16's {@link GatewayModel.Proxy}), found from its key. */
public final class GatewayTelemetry {

    private GatewayTelemetry() {
    }

    /** Resolves {@code proxy}'s telemetry; problems go to {@code context}. */
    public static ProxyTelemetry resolve(GatewayModel.Proxy proxy, GatewayContext context) {
        requireNonNull(proxy, "proxy");
        requireNonNull(context, "context");
        Telemetries telemetries = Telemetries.of(context.config(), context.mesh(),
                (t, field, reason) -> context.field(Kind.TELEMETRY, t, field, reason));
        return telemetries.resolve(ProxyScope.gateway(proxy.namespace(), labels(proxy, context)));
    }

    /**
     * The labels of the proxy's pods: {@code NS/~k=v,...} names them; {@code NS/@POD} is one pod
     * (its labels read from the Pod); {@code NS/NAME} is a Gateway API gateway, whose pods carry
     * {@link ProxyScope#GATEWAY_NAME_LABEL}.
     */
    static Map<String, String> labels(GatewayModel.Proxy proxy, GatewayContext context) {
        String key = proxy.key();
        String rest = key.substring(key.indexOf('/') + 1);
        Map<String, String> labels = new LinkedHashMap<>();
        if (rest.startsWith("~")) {
            for (String kv : rest.substring(1).split(",")) {
                int eq = kv.indexOf('=');
                if (eq > 0) {
                    labels.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
        } else if (rest.startsWith("@")) {
            context.config().get(Kind.POD, proxy.namespace(), rest.substring(1), Pod.class)
                    .map(p -> p.getMetadata().getLabels()).ifPresent(labels::putAll);
        } else {
            labels.put(ProxyScope.GATEWAY_NAME_LABEL, rest);
        }
        return labels;
    }
}
