package dev.ambit.charts;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Parses rendered objects into fabric8's typed model and finds the fields it did not know:
 * fabric8 keeps them in each model object's {@code additionalProperties} instead of failing,
 * so a misspelt or misplaced field (which the API server would drop or refuse) is found by
 * walking the parsed tree.
 */
final class TypedModel {

    private TypedModel() {}

    /** The object as its typed model class; fails if the kind is not one fabric8 knows. */
    static HasMetadata typed(GenericKubernetesResource generic) {
        String json = Charts.SERIALIZATION.asJson(generic);
        Object typed = Charts.SERIALIZATION.unmarshal(json);
        if (!(typed instanceof HasMetadata h) || typed instanceof GenericKubernetesResource) {
            throw new AssertionError(generic.getApiVersion() + " " + generic.getKind() + " "
                    + generic.getMetadata().getName() + ": not a kind of fabric8's typed model");
        }
        return h;
    }

    /** Paths of every unknown field in a typed object, e.g. {@code spec.template.spec.containers[0].foo}. */
    static List<String> unknownFields(Object typed) {
        List<String> out = new ArrayList<>();
        walk("", typed, out);
        return out;
    }

    private static void walk(String path, Object o, List<String> out) {
        if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean || o instanceof Enum<?>) {
            return;
        }
        if (o instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                walk(path + "[" + i + "]", list.get(i), out);
            }
            return;
        }
        if (o instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> e : map.entrySet()) {
                walk(path + "." + e.getKey(), e.getValue(), out);
            }
            return;
        }
        if (!o.getClass().getPackageName().startsWith("io.fabric8.kubernetes.api.model")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers())
                    || m.getDeclaringClass() == Object.class || !m.getName().startsWith("get")) {
                continue;
            }
            Object v;
            try {
                v = m.invoke(o);
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(path + ": " + m + ": " + e, e);
            }
            if (m.getName().equals("getAdditionalProperties") && v instanceof Map<?, ?> extra) {
                for (Object k : extra.keySet()) {
                    out.add((path.isEmpty() ? "" : path + ".") + k);
                }
                continue;
            }
            String field = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
            walk(path.isEmpty() ? field : path + "." + field, v, out);
        }
    }
}
