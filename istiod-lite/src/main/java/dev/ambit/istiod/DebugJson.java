package dev.ambit.istiod;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.model.MeshResources;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** JSON for the debug endpoints: the model as the node agents see it, and rejected inputs. */
final class DebugJson {

    private DebugJson() {}

    static String model(MeshResources model, List<ConfigError> rejected) {
        StringBuilder out = new StringBuilder("{\n\"addresses\": ");
        resources(out, model.addresses());
        out.append(",\n\"authorizations\": ");
        resources(out, model.authorizations());
        out.append(",\n\"identitiesByNode\": {");
        int i = 0;
        for (var e : new TreeMap<>(model.identitiesByNode()).entrySet()) {
            out.append(i++ == 0 ? "\n  " : ",\n  ").append(quote(e.getKey())).append(": [");
            out.append(String.join(", ", e.getValue().stream().map(SpiffeId::uri).sorted().map(DebugJson::quote).toList()));
            out.append(']');
        }
        out.append("\n},\n\"warnings\": [");
        out.append(String.join(",\n  ", model.warnings().stream().map(DebugJson::quote).toList()));
        out.append("],\n\"rejected\": ").append(rejected(rejected)).append("\n}\n");
        return out.toString();
    }

    static String rejected(List<ConfigError> errors) {
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < errors.size(); i++) {
            ConfigError e = errors.get(i);
            out.append(i == 0 ? "\n  " : ",\n  ").append("{\"origin\": ").append(quote(e.origin()))
                    .append(", \"object\": ").append(e.object() == null ? "null" : quote(e.object().toString()))
                    .append(", \"field\": ").append(quote(e.field()))
                    .append(", \"reason\": ").append(quote(e.reason())).append('}');
        }
        return out.append(errors.isEmpty() ? "]" : "\n]").toString();
    }

    private static void resources(StringBuilder out, Map<String, ? extends Message> resources) {
        JsonFormat.Printer printer = JsonFormat.printer();
        out.append('{');
        int i = 0;
        for (var e : resources.entrySet()) {
            out.append(i++ == 0 ? "\n  " : ",\n  ").append(quote(e.getKey())).append(": ");
            try {
                out.append(printer.print(e.getValue()).replace("\n", "\n  "));
            } catch (InvalidProtocolBufferException ex) {
                out.append(quote("unprintable: " + ex.getMessage()));
            }
        }
        out.append("\n}");
    }

    static String quote(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> q.append("\\\"");
                case '\\' -> q.append("\\\\");
                case '\n' -> q.append("\\n");
                case '\t' -> q.append("\\t");
                default -> {
                    if (c < 0x20) {
                        q.append(String.format("\\u%04x", (int) c));
                    } else {
                        q.append(c);
                    }
                }
            }
        }
        return q.append('"').toString();
    }
}
