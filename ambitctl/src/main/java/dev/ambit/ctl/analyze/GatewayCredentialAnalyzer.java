package dev.ambit.ctl.analyze;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.ingress.CertificateSecrets;
import dev.ambit.istiod.ingress.GatewayApiAttachments;
import dev.ambit.istiod.model.Selectors;
import io.fabric8.istio.api.api.networking.v1alpha3.Server;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Listener;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.SecretObjectReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * Gateways whose certificate Secret is missing or unusable, as istioctl's
 * {@code gateway.SecretAnalyzer}: an Istio Gateway's {@code credentialName} is read in the
 * namespace of the gateway pods its selector picks (no pod: IST0101 for the selector); no such
 * Secret is IST0101, one without a PEM {@code tls.crt}/{@code tls.key} IST0161. The same for a
 * Gateway API Gateway of class {@code istio}: {@code listeners[].tls.certificateRefs}. What counts
 * as usable is istiod-lite's own check ({@link CertificateSecrets}).
 */
final class GatewayCredentialAnalyzer implements Analyzer {

    @Override
    public void analyze(Analysis a) {
        for (var gw : a.config().list(Kind.ISTIO_GATEWAY, io.fabric8.istio.api.networking.v1.Gateway.class)) {
            istioGateway(a, gw);
        }
        for (Gateway gw : a.config().list(Kind.GATEWAY, Gateway.class)) {
            if (gw.getSpec() != null && GatewayApiAttachments.CLASS.equals(gw.getSpec().getGatewayClassName())) {
                gatewayApi(a, gw);
            }
        }
    }

    private static void istioGateway(Analysis a, io.fabric8.istio.api.networking.v1.Gateway gw) {
        var spec = gw.getSpec();
        if (spec == null || spec.getServers() == null) {
            return;
        }
        List<String> credentials = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        for (int i = 0; i < spec.getServers().size(); i++) {
            Server s = spec.getServers().get(i);
            if (s == null || s.getTls() == null) {
                continue;
            }
            if (s.getTls().getCredentialName() != null && !s.getTls().getCredentialName().isEmpty()) {
                credentials.add(s.getTls().getCredentialName());
                fields.add("spec.servers[" + i + "].tls.credentialName");
            }
            List<String> names = s.getTls().getCredentialNames() == null ? List.of() : s.getTls().getCredentialNames();
            for (int j = 0; j < names.size(); j++) {
                credentials.add(names.get(j));
                fields.add("spec.servers[" + i + "].tls.credentialNames[" + j + "]");
            }
        }
        if (credentials.isEmpty()) {
            return;
        }
        Map<String, String> selector = spec.getSelector() == null ? Map.of() : spec.getSelector();
        TreeSet<String> namespaces = new TreeSet<>();
        for (Pod pod : a.catalog().pods()) {
            if (Selectors.matches(selector, pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels())) {
                namespaces.add(pod.getMetadata().getNamespace());
            }
        }
        if (namespaces.isEmpty()) {
            String labels = new java.util.TreeMap<>(selector).entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, Kind.ISTIO_GATEWAY, gw, "spec.selector",
                    "Referenced selector not found: \"" + labels + "\".",
                    "deploy the gateway pods (helm install istio-ingress charts/gateway, or ambitctl install) or correct"
                            + " the selector; credentialName Secrets are read in those pods' namespace.");
            return;
        }
        for (int k = 0; k < credentials.size(); k++) {
            for (String ns : namespaces) {
                secret(a, Kind.ISTIO_GATEWAY, gw, fields.get(k), "credentialName", credentials.get(k), ns,
                        credentials.get(k));
            }
        }
    }

    private static void gatewayApi(Analysis a, Gateway gw) {
        List<Listener> listeners = gw.getSpec().getListeners() == null ? List.of() : gw.getSpec().getListeners();
        String gwNs = gw.getMetadata().getNamespace();
        for (int i = 0; i < listeners.size(); i++) {
            Listener l = listeners.get(i);
            if (l == null || l.getTls() == null || l.getTls().getCertificateRefs() == null) {
                continue;
            }
            List<SecretObjectReference> refs = l.getTls().getCertificateRefs();
            for (int j = 0; j < refs.size(); j++) {
                SecretObjectReference r = refs.get(j);
                boolean secret = (r.getGroup() == null || r.getGroup().isEmpty())
                        && (r.getKind() == null || r.getKind().isEmpty() || r.getKind().equals("Secret"));
                if (!secret || r.getName() == null) {
                    continue;
                }
                String ns = r.getNamespace() == null || r.getNamespace().isEmpty() ? gwNs : r.getNamespace();
                secret(a, Kind.GATEWAY, gw, "spec.listeners[" + i + "].tls.certificateRefs[" + j + "]", "certificateRef",
                        ns.equals(gwNs) ? r.getName() : ns + "/" + r.getName(), ns, r.getName());
            }
        }
    }

    private static void secret(Analysis a, Kind kind, io.fabric8.kubernetes.api.model.HasMetadata gw, String field,
                               String refType, String refValue, String ns, String name) {
        Optional<Secret> secret = a.config().get(Kind.SECRET, ns, name, Secret.class);
        if (secret.isEmpty()) {
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, kind, gw, field,
                    "Referenced " + refType + " not found: \"" + refValue + "\" (no TLS Secret " + ns + "/" + name + ").",
                    "kubectl create -n " + ns + " secret tls " + name + " --cert=CERT.pem --key=KEY.pem; until then"
                            + " TLS handshakes on this server fail.");
            return;
        }
        String problem = CertificateSecrets.problemOf(ns, name, secret.get());
        if (problem != null) {
            a.report(MessageType.INVALID_GATEWAY_CREDENTIAL, kind, gw, field,
                    "The credential referenced by the Gateway " + gw.getMetadata().getName() + " in namespace "
                            + gw.getMetadata().getNamespace() + " is invalid, which can cause the traffic not to work as"
                            + " expected: " + problem + ".",
                    "put a PEM certificate chain in tls.crt and its PEM private key in tls.key of Secret " + ns + "/"
                            + name + ".");
        }
    }
}
