package dev.ambit.ctl.waypoint;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.KubeObject;
import dev.ambit.ctl.local.ManifestStore;
import dev.ambit.ctl.local.StateDir;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The local cluster: Gateways are stored as {@code ambitctl local apply} stores them (same
 * admission checks), the namespace is labelled as {@code local label} does, and status comes
 * from what the controller last reported ({@code status.json}).
 */
final class LocalWaypointCluster implements WaypointCluster {

    private final StateDir state;
    private final ManifestStore store;

    LocalWaypointCluster(StateDir state) {
        this.state = requireNonNull(state, "state");
        ClusterInfo.require(state);
        this.store = new ManifestStore(state);
    }

    @Override
    public String describe() {
        return "local cluster in " + state.root();
    }

    @Override
    public String apply(ObjectNode gateway) {
        KubeObject o = KubeObject.of(gateway).from("waypoint apply");
        var outcome = store.apply(List.of(o), o.namespace()).getFirst().getValue();
        return outcome.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public void labelNamespace(String namespace, String key, String value) {
        Optional<KubeObject> ns = store.find("namespace", namespace, namespace);
        if (ns.isPresent()) {
            store.label(ns.get(), List.of(key + "=" + value), true);
            return;
        }
        // Not applied (default, or created implicitly by its objects): applying it with the label is what labelling does.
        ObjectNode tree = JsonNodeFactory.instance.objectNode();
        tree.put("apiVersion", "v1").put("kind", "Namespace");
        tree.putObject("metadata").put("name", namespace).putObject("labels").put(key, value);
        store.apply(List.of(KubeObject.of(tree).from("waypoint apply --enroll-namespace")), null);
    }

    @Override
    public List<ObjectNode> waypoints(String namespace) {
        Map<String, ObjectNode> reported = new HashMap<>();
        ClusterStatus.read(state).ifPresent(s -> s.gateways().forEach(g -> reported.put(
                g.path("metadata").path("namespace").asText() + "/" + g.path("metadata").path("name").asText(), g)));
        List<ObjectNode> out = new ArrayList<>();
        for (KubeObject o : store.all()) {
            ObjectNode tree = o.tree();
            if (!WaypointGateway.isWaypoint(tree) || (namespace != null && !o.namespace().equals(namespace))) {
                continue;
            }
            // The controller's status counts only if it saw this very object: not one deleted and
            // applied again, nor an earlier spec (a stale Programmed would end a --wait too early).
            ObjectNode seen = reported.get(o.namespace() + "/" + o.name());
            if (seen != null) {
                JsonNode status = seen.remove("status");
                if (seen.equals(tree) && status != null && status.isObject()) {
                    tree.set("status", status);
                }
            }
            out.add(tree);
        }
        return out;
    }

    @Override
    public boolean delete(String namespace, String name) {
        Optional<KubeObject> gw = store.find("gateway", namespace, name);
        if (gw.isEmpty() || !WaypointGateway.isWaypoint(gw.get().tree())) {
            return false;
        }
        return !store.delete(gw.get(), namespace).isEmpty();
    }

    @Override
    public void close() {
        // Files only: nothing held.
    }
}
