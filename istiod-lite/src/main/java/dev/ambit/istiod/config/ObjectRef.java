package dev.ambit.istiod.config;

import static java.util.Objects.requireNonNull;

/**
 * Names one object: kind, namespace ("" for cluster-scoped kinds) and name. Its string
 * form is what error messages and metrics use: {@code AuthorizationPolicy shop/allow-frontend}.
 */
public record ObjectRef(Kind kind, String namespace, String name) implements Comparable<ObjectRef> {

    public ObjectRef {
        requireNonNull(kind, "kind");
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
    }

    public static ObjectRef of(Kind kind, String namespace, String name) {
        return new ObjectRef(kind, namespace == null ? "" : namespace, name);
    }

    /** "namespace/name", or "name" when cluster-scoped. */
    public String key() {
        return namespace.isEmpty() ? name : namespace + "/" + name;
    }

    @Override
    public int compareTo(ObjectRef o) {
        int c = kind.compareTo(o.kind);
        if (c != 0) {
            return c;
        }
        c = namespace.compareTo(o.namespace);
        return c != 0 ? c : name.compareTo(o.name);
    }

    @Override
    public String toString() {
        return kind.kind() + " " + key();
    }
}
