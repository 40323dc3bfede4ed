package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.istiod.config.ApiKinds;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
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
    private final Admission admission = new Admission();

    public ManifestStore(StateDir state) {
        this.dir = requireNonNull(state, "state").manifests();
    }

    /**
     * Puts {@code objects} in {@code namespace} (those that do not say; an object naming
     * another namespace than an explicit {@code -n} is an error, as with kubectl), checks
     * every one of them ({@link Admission}: istiod-lite's decoder and validator, the size
     * limits) and stores them: all of them, or, when any is refused, none.
     *
     * @param explicitNamespace {@code -n}, or null
     * @return what happened to each object, in order
     * @throws ManifestException naming every refused object (file, object, field, reason);
     *         nothing was written
     */
    public List<Map.Entry<KubeObject, Outcome>> apply(List<KubeObject> objects, String explicitNamespace) {
        List<KubeObject> placed = new ArrayList<>();
        for (KubeObject o : objects) {
            placed.add(place(o, explicitNamespace));
        }
        Map<Path, String> staged = new LinkedHashMap<>();
        List<Map.Entry<KubeObject, Outcome>> out = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (KubeObject applied : placed) {
            Path file = dir.resolve(applied.fileName());
            // An object given twice in one apply: the later one wins, as applied one after the other.
            Optional<String> before = staged.containsKey(file) ? Optional.of(staged.get(file)) : read(file);
            KubeObject o = stamped(applied, before);
            String content = Manifests.toYaml(o.tree());
            problems.addAll(admission.check(o));
            collision(o, before).ifPresent(problems::add);
            Outcome outcome = before.isEmpty() ? Outcome.CREATED
                    : before.get().equals(content) ? Outcome.UNCHANGED : Outcome.CONFIGURED;
            if (outcome != Outcome.UNCHANGED) {
                staged.put(file, content);
            }
            out.add(Map.entry(o, outcome));
        }
        refuseIfAny(problems, placed.size(), "applied");
        commit(staged);
        return out;
    }

    /**
     * Checks the objects of a {@code delete -f} as {@link #apply} would: a file that could
     * not be applied does not delete anything either.
     *
     * @throws ManifestException naming every refused object; nothing was deleted
     */
    public void checkForDelete(List<KubeObject> objects, String explicitNamespace) {
        List<String> problems = new ArrayList<>();
        for (KubeObject o : objects) {
            problems.addAll(admission.check(place(o, explicitNamespace)));
        }
        refuseIfAny(problems, objects.size(), "deleted");
    }

    private static void refuseIfAny(List<String> problems, int objects, String verb) {
        if (problems.isEmpty()) {
            return;
        }
        // The exception handler prints "error: " before the first line.
        throw new ManifestException(String.join("\nerror: ", problems) + "\nerror: nothing " + verb + ": "
                + problems.size() + " problem" + (problems.size() == 1 ? "" : "s") + " in " + objects + " object"
                + (objects == 1 ? "" : "s") + " (all objects of one invocation or none)");
    }

    /**
     * Writes every staged file, or none: each is written beside its target first, then
     * renamed over it; a rename that fails puts back what the earlier ones replaced.
     */
    private void commit(Map<Path, String> staged) {
        Map<Path, Path> temps = new LinkedHashMap<>();
        Map<Path, Optional<String>> replaced = new LinkedHashMap<>();
        try {
            Files.createDirectories(dir);
            for (Map.Entry<Path, String> e : staged.entrySet()) {
                Path tmp = e.getKey().resolveSibling("." + e.getKey().getFileName() + ".tmp");
                Files.writeString(tmp, e.getValue(), StandardCharsets.UTF_8);
                temps.put(e.getKey(), tmp);
            }
            for (Map.Entry<Path, Path> e : temps.entrySet()) {
                Optional<String> previous = read(e.getKey());
                Files.move(e.getValue(), e.getKey(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                replaced.put(e.getKey(), previous);
            }
        } catch (IOException | UncheckedIOException e) {
            for (Map.Entry<Path, Optional<String>> r : replaced.entrySet()) {
                try {
                    if (r.getValue().isPresent()) {
                        Manifests.writeAtomically(r.getKey(), r.getValue().get());
                    } else {
                        Files.deleteIfExists(r.getKey());
                    }
                } catch (IOException | UncheckedIOException ignored) {
                    // Reported below with the original failure.
                }
            }
            throw new UncheckedIOException("cannot store the manifests in " + dir + " (nothing applied): "
                    + e.getMessage(), e instanceof IOException io ? io : new IOException(e));
        } finally {
            for (Path tmp : temps.values()) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // A leftover dot file: nobody reads it.
                }
            }
        }
    }

    /**
     * Why {@code o} may not take the file of the object stored there: file names lower-case
     * the kind, so another kind or group (a kind differing in letter case only) would
     * silently replace a different object. Admission already refuses unknown kinds; this
     * guards the stored object whatever reaches here. A stored object of a misspelt Istio kind
     * (stored before Admission refused those) may be replaced: that is its repair.
     */
    private static Optional<String> collision(KubeObject o, Optional<String> stored) {
        Optional<KubeObject> there = stored.flatMap(c -> {
            try {
                return Manifests.parseStored(c, "stored").stream().findFirst();
            } catch (RuntimeException e) {
                return Optional.empty(); // an unreadable file: replacing it is the way to repair it
            }
        });
        if (there.isEmpty() || (there.get().kind().equals(o.kind()) && there.get().group().equals(o.group()))
                || ApiKinds.problem(there.get().apiVersion(), there.get().kind()).isPresent()) {
            return Optional.empty(); // the same kind, or a misspelt one stored before Admission refused those
        }
        String origin = o.origin().isEmpty() ? "(input)" : o.origin();
        return Optional.of(origin + ": " + o.describe() + " (" + o.apiVersion() + "): would replace "
                + there.get().describe() + " (" + there.get().apiVersion() + "), stored in the same file "
                + o.fileName() + " (expected: the stored object's kind and group, or delete it first)");
    }

    /**
     * The object with {@code metadata.creationTimestamp}: the stored one's when it was
     * applied before (an update keeps its age), now for a new object or when the stored
     * one cannot be read.
     */
    private static KubeObject stamped(KubeObject o, Optional<String> stored) {
        String created = stored.flatMap(c -> {
                    try {
                        return Manifests.parseStored(c, "stored").stream().findFirst();
                    } catch (RuntimeException e) {
                        return Optional.empty(); // replaced by this apply
                    }
                })
                .map(x -> KubeObject.text(x.tree().path("metadata").path("creationTimestamp")))
                .filter(s -> !s.isEmpty())
                .orElse(java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString());
        ObjectNode tree = o.tree();
        tree.withObjectProperty("metadata").put("creationTimestamp", created);
        return KubeObject.of(tree).from(o.origin());
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

    /** Every stored object; a stored file that cannot be read is left out (see {@link #unreadable()}). */
    public List<KubeObject> all() {
        List<KubeObject> out = new ArrayList<>();
        for (Path f : files()) {
            try {
                out.addAll(Manifests.readStored(f));
            } catch (ManifestException e) {
                // Shown by local status (the controller reports it); here it must not stop get or delete.
            }
        }
        return out;
    }

    /** Why each stored file that cannot be read cannot be read: one line each, empty when all can. */
    public List<String> unreadable() {
        List<String> out = new ArrayList<>();
        for (Path f : files()) {
            try {
                Manifests.readStored(f);
            } catch (ManifestException e) {
                out.add(e.getMessage());
            }
        }
        return out;
    }

    /**
     * Removes the stored file of {@code kindKey} {@code namespace}/{@code name} without
     * reading it: for an object whose file cannot be read, so {@link #find} does not see it.
     *
     * @return whether there was such a file
     */
    public boolean deleteUnreadable(String kindKey, String namespace, String name) {
        Path namespaced = dir.resolve(kindKey + "." + namespace + "." + name + ".yaml");
        Path clusterScoped = dir.resolve(kindKey + "." + name + ".yaml");
        for (Path f : List.of(namespaced, clusterScoped)) {
            if (Files.isRegularFile(f) && !readable(f)) {
                return deleteFile(f);
            }
        }
        return false;
    }

    private static boolean readable(Path f) {
        try {
            Manifests.readStored(f);
            return true;
        } catch (ManifestException e) {
            return false;
        }
    }

    private List<Path> files() {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".yaml") && !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
        KubeObject next = KubeObject.of(tree).from("label");
        refuseIfAny(admission.check(next), 1, "labelled");
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
            case "grpcroute", "grpcroutes" -> "grpcroute";
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
