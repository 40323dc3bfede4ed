package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The applied objects: {@code manifests/}, one file per object, which the controller
 * watches. {@code apply} writes, {@code delete} removes, {@code label} edits.
 */
public final class ManifestStore {

    /** What {@code apply} did to one object, as kubectl says it. */
    public enum Outcome { CREATED, CONFIGURED, UNCHANGED }

    private final Path dir;

    public ManifestStore(StateDir state) {
        this.dir = requireNonNull(state, "state").manifests();
    }

    /**
     * Puts {@code objects} in {@code namespace} (those that do not say; an object naming
     * another namespace than an explicit {@code -n} is an error, as with kubectl) and stores
     * them. Every object is checked before any is written.
     *
     * @param explicitNamespace {@code -n}, or null
     */
    public List<Map.Entry<KubeObject, Outcome>> apply(List<KubeObject> objects, String explicitNamespace) {
        List<KubeObject> placed = new ArrayList<>();
        for (KubeObject o : objects) {
            placed.add(place(o, explicitNamespace));
        }
        List<Map.Entry<KubeObject, Outcome>> out = new ArrayList<>();
        for (KubeObject applied : placed) {
            Path file = dir.resolve(applied.fileName());
            Optional<String> before = read(file);
            KubeObject o = stamped(applied, before.map(c -> Manifests.parse(c, file.toString(), x -> { })));
            String content = Manifests.toYaml(o.tree());
            Outcome outcome = before.isEmpty() ? Outcome.CREATED
                    : before.get().equals(content) ? Outcome.UNCHANGED : Outcome.CONFIGURED;
            if (outcome != Outcome.UNCHANGED) {
                Manifests.writeAtomically(file, content);
            }
            out.add(Map.entry(o, outcome));
        }
        return out;
    }

    /**
     * The object with {@code metadata.creationTimestamp}: the stored one's when it was
     * applied before (an update keeps its age), now for a new object.
     */
    private static KubeObject stamped(KubeObject o, Optional<List<KubeObject>> stored) {
        String created = stored.filter(l -> !l.isEmpty())
                .map(l -> KubeObject.text(l.getFirst().tree().path("metadata").path("creationTimestamp")))
                .filter(s -> !s.isEmpty())
                .orElse(java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString());
        ObjectNode tree = o.tree();
        tree.withObjectProperty("metadata").put("creationTimestamp", created);
        return KubeObject.of(tree);
    }

    static KubeObject place(KubeObject o, String explicitNamespace) {
        if (!o.namespaced()) {
            return o;
        }
        String own = o.namespace();
        if (explicitNamespace != null && !own.isEmpty() && !own.equals(explicitNamespace)) {
            throw new ManifestException(o.reference() + ": the namespace from the object (" + own
                    + ") does not match the namespace given with -n (" + explicitNamespace + "): drop one of them");
        }
        return o.inNamespace(!own.isEmpty() ? own : explicitNamespace != null ? explicitNamespace : "default");
    }

    /**
     * Removes the stored object; deleting a Namespace removes everything stored in it too.
     *
     * @return the objects removed (empty: there was none)
     */
    public List<KubeObject> delete(KubeObject o, String explicitNamespace) {
        KubeObject placed = place(o, explicitNamespace);
        List<KubeObject> removed = new ArrayList<>();
        if (placed.kind().equals("Namespace")) {
            for (KubeObject x : all()) {
                if (x.namespaced() && x.namespace().equals(placed.name())) {
                    deleteFile(dir.resolve(x.fileName()));
                    removed.add(x);
                }
            }
        }
        if (deleteFile(dir.resolve(placed.fileName()))) {
            removed.addFirst(placed);
        }
        return removed;
    }

    /** The stored object of {@code kindKey} (lowercase kind, e.g. {@code deployment}) in {@code namespace} named {@code name}. */
    public Optional<KubeObject> find(String kindKey, String namespace, String name) {
        for (KubeObject o : all()) {
            if (o.kindKey().equals(kindKey) && o.name().equals(name) && (!o.namespaced() || o.namespace().equals(namespace))) {
                return Optional.of(o);
            }
        }
        return Optional.empty();
    }

    /** Every stored object. */
    public List<KubeObject> all() {
        List<KubeObject> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.filter(p -> p.getFileName().toString().endsWith(".yaml")).sorted().toList()) {
                Optional<String> content = read(f);
                content.ifPresent(c -> out.addAll(Manifests.parse(c, f.toString(), skipped -> { })));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /**
     * Sets and removes labels ({@code key=value}, {@code key-}) on a stored object, as
     * {@code kubectl label}: changing an existing value needs {@code overwrite}.
     *
     * @return the object as stored now
     */
    public KubeObject label(KubeObject o, List<String> changes, boolean overwrite) {
        ObjectNode tree = o.tree();
        ObjectNode labels = tree.withObjectProperty("metadata").withObjectProperty("labels");
        for (String c : changes) {
            if (c.endsWith("-") && !c.contains("=")) {
                labels.remove(c.substring(0, c.length() - 1));
                continue;
            }
            int eq = c.indexOf('=');
            if (eq <= 0) {
                throw new ManifestException("label " + c + " (expected: key=value to set, key- to remove)");
            }
            String key = c.substring(0, eq);
            String value = c.substring(eq + 1);
            if (labels.has(key) && !labels.get(key).asText().equals(value) && !overwrite) {
                throw new ManifestException(o.reference() + " already has a value (" + labels.get(key).asText()
                        + ") for label " + key + ": pass --overwrite to change it");
            }
            labels.put(key, value);
        }
        KubeObject next = KubeObject.of(tree);
        Manifests.writeAtomically(dir.resolve(next.fileName()), Manifests.toYaml(next.tree()));
        return next;
    }

    /** kubectl's resource names and short names to the kind keys stored here. */
    public static String kindKey(String type) {
        return switch (type.toLowerCase(Locale.ROOT)) {
            case "ns", "namespace", "namespaces" -> "namespace";
            case "po", "pod", "pods" -> "pod";
            case "svc", "service", "services" -> "service";
            case "deploy", "deployment", "deployments", "deployment.apps" -> "deployment";
            case "sa", "serviceaccount", "serviceaccounts" -> "serviceaccount";
            case "authorizationpolicy", "authorizationpolicies", "ap" -> "authorizationpolicy";
            case "peerauthentication", "peerauthentications", "pa" -> "peerauthentication";
            case "gateway", "gateways", "gtw" -> "gateway";
            case "httproute", "httproutes" -> "httproute";
            case "virtualservice", "virtualservices", "vs" -> "virtualservice";
            case "destinationrule", "destinationrules", "dr" -> "destinationrule";
            case "serviceentry", "serviceentries", "se" -> "serviceentry";
            default -> type.toLowerCase(Locale.ROOT);
        };
    }

    private static Optional<String> read(Path f) {
        try {
            return Optional.of(Files.readString(f, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    private static boolean deleteFile(Path f) {
        try {
            return Files.deleteIfExists(f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + f + ": " + e.getMessage(), e);
        }
    }
}
