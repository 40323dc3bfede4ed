package dev.ambit.ctl.analyze;

import dev.ambit.istiod.config.Kind;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * More than one PeerAuthentication without a selector in one namespace (namespace-wide), or in
 * the root namespace (mesh-wide): Istio, and Ambit's translation, apply only the oldest
 * (creation time, then name), so the others do nothing whatever they say. istioctl has no
 * code for this; Ambit reports AMB0002 on each one that is not applied.
 */
final class PeerAuthenticationAnalyzer implements Analyzer {

    @Override
    public void analyze(Analysis a) {
        Map<String, List<PeerAuthentication>> wide = new TreeMap<>();
        for (PeerAuthentication pa : a.config().list(Kind.PEER_AUTHENTICATION, PeerAuthentication.class)) {
            var spec = pa.getSpec();
            boolean selector = spec != null && spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
                    && !spec.getSelector().getMatchLabels().isEmpty();
            if (!selector) {
                wide.computeIfAbsent(pa.getMetadata().getNamespace(), k -> new ArrayList<>()).add(pa);
            }
        }
        wide.forEach((ns, list) -> {
            if (list.size() < 2) {
                return;
            }
            list.sort(Comparator.comparing((PeerAuthentication p) -> created(p)).thenComparing(p -> p.getMetadata().getName()));
            PeerAuthentication applied = list.getFirst();
            boolean root = ns.equals(a.mesh().rootNamespace());
            String scope = root ? "mesh-wide (root namespace " + ns + ")" : "namespace-wide in " + ns;
            for (PeerAuthentication other : list.subList(1, list.size())) {
                a.report(MessageType.CONFLICTING_PEER_AUTHENTICATIONS, Kind.PEER_AUTHENTICATION, other, "spec.selector",
                        "PeerAuthentication " + ns + "/" + other.getMetadata().getName() + " and " + ns + "/"
                                + applied.getMetadata().getName() + " are both " + scope + " (no selector); only the oldest, "
                                + ns + "/" + applied.getMetadata().getName() + " (mode " + mode(applied) + "), applies and"
                                + " this one (mode " + mode(other) + ") is ignored.",
                        "keep one " + (root ? "mesh-wide" : "namespace-wide") + " PeerAuthentication in " + ns
                                + ": delete or merge this one, or give it a selector for the workloads it is meant for.");
            }
        });
    }

    private static String created(PeerAuthentication p) {
        String ts = p.getMetadata().getCreationTimestamp();
        return ts == null ? "" : ts;
    }

    private static String mode(PeerAuthentication p) {
        var spec = p.getSpec();
        return spec == null || spec.getMtls() == null || spec.getMtls().getMode() == null ? "UNSET"
                : spec.getMtls().getMode().toString();
    }
}
