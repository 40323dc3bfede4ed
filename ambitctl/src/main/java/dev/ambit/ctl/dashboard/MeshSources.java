package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Where the mesh view reads what Prometheus does not know: the pods, and each node agent's
 * admin {@code /config_dump} (its sections {@code pods}, the enrolled pods, and
 * {@code denials}, the recent L4 denials).
 */
interface MeshSources {

    /** One node agent's config dump, or why it could not be read. */
    record AgentDump(String node, JsonNode dump, String error) {
        public AgentDump {
            requireNonNull(node, "node");
        }
    }

    /** The pods of the mesh now. */
    List<MeshGraph.Pod> pods() throws IOException;

    /** Every node agent's dump; an agent that does not answer is listed with its error. */
    List<AgentDump> agents();

    /**
     * Sources whose pods come from {@code pods} and whose agents answer plain HTTP at the
     * given admin base URLs (node name → {@code http://host:15000}).
     */
    static MeshSources http(Supplier<List<MeshGraph.Pod>> pods, Map<String, URI> admins) {
        requireNonNull(pods, "pods");
        Map<String, URI> copy = Map.copyOf(requireNonNull(admins, "admins"));
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
        ObjectMapper json = new ObjectMapper();
        return new MeshSources() {
            @Override
            public List<MeshGraph.Pod> pods() {
                return pods.get();
            }

            @Override
            public List<AgentDump> agents() {
                List<AgentDump> out = new ArrayList<>();
                copy.keySet().stream().sorted().forEach(node -> {
                    URI uri = URI.create(copy.get(node) + "/config_dump");
                    try {
                        HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri)
                                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                        out.add(r.statusCode() == 200 ? new AgentDump(node, json.readTree(r.body()), null)
                                : new AgentDump(node, null, uri + " answered " + r.statusCode()));
                    } catch (IOException e) {
                        out.add(new AgentDump(node, null, uri + ": " + e));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        out.add(new AgentDump(node, null, "interrupted"));
                    }
                });
                return out;
            }
        };
    }
}
