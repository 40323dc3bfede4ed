package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.fasterxml.jackson.dataformat.yaml.util.StringQuotingChecker;
import dev.ambit.common.config.Limits;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.nodes.NodeId;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * Reading and writing Kubernetes manifests: multi-document YAML (or JSON), {@code kind: List}
 * expanded, each object checked for what {@code ambitctl local} needs to run it.
 */
public final class Manifests {

    /** JSON, pretty as kubectl prints it (4 spaces, {@code "key": value}), for state files and {@code -o json}. */
    public static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .setDefaultPrettyPrinter(kubectlStyle());
    /**
     * YAML without the leading {@code ---}, with minimal quotes: a string is written plain
     * only when YAML 1.1 (SnakeYAML, which istiod-lite's folder reads with, and Jackson when
     * the controller reads it back) reads it back as that same string. Jackson's own check
     * leaves {@code 0x1f}, {@code 1e3}, {@code 1_000}, {@code 1:20}, {@code 2024-01-01} or
     * {@code .inf} plain, which come back as numbers, dates or not at all: a namespace
     * named {@code 1e3} in a DENY rule would have become {@code "1000.0"}.
     *
     * <p>Reads user input of any size: each object is then held to the limits by {@link Admission}.
     */
    public static final YAMLMapper YAML = mapper(Integer.MAX_VALUE);
    /**
     * Reads stored manifests (the controller, {@link ManifestStore}): accepts every file
     * {@code apply} writes (at most {@link Limits#MAX_FILE_BYTES} bytes, so at most that
     * many code points), and no more.
     */
    static final YAMLMapper STORED_YAML = mapper(Limits.MAX_FILE_BYTES);

    // DNS-1123: names of namespaces (labels) and of most objects (subdomains).
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern DNS_SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    private Manifests() {
    }

    private static YAMLMapper mapper(int codePointLimit) {
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(codePointLimit);
        return YAMLMapper.builder(YAMLFactory.builder()
                        .loaderOptions(options)
                        .stringQuotingChecker(new Yaml11Quoting())
                        .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                        .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
                        .build())
                // kubectl refuses a key given twice; taking the last one would silently pick one meaning.
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .build();
    }

    /** Quotes what Jackson would, and every string YAML 1.1 would not read back as a string. */
    private static final class Yaml11Quoting extends StringQuotingChecker.Default {
        private static final long serialVersionUID = 1L;
        private static final Resolver RESOLVER = new Resolver();

        @Override
        public boolean needToQuoteName(String name) {
            return super.needToQuoteName(name) || !plainIsString(name);
        }

        @Override
        public boolean needToQuoteValue(String value) {
            return super.needToQuoteValue(value) || !plainIsString(value);
        }

        private static boolean plainIsString(String s) {
            return Tag.STR.equals(RESOLVER.resolve(NodeId.scalar, s, true));
        }
    }

    private static DefaultPrettyPrinter kubectlStyle() {
        DefaultIndenter indent = new DefaultIndenter("    ", "\n");
        return new DefaultPrettyPrinter(Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                .withObjectEmptySeparator("")
                .withArrayEmptySeparator(""))
                .withObjectIndenter(indent)
                .withArrayIndenter(indent);
    }

    /**
     * Parses every object in {@code content}; unsupported kinds go to {@code skipped} (a
     * message each) instead of failing the whole file, as a ConfigMap in a demo's YAML should
     * not stop the rest.
     *
     * @param origin names the input in messages (a file path)
     * @throws ManifestException naming the origin, the document and what is wrong
     */
    public static List<KubeObject> parse(String content, String origin, Consumer<String> skipped) {
        return parse(YAML, content, origin, skipped);
    }

