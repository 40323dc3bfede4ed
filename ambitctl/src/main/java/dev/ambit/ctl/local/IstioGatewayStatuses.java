package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ObjectDecoder;
import dev.ambit.istiod.deploy.GatewayApiStatus;
import dev.ambit.istiod.ingress.CertificateSecrets;
import dev.ambit.istiod.ingress.GatewayApiAttachments;
import dev.ambit.istiod.ingress.Ingresses;
import dev.ambit.istiod.model.MeshConfig;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import io.fabric8.kubernetes.api.model.networking.v1.IngressLoadBalancerIngress;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The status of Gateways of class istio and of Istio's Ingresses in the local cluster, computed by
 * istiod-lite's own {@link GatewayApiStatus} and {@link Ingresses} so local mode and a cluster
 * report the same: the Gateway's conditions, listeners ({@code attachedRoutes}, certificate
 * problems from the Secrets applied locally), and {@code status.addresses} from its
 * {@code <gateway>-istio} Service's load-balancer address ({@code status.loadBalancer.ingress});
 * an Ingress's {@code status.loadBalancer} from the {@code istio-ingressgateway} Service's. The
 * previous tick's status keeps {@code lastTransitionTime}s. Single-threaded (the controller's loop).
 */
final class IstioGatewayStatuses {

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Set<String> DECODED = Set.of("Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute",
            "ReferenceGrant", "Namespace", "Ingress");
    private static final String DOMAIN_SUFFIX = MeshConfig.defaults().domainSuffix();

    private final Supplier<Instant> clock;
    private final Map<String, GatewayStatus> previous = new HashMap<>();

    IstioGatewayStatuses(Supplier<Instant> clock) {
        this.clock = requireNonNull(clock, "clock");
    }

    /**
     * The Gateway API, Namespace and Ingress objects of {@code objects} as istiod-lite decodes them
     * (an object it would reject is left out, as it never reaches a snapshot).
     */
    static ConfigSnapshot snapshot(List<KubeObject> objects) {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        ObjectDecoder decoder = new ObjectDecoder();
        for (KubeObject o : objects) {
            if (!DECODED.contains(o.kind())) {
                continue;
            }
            Map<?, ?> doc = MAPPER.convertValue(o.tree(), Map.class);
            ObjectDecoder.Result r = decoder.decode(o.origin(), doc, o.namespace().isEmpty() ? "default" : o.namespace());
            if (r.ok() && r.kind() != null) {
                b.put(r.kind(), r.object(), o.origin());
            }
        }
        return b.build();
    }

    /**
     * {@code gateways} with each Gateway of class istio given its status; others as they are.
     *
     * @param objects every object of this tick (routes, Secrets, Services)
     */
    List<KubeObject> update(List<KubeObject> gateways, List<KubeObject> objects, Map<String, ServiceView> views,
                            Collection<RunningPod> pods) {
        GatewayApiAttachments eval = GatewayApiAttachments.of(snapshot(objects));
        GatewayApiStatus.Secrets secrets = secrets(objects);
        List<KubeObject> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (KubeObject gw : gateways) {
            if (!IstioGatewayDeployments.isIstioGateway(gw)) {
                out.add(gw);
                continue;
            }
            String key = gw.namespace() + "/" + gw.name();
            Gateway model;
            try {
                model = SERIALIZATION.convertValue(gw.tree(), Gateway.class);
            } catch (IllegalArgumentException e) {
                out.add(gw);
                continue;
            }
            model.getMetadata().setNamespace(gw.namespace());
            model.setStatus(previous.get(key));
            String svcName = IstioGatewayDeployments.name(gw);
            ServiceView view = views.get(gw.namespace() + "/" + svcName);
            boolean ready = pods.stream().anyMatch(p -> p.namespace.equals(gw.namespace()) && p.ready()
                    && gw.name().equals(KubeObject.text(p.metadata.path("labels").path(Waypoints.GATEWAY_NAME_LABEL))));
            GatewayStatus status = GatewayApiStatus.gateway(model, eval, new GatewayApiStatus.Observed(
                    addresses(view, null), ready,
                    svcName + "." + gw.namespace() + ".svc." + DOMAIN_SUFFIX, null), secrets, clock.get());
            if (status == null) {
                out.add(gw);
                continue;
            }
            seen.add(key);
            previous.put(key, status);
            ObjectNode tree = gw.tree();
            tree.set("status", SERIALIZATION.convertValue(status, JsonNode.class));
            out.add(KubeObject.of(tree).from(gw.origin()));
        }
        previous.keySet().retainAll(seen);
        return out;
    }

