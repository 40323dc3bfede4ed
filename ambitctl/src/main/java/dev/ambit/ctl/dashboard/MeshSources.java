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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Where the mesh view reads what Prometheus does not know: the pods, and each node agent's
 * admin {@code /config_dump} (its sections {@code pods}, the enrolled pods, and
 * {@code denials}, the recent L4 denials).
 */
interface MeshSources {

    /** How long one agent may take to answer. */
    Duration AGENT_TIMEOUT = Duration.ofSeconds(5);
    ObjectMapper JSON = new ObjectMapper();

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

    /** Why the view cannot answer yet (its readiness), or null when it can. */
    default String notReady() {
        return null;
    }

    /**
     * Sources whose pods come from {@code pods} and whose agents answer plain HTTP at the
     * given admin base URLs (node name → {@code http://host:15000}).
     */
    static MeshSources http(Supplier<List<MeshGraph.Pod>> pods, Map<String, URI> admins) {
        requireNonNull(pods, "pods");
        Map<String, URI> dumps = new TreeMap<>();
        requireNonNull(admins, "admins").forEach((node, uri) -> dumps.put(node, URI.create(uri + "/config_dump")));
        HttpClient client = HttpGets.client(Duration.ofSeconds(3));
        return new MeshSources() {
            @Override
            public List<MeshGraph.Pod> pods() {
                return pods.get();
            }

            @Override
            public List<AgentDump> agents() {
                return read(client, dumps);
            }
        };
    }

    /** One agent's answer: its HTTP status and body. */
    record Answer(int status, String body) {}

    /** GETs {@code uri} with the JDK's {@code client}. */
    static CompletableFuture<Answer> get(HttpClient client, URI uri) {
        return client.sendAsync(HttpRequest.newBuilder(uri).timeout(AGENT_TIMEOUT).GET().build(),
                HttpResponse.BodyHandlers.ofString()).thenApply(r -> new Answer(r.statusCode(), r.body()));
    }

    /** GETs every agent's JSON at once with the JDK's {@code client} (node name → URL), see {@link #read(Map, Function)}. */
    static List<AgentDump> read(HttpClient client, Map<String, URI> agents) {
        return read(agents, uri -> get(client, uri));
    }

    /**
     * GETs every agent's JSON at once through {@code fetch} (node name → URL), each within
     * {@link #AGENT_TIMEOUT}, listed in the map's order; one that fails is listed with its error.
     */
    static List<AgentDump> read(Map<String, URI> agents, Function<URI, CompletableFuture<Answer>> fetch) {
        Map<String, CompletableFuture<Answer>> pending = new LinkedHashMap<>();
        agents.forEach((node, uri) -> pending.put(node, fetch.apply(uri)
                .orTimeout(AGENT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)));
        List<AgentDump> out = new ArrayList<>();
        for (Map.Entry<String, CompletableFuture<Answer>> e : pending.entrySet()) {
            String node = e.getKey();
            URI uri = agents.get(node);
            try {
                Answer r = e.getValue().get();
                out.add(r.status() == 200 ? new AgentDump(node, JSON.readTree(r.body()), null)
                        : new AgentDump(node, null, uri + " answered " + r.status()));
            } catch (ExecutionException ex) {
                out.add(new AgentDump(node, null, uri + ": " + (ex.getCause() instanceof TimeoutException
                        ? "no answer in " + AGENT_TIMEOUT.toSeconds() + " s" : ex.getCause())));
            } catch (IOException ex) {
                out.add(new AgentDump(node, null, uri + ": " + ex));
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                pending.values().forEach(f -> f.cancel(true));
                out.add(new AgentDump(node, null, "interrupted"));
                break;
            }
        }
        return out;
    }
}
