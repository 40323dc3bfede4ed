package dev.ambit.istiod.l7;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Collects what one translation left out or rejected, one line per problem, in the form
 * {@code "<file or source> <Kind> NS/NAME: field <path>: <reason>"} so a user can find the
 * object and the field. Duplicates (the same line for several waypoints) are kept once.
 */
final class Problems {

    private final ConfigSnapshot config;
    private final Set<String> lines = new LinkedHashSet<>();

    Problems(ConfigSnapshot config) {
        this.config = config;
    }

    /** A field of {@code object} that is not translated (or only partly), and why. */
    void field(Kind kind, HasMetadata object, String field, String reason) {
        lines.add(prefix(kind, object) + ": field " + field + ": " + reason);
    }

    /** A problem with the whole object. */
    void object(Kind kind, HasMetadata object, String reason) {
        lines.add(prefix(kind, object) + ": " + reason);
    }

    /** A line about no single object. */
    void note(String line) {
        lines.add(line);
    }

    static String describe(Kind kind, HasMetadata object) {
        return kind.kind() + " " + object.getMetadata().getNamespace() + "/" + object.getMetadata().getName();
    }

    private String prefix(Kind kind, HasMetadata object) {
        ObjectRef ref = ConfigSnapshot.refOf(kind, object);
        return config.origin(ref).map(o -> o + " ").orElse("") + describe(kind, object);
    }

    List<String> all() {
        return new ArrayList<>(lines);
    }
}