    /**
     * Istio's Ingresses of {@code objects}, each with the {@code istio-ingressgateway} Service's
     * load-balancer addresses (as this tick's {@code views} see the Service, else as applied).
     */
    static List<KubeObject> ingresses(List<KubeObject> objects, Map<String, ServiceView> views) {
        ServiceView gatewayView = views.values().stream()
                .filter(v -> v.object().name().equals(Ingresses.GATEWAY_SERVICE)).findFirst().orElse(null);
        List<String> addresses = addresses(gatewayView, objects.stream().filter(o -> o.kind().equals("Service")
                && o.group().isEmpty() && o.name().equals(Ingresses.GATEWAY_SERVICE)).findFirst().orElse(null));
        List<KubeObject> out = new ArrayList<>();
        for (KubeObject o : objects) {
            if (!o.kind().equals("Ingress") || !o.group().equals("networking.k8s.io")) {
                continue;
            }
            String cls = KubeObject.text(o.spec().path("ingressClassName"));
            String annotation = KubeObject.text(o.tree().path("metadata").path("annotations")
                    .path(Ingresses.CLASS_ANNOTATION));
            if (!(cls.isEmpty() ? annotation.equals(Ingresses.CLASS) : cls.equals(Ingresses.CLASS))) {
                continue;
            }
            List<IngressLoadBalancerIngress> ingress = new ArrayList<>();
            for (String a : addresses) {
                IngressLoadBalancerIngress i = new IngressLoadBalancerIngress();
                if (a.matches("[0-9.]+|.*:.*")) {
                    i.setIp(a);
                } else {
                    i.setHostname(a);
                }
                ingress.add(i);
            }
            ObjectNode tree = o.tree();
            tree.putObject("status").set("loadBalancer", SERIALIZATION.convertValue(Map.of("ingress", ingress),
                    JsonNode.class));
            out.add(KubeObject.of(tree).from(o.origin()));
        }
        return out;
    }

    /**
     * A LoadBalancer Service's addresses: the one this tick's {@code view} allocated (the controller
     * fills {@code status.loadBalancer} only when it writes the status), else {@code applied}'s
     * {@code status.loadBalancer.ingress[]}.
     */
    static List<String> addresses(ServiceView view, KubeObject applied) {
        if (view != null && view.loadBalancerIp() != null && !view.loadBalancerIp().isEmpty()) {
            return List.of(view.loadBalancerIp());
        }
        return loadBalancer(view != null ? view.object() : applied);
    }

    /** A Service's {@code status.loadBalancer.ingress[]} IPs (or host names). */
    static List<String> loadBalancer(KubeObject service) {
        List<String> out = new ArrayList<>();
        if (service == null) {
            return out;
        }
        for (JsonNode i : service.tree().path("status").path("loadBalancer").path("ingress")) {
            String a = i.hasNonNull("ip") ? i.path("ip").asText() : i.path("hostname").asText("");
            if (!a.isEmpty()) {
                out.add(a);
            }
        }
        return out;
    }

    /** Certificate checks against the Secrets applied locally ({@code data} base64, or {@code stringData}). */
    static GatewayApiStatus.Secrets secrets(List<KubeObject> objects) {
        Map<String, Map<String, byte[]>> byKey = new LinkedHashMap<>();
        for (KubeObject o : objects) {
            if (!o.kind().equals("Secret") || !o.group().isEmpty()) {
                continue;
            }
            Map<String, byte[]> data = new HashMap<>();
            o.tree().path("data").fields().forEachRemaining(e -> {
                try {
                    data.put(e.getKey(), Base64.getMimeDecoder().decode(e.getValue().asText()));
                } catch (IllegalArgumentException notBase64) {
                    data.put(e.getKey(), new byte[0]);
                }
            });
            o.tree().path("stringData").fields().forEachRemaining(e ->
                    data.put(e.getKey(), e.getValue().asText().getBytes(StandardCharsets.UTF_8)));
            byKey.put(o.namespace() + "/" + o.name(), data);
        }
        return (ns, name) -> CertificateSecrets.problem(ns, name, byKey.get(ns + "/" + name));
    }
}
