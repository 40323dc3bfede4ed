package dev.ambit.istiod;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.model.MeshResources;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** JSON for the debug endpoints: the model as the node agents see it, and rejected inputs. */
final class DebugJson {

    private DebugJson() {}

    static String model(MeshResources model, List<ConfigError> rejected) {
        JsonWriter json = new JsonWriter().open('{');
        resources(json.key("addresses"), model.addresses());
        resources(json.key("authorizations"), model.authorizations());
        json.key("identitiesByNode").open('{');
        for (var e : new TreeMap<>(model.identitiesByNode()).entrySet()) {
            json.key(e.getKey()).list(e.getValue().stream().map(SpiffeId::uri).sorted().toList());
        }
        json.close('}');
        json.key("warnings").list(model.warnings());
        rejected(json.key("rejected"), rejected);
        return json.close('}').toString();
    }

    static String rejected(List<ConfigError> errors) {
        return rejected(new JsonWriter(), errors).toString();
    }

    private static JsonWriter rejected(JsonWriter json, List<ConfigError> errors) {
        json.open('[');
        for (ConfigError e : errors) {
            json.open('{')
                    .key("origin").value(e.origin())
                    .key("object").value(e.object() == null ? null : e.object().toString())
                    .key("field").value(e.field())
                    .key("reason").value(e.reason())
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
