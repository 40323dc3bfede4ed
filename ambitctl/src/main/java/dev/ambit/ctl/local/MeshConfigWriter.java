package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * What istiod-lite reads ({@code istiod/config}, its folder source): every applied object but
 * Deployments and Pod manifests, Services with their VIPs, and the running pods. A file is
 * written (atomically) only when its content changes, so istiod-lite pushes only real changes;
 * files of objects gone are removed. Single-threaded (the controller's loop).
 */
final class MeshConfigWriter {

    private final Path dir;
    private final PodObjects podObjects;
    private final Consumer<String> log;
    private final Map<Path, String> written = new HashMap<>();

    MeshConfigWriter(Path dir, PodObjects podObjects, Consumer<String> log) {
        this.dir = requireNonNull(dir, "dir");
        this.podObjects = requireNonNull(podObjects, "podObjects");
        this.log = requireNonNull(log, "log");
    }

    /** Learns what an earlier controller wrote, so unchanged files are not rewritten (and pushed) again. */
    void loadWritten() {
        for (Path f : Folders.files(dir)) {
            try {
                written.put(f, Files.readString(f));
            } catch (IOException e) {
                log.accept("cannot read " + f + ": " + e.getMessage());
            }
        }
    }

    /**
     * Makes the folder hold {@code manifests}, {@code services}' VIPs and {@code pods}.
     *
     * @param unknown the files of manifests that cannot be read now: their last copy stays
     */
    void write(List<KubeObject> manifests, Map<String, ServiceView> services, Collection<RunningPod> pods,
               Set<String> unknown) {
        Map<Path, String> desired = new TreeMap<>();
        for (KubeObject o : manifests) {
            if (o.kind().equals("Deployment") || o.kind().equals("Pod")) {
                continue;
            }
            ObjectNode tree = o.tree();
            if (o.kind().equals("Service")) {
                ServiceView v = services.get(o.namespace() + "/" + o.name());
                if (v == null) {
                    continue; // no VIP (a conflict, logged): istiod-lite would route nowhere
                }
                Services.withAllocations(Services.withClusterIp(tree, v.vip()), v);
            }
            desired.put(dir.resolve(o.fileName()), Manifests.toYaml(tree));
        }
        for (RunningPod p : pods) {
            desired.put(dir.resolve("pod." + p.namespace + "." + p.name + ".yaml"),
                    Manifests.toYaml(podObjects.of(p, false)));
        }
        for (Map.Entry<Path, String> e : desired.entrySet()) {
            if (!e.getValue().equals(written.get(e.getKey()))) {
                Manifests.writeAtomically(e.getKey(), e.getValue());
                written.put(e.getKey(), e.getValue());
            }
        }
        for (Path f : Folders.files(dir)) {
            String name = f.getFileName().toString();
            if (unknown.contains(name) && !name.startsWith("pod.") && !name.startsWith("deployment.")) {
                continue; // its manifest cannot be read: istiod-lite keeps the last copy rather than losing it
            }
            if (!desired.containsKey(f)) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException e) {
                    log.accept("cannot remove " + f + ": " + e.getMessage());
                }
                written.remove(f);
            }
        }
    }
}
