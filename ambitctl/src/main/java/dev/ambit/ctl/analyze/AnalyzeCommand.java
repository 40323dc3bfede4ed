package dev.ambit.ctl.analyze;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambit.ctl.local.StateDir;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshConfigFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl analyze}, as {@code istioctl analyze} for ambient users: reads files, the local
 * mesh or a cluster through istiod-lite's own config sources, runs {@link Analyzers#ALL} and
 * prints one line per finding ({@code Error [IST0101] (VirtualService ns/name file) ...}) or JSON/YAML.
 * Exit code {@value #FOUND_ISSUES} (istioctl's) when a finding reaches {@code --failure-threshold}.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = {"Analyze mesh configuration and print validation messages, as istioctl analyze does for ambient.",
                "Input: -f files/folders (alone: files only, as istioctl --use-kube=false), --local (the local mesh),",
                "or by default the cluster of the current kubeconfig; -f with --local or --use-kube lays the files over it.",
                "Codes: Istio's (https://istio.io/latest/docs/reference/config/analysis/) where istioctl has one, AMB0xxx",
                "otherwise. Exit code 79 when a message reaches --failure-threshold (default Error)."})
public final class AnalyzeCommand implements Callable<Integer> {

    /** istioctl's exit code when analyzers found issues ({@code ExitAnalyzerFoundIssues}). */
    public static final int FOUND_ISSUES = 79;

    // Held so the level set below is not lost to garbage collection of an unreferenced logger.
    private static final Logger ISTIOD_LOGS = Logger.getLogger("dev.ambit.istiod");
    private static final Logger FABRIC8_LOGS = Logger.getLogger("io.fabric8");

    @Spec CommandSpec spec;

    @Option(names = {"-f", "--filename"}, paramLabel = "PATH",
            description = "A manifest file or a folder of them (recursively); repeatable.")
    List<Path> files = List.of();

    @Option(names = "--local", description = "Analyze the local mesh (ambitctl local) in --state-dir.")
    boolean local;

    @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = StateDir.DEFAULT,
            description = "The local cluster's state folder (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--use-kube", arity = "0..1", paramLabel = "BOOL",
            description = "Read the cluster of the kubeconfig (default: true unless -f or --local is given).")
    Boolean useKube;

    @Option(names = "--context", paramLabel = "NAME", description = "The kubeconfig context (default: the current one).")
    String context;

    @Option(names = "--timeout", defaultValue = "30s", description = "How long listing the cluster may take (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = "--mesh-config", paramLabel = "FILE",
            description = "Istio's mesh config (the istio ConfigMap's \"mesh\"): root namespace, domain suffix"
                    + " (default: Istio's defaults; --local: the local mesh's).")
    Path meshConfig;

    @Option(names = {"-n", "--namespace"}, paramLabel = "NS", description = "Only messages about this namespace's objects"
            + " (default: every namespace).")
    String namespace;

    @Option(names = {"-o", "--output"}, defaultValue = "log", description = "log, json or yaml (default: ${DEFAULT-VALUE}).")
    String output;

    @Option(names = "--failure-threshold", defaultValue = "Error",
            description = "The level from which the exit code is 79: Info, Warning or Error (default: ${DEFAULT-VALUE}).")
    String failureThreshold;

    @Option(names = "--output-threshold", defaultValue = "Info",
            description = "The level from which messages are printed (default: ${DEFAULT-VALUE}).")
    String outputThreshold;

    @Override
    public Integer call() {
        String format = output.toLowerCase(Locale.ROOT);
        if (!List.of("log", "json", "yaml").contains(format)) {
            throw new IllegalArgumentException("--output: \"" + output + "\" (expected one of: log, json, yaml)");
        }
        MessageType.Level failAt = MessageType.Level.parse(failureThreshold);
        MessageType.Level printFrom = MessageType.Level.parse(outputThreshold);
        ISTIOD_LOGS.setLevel(Level.OFF); // rejections are findings here, not log lines
        FABRIC8_LOGS.setLevel(Level.SEVERE);

        StateDir state = new StateDir(stateDir);
        AnalysisSources sources = new AnalysisSources();
        boolean kube = useKube != null ? useKube : files.isEmpty() && !local;
        if (local && kube) {
            throw new IllegalArgumentException("--local and --use-kube (expected: one of them)");
        }
        MeshConfig mesh = MeshConfig.defaults();
        if (local) {
            sources.local(state.istiodConfig(), "local mesh in " + state.root());
            mesh = readMesh(Files.exists(state.meshConfig()) ? state.meshConfig() : null, mesh);
        } else if (kube) {
            sources.cluster(context, dev.ambit.ctl.local.Durations.parse("--timeout", timeout));
        }
        mesh = readMesh(meshConfig, mesh);
        for (Path f : files) {
            sources.path(f);
        }
        AnalysisSources.Input input = sources.build();
        List<Finding> all = Analysis.of(input.snapshot(), input.rejected(), mesh).run().stream()
                .filter(f -> namespace == null || f.namespace().equals(namespace)
                        || (f.kind().equals("Namespace") && f.name().equals(namespace)))
                .toList();
        List<Finding> shown = all.stream().filter(f -> f.type().level().compareTo(printFrom) >= 0).toList();
        PrintWriter out = spec.commandLine().getOut();
        switch (format) {
            case "json" -> out.println(write(new ObjectMapper(), shown));
            case "yaml" -> out.print(write(new YAMLMapper(), shown));
            default -> {
                shown.forEach(f -> out.println(f.line()));
                if (shown.isEmpty()) {
                    spec.commandLine().getErr().println("\u2714 No validation issues found when analyzing "
                            + (namespace == null ? "" : "namespace " + namespace + " of ") + sources.describe() + ".");
                }
            }
        }
        out.flush();
        return all.stream().anyMatch(f -> f.type().level().compareTo(failAt) >= 0) ? FOUND_ISSUES : 0;
    }

    private static MeshConfig readMesh(Path file, MeshConfig base) {
        if (file == null) {
            return base;
        }
        try {
            return MeshConfigFile.read(file, base);
        } catch (IOException e) {
            throw new UncheckedIOException("--mesh-config " + file + ": " + e.getMessage(), e);
        }
    }

    private static String write(ObjectMapper mapper, List<Finding> findings) {
        try {
            return mapper.writerWithDefaultPrettyPrinter().writeValueAsString(findings.stream().map(Finding::toMap).toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
