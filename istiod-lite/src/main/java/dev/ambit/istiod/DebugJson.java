package dev.ambit.istiod;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.model.MeshResources;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** JSON for the debug endpoints: the model as the node agents see it, and rejected inputs. */
final class DebugJson {

    private DebugJson() {}

    static String model(MeshResources model, List<ConfigError> rejected, List<FailClosed> failClosed) {
        JsonWriter json = new JsonWriter().open('{');
        resources(json.key("addresses"), model.addresses());
        resources(json.key("authorizations"), model.authorizations());
        json.key("identitiesByNode").open('{');
        for (var e : new TreeMap<>(model.identitiesByNode()).entrySet()) {
            json.key(e.getKey()).list(e.getValue().stream().map(SpiffeId::uri).sorted().toList());
        }
        json.close('}');
        json.key("warnings").list(model.warnings());
        rejected(json.key("rejected"), rejected, failClosed);
        return json.close('}').toString();
    }

    /**
     * Each rejected input with what is enforced instead: {@code enforced} describes the
     * fail-closed stand-in(s) of a security object, or says the last good version (if
     * any) of another kind stays in force.
     */
    static String rejected(List<ConfigError> errors, List<FailClosed> failClosed) {
        return rejected(new JsonWriter(), errors, failClosed).toString();
    }

    private static JsonWriter rejected(JsonWriter json, List<ConfigError> errors, List<FailClosed> failClosed) {
        json.open('[');
        for (ConfigError e : errors) {
            List<String> enforced = failClosed.stream().filter(f -> f.reasons().contains(e))
                    .map(f -> f.ref() + ": " + f.describe()).distinct().toList();
            json.open('{')
                    .key("origin").value(e.origin())
                    .key("object").value(e.object() == null ? null : e.object().toString())
                    .key("field").value(e.field())
                    .key("reason").value(e.reason())
                    .key("enforced").value(enforced.isEmpty()
                            ? "rejected: the last good version, if any, stays in force" : String.join("; ", enforced))
                    .close('}');
        }
        return json.close(']');
    }

    private static void resources(JsonWriter json, Map<String, ? extends Message> resources) {
        JsonFormat.Printer printer = JsonFormat.printer().omittingInsignificantWhitespace();
        json.open('{');
        for (var e : resources.entrySet()) {
            json.key(e.getKey());
            try {
                json.raw(printer.print(e.getValue()));
            } catch (InvalidProtocolBufferException ex) {
                json.value("unprintable: " + ex.getMessage());
            }
        }
        json.close('}');
    }
}
