package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.Limits;
import dev.ambit.istiod.config.ApiKinds;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * What the API server and Istio's validating webhook would refuse, checked for every object
 * of a {@code local apply} (and {@code delete -f}) before anything is stored: an object
 * istiod-lite would reject must never replace the version in force. istiod-lite would fail a
 * rejected security object closed (deny, or STRICT, in its namespace) rather than keep the
 * old version, so storing it would turn a working policy into an outage.
 *
 * <p>An object of an Istio group ({@code *.istio.io}) or of the Gateway API is refused unless
 * its group, version and kind are ones the API server serves ({@link ApiKinds}: "no matches
 * for kind"), naming the likely spelling: a misspelt kind must not be stored as a kind
 * istiod-lite does not read, since it would take the valid object's file and place.
 *
 * <p>Each object is checked in the form istiod-lite will read: the YAML the controller
 * writes into its folder (a Service with its VIP), read back with SnakeYAML as istiod-lite's
 * folder reads it, then decoded and validated by istiod-lite's own {@link ObjectDecoder}.
 * Every kind, including those istiod-lite does not read (Deployments), is held to the size
 * limits of {@link Limits}, so no later stage drops what this one stored.
 */
final class Admission {

    /** The longest address the controller can write into a Service's {@code clusterIP}. */
    private static final String WIDEST_VIP = "255.255.255.255";
    private static final ObjectMapper COMPACT_JSON = new ObjectMapper();

    private final ObjectDecoder decoder = new ObjectDecoder();

    /**
     * The problems of {@code o}, one line each ({@code origin: Kind ns/name: field: reason});
     * empty when it may be stored.
     *
     * @param o the object as it will be stored: namespace placed, timestamps stamped
     */
    List<String> check(KubeObject o) {
        requireNonNull(o, "o");
        String origin = o.origin().isEmpty() ? "(input)" : o.origin();
        String what = origin + ": " + o.describe() + ": ";
        ObjectNode view = o.tree();
        if (o.kind().equals("Service") && o.group().isEmpty()) {
            Services.withClusterIp(view, WIDEST_VIP);
        }
        long json = jsonBytes(view);
        if (json > Limits.MAX_OBJECT_BYTES) {
            return List.of(what + Limits.overLimit("the object", json, Limits.MAX_OBJECT_BYTES,
                    "etcd's limit, Limits.MAX_OBJECT_BYTES, measured as JSON as the API server stores it;"
                            + " split it into several objects"));
        }
        String yaml = Manifests.toYaml(view);
        long yamlBytes = yaml.getBytes(StandardCharsets.UTF_8).length;
        if (yamlBytes > Limits.MAX_FILE_BYTES) {
            return List.of(what + Limits.overLimit("the object written as YAML", yamlBytes, Limits.MAX_FILE_BYTES,
                    "the largest manifest file the local controller and istiod-lite's folder read,"
                            + " Limits.MAX_FILE_BYTES; split it into several objects"));
        }
        Optional<String> unknown = ApiKinds.problem(o.apiVersion(), o.kind());
        if (unknown.isPresent()) {
            return List.of(what + unknown.get());
        }
        Optional<Kind> kind = Kind.of(o.apiVersion(), o.kind());
        if (kind.isEmpty()) {
            return List.of(); // not read by istiod-lite: ambitctl's own checks (Manifests.validate) apply
        }
        Map<?, ?> document;
        try {
            document = readAsIstiod(yaml);
        } catch (RuntimeException e) {
            return List.of(what + "istiod-lite could not read it: " + e.getMessage());
        }
        String ns = o.namespaced() && !o.namespace().isEmpty() ? o.namespace() : "default";
        ObjectDecoder.Result r = decoder.decode(origin, document, ns);
        List<String> out = new ArrayList<>();
        for (ConfigError e : r.errors()) {
            out.add(e.message());
        }
        return out;
    }

    /**
     * Why istiod-lite will not act on {@code o} although it is stored: an Istio or Gateway
     * API kind it does not read, spelt right (Sidecar, EnvoyFilter, TLSRoute ...:
     * {@link #check} refuses the misspelt); empty for
     * the kinds it reads and for those the controller runs itself.
     */
    static Optional<String> unread(KubeObject o) {
        if (Kind.of(o.apiVersion(), o.kind()).isPresent() || o.group().equals("apps") || o.group().isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(o.reference() + ": stored, but istiod-lite does not read " + o.kind() + " ("
                + o.apiVersion() + "): it has no effect on the mesh");
    }

    /** istiod-lite's folder parse of one file: SnakeYAML, YAML 1.1, its limits (FolderSource). */
    private static Map<?, ?> readAsIstiod(String yaml) {
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(Limits.MAX_FILE_BYTES);
        Iterator<Object> docs = new Yaml(new SafeConstructor(options)).loadAll(yaml).iterator();
        Object doc = docs.hasNext() ? docs.next() : null;
        if (!(doc instanceof Map<?, ?> map)) {
            throw new IllegalStateException("not an object once written as YAML");
        }
        return map;
    }

    private static long jsonBytes(ObjectNode tree) {
        try {
            return COMPACT_JSON.writeValueAsBytes(tree).length;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