    private static List<KubeObject> parse(YAMLMapper yaml, String content, String origin, Consumer<String> skipped) {
        requireNonNull(content, "content");
        requireNonNull(origin, "origin");
        requireNonNull(skipped, "skipped");
        refuseAliases(content, origin);
        List<KubeObject> out = new ArrayList<>();
        int doc = 0;
        try (JsonParser parser = yaml.getFactory().createParser(content);
             MappingIterator<JsonNode> it = yaml.readValues(parser, JsonNode.class)) {
            while (it.hasNextValue()) {
                JsonNode n = it.nextValue();
                doc++;
                if (n == null || n.isNull() || n.isMissingNode() || (n.isObject() && n.isEmpty())
                        || (n.isTextual() && n.asText().isBlank())) {
                    continue; // an empty document: "---" at the end of a file
                }
                String where = origin + ": document " + doc;
                if (!n.isObject()) {
                    throw new ManifestException(where + ": not an object (expected: a Kubernetes manifest)");
                }
                if (n.path("kind").asText().equals("List") && n.path("items").isArray()) {
                    int i = 0;
                    for (JsonNode item : n.path("items")) {
                        add(item, where + ", item " + i++, out, skipped);
                    }
                } else {
                    add(n, where, out, skipped);
                }
            }
        } catch (JsonProcessingException e) {
            throw new ManifestException(origin + ": invalid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (YAMLException e) {
            // SnakeYAML's own limits (code points, nesting, aliases) surface unwrapped.
            throw new ManifestException(origin + ": cannot read: " + e.getMessage());
        }
        return out;
    }

    /**
     * The objects of one stored manifest ({@code STATE/manifests}, written by {@code apply}).
     *
     * @throws ManifestException naming the file and the reason, the limit for a file over
     *         {@link Limits#MAX_FILE_BYTES}, which {@code apply} never writes
     */
    public static List<KubeObject> readStored(Path file) {
        requireNonNull(file, "file");
        String content;
        try {
            long size = Files.size(file);
            if (size > Limits.MAX_FILE_BYTES) {
                throw new ManifestException(file + ": " + Limits.overLimit("the file", size, Limits.MAX_FILE_BYTES,
                        "the largest manifest file ambitctl local writes and reads"));
            }
            content = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ManifestException(file + ": cannot read: " + e.getMessage());
        }
        return parseStored(content, file.toString());
    }

    /** {@link #parse} for the content of a stored manifest. */
    static List<KubeObject> parseStored(String content, String origin) {
        return parse(STORED_YAML, content, origin, skipped -> { });
    }

    private static void add(JsonNode n, String where, List<KubeObject> out, Consumer<String> skipped) {
        if (!n.isObject()) {
            throw new ManifestException(where + ": not an object (expected: a Kubernetes manifest)");
        }
        KubeObject o;
        try {
            o = KubeObject.of((ObjectNode) n).from(where);
        } catch (IllegalArgumentException e) {
            throw new ManifestException(where + ": " + e.getMessage());
        }
        if (!KubeObject.supported(o.apiVersion(), o.kind())) {
            skipped.accept(o.reference() + ": skipped: ambitctl local does not run " + o.kind() + " ("
                    + o.apiVersion() + "); it runs Namespace, ServiceAccount, Pod, Service, Deployment and "
                    + "passes Istio, Gateway API and EndpointSlice objects to istiod-lite");
            return;
        }
        try {
            validate(o);
        } catch (IllegalArgumentException e) {
            throw new ManifestException(where + ": " + o.reference() + ": " + e.getMessage());
        }
        out.add(o);
    }

    /**
     * Jackson reads a YAML alias ({@code *name}) as the string {@code "name"}, not as the
     * anchored value: {@code principals: [*denied]} would deny a principal called "denied".
     * Aliases are refused rather than misread.
     */
    private static void refuseAliases(String content, String origin) {
        if (content.indexOf('*') < 0) {
            return;
        }
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(Integer.MAX_VALUE);
        try {
            for (Event e : new org.yaml.snakeyaml.Yaml(options).parse(new StringReader(content))) {
                if (e instanceof AliasEvent alias) {
                    throw new ManifestException(origin + ": line " + (alias.getStartMark().getLine() + 1) + ": YAML alias *"
                            + alias.getAnchor() + " (expected: the value written out; ambitctl local does not expand"
                            + " aliases)");
                }
            }
        } catch (YAMLException e) {
            // Not YAML: the parse below reports it with its line.
        }
    }

    /** Checks what {@code ambitctl local} relies on: names, and for workloads a command to run. */
    static void validate(KubeObject o) {
        Pattern names = o.kind().equals("Namespace") || o.kind().equals("Service") ? DNS_LABEL : DNS_SUBDOMAIN;
        if (!names.matcher(o.name()).matches()) {
            throw new IllegalArgumentException("metadata.name: " + o.name() + " (expected: lowercase letters, digits"
                    + " and '-', starting and ending with a letter or digit" + (names == DNS_LABEL ? ", at most 63" : "")
                    + ")");
        }
        String ns = KubeObject.text(o.tree().path("metadata").path("namespace"));
        if (o.namespaced() && !ns.isEmpty() && !DNS_LABEL.matcher(ns).matches()) {
            throw new IllegalArgumentException("metadata.namespace: " + ns + " (expected: a DNS-1123 label)");
        }
        switch (o.kind()) {
            case "Pod" -> PodTemplate.parse(o.spec(), "spec");
            case "Deployment" -> Deployments.validate(o);
            case "Service" -> Services.validate(o);
            default -> {
            }
        }
    }

    /** Every object in {@code path}: a file, or the {@code .yaml}, {@code .yml} and {@code .json} files of a folder (not recursive, sorted). */
    public static List<KubeObject> read(Path path, Consumer<String> skipped) {
        requireNonNull(path, "path");
        List<Path> files = files(path);
        List<KubeObject> out = new ArrayList<>();
        for (Path f : files) {
            String content;
            try {
                content = Files.readString(f, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new ManifestException(f + ": cannot read: " + e.getMessage());
            }
            out.addAll(parse(content, f.toString(), skipped));
        }
        return out;
    }

    /** The manifest files {@code path} stands for. */
    public static List<Path> files(Path path) {
        if (Files.isRegularFile(path)) {
            return List.of(path);
        }
        if (!Files.isDirectory(path)) {
            throw new ManifestException(path + ": no such file or folder (expected: -f FILE or -f DIR of YAML manifests)");
        }
        try (Stream<Path> s = Files.list(path)) {
            List<Path> files = s.filter(Files::isRegularFile)
                    .filter(p -> {
                        String n = p.getFileName().toString();
                        return !n.startsWith(".") && (n.endsWith(".yaml") || n.endsWith(".yml") || n.endsWith(".json"));
                    })
                    .sorted()
                    .toList();
            if (files.isEmpty()) {
                throw new ManifestException(path + ": no .yaml, .yml or .json files in this folder");
            }
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code tree} as YAML. */
    public static String toYaml(JsonNode tree) {
        try {
            return YAML.writeValueAsString(tree);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code value} as pretty JSON, ending in a newline. */
    public static String toJson(Object value) {
        try {
            return JSON.writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Replaces {@code file} with {@code content} atomically (temp file beside it, then rename),
     * so readers (istiod-lite's folder watch, the agents, ambitctl) never see half a file.
     * The temp file ends in {@code .tmp}, which istiod-lite does not read.
     */
    public static void writeAtomically(Path file, String content) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
            // Owner only: manifests may be Secrets (certificates' private keys).
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                    java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tmp, content, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
