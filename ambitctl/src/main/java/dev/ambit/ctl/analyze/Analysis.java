package dev.ambit.ctl.analyze;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.l7.RouteReferences;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.ArrayList;
import java.util.List;

/**
 * What the analyzers read and where they report: the objects as istiod-lite accepted them
 * (its {@code ObjectDecoder}, validators and model: {@link ServiceCatalog}, {@link RouteReferences}),
 * the inputs it rejected, and the findings so far. Not thread-safe; one per run.
 */
public final class Analysis {

    private final ConfigSnapshot config;
    private final List<ConfigError> rejected;
    private final MeshConfig mesh;
    private final ServiceCatalog catalog;
    private final RouteReferences routes;
    private final List<Finding> findings = new ArrayList<>();

    private Analysis(ConfigSnapshot config, List<ConfigError> rejected, MeshConfig mesh) {
        this.config = config;
        this.rejected = List.copyOf(rejected);
        this.mesh = mesh;
        this.catalog = ServiceCatalog.of(config, mesh);
        this.routes = RouteReferences.of(config, catalog);
    }

    public static Analysis of(ConfigSnapshot config, List<ConfigError> rejected, MeshConfig mesh) {
        return new Analysis(requireNonNull(config, "config"), requireNonNull(rejected, "rejected"),
                requireNonNull(mesh, "mesh"));
    }

    /** Runs every analyzer of {@link Analyzers#ALL}; returns the findings, errors first. */
    public List<Finding> run() {
        for (Analyzer a : Analyzers.ALL) {
            a.analyze(this);
        }
        return findings.stream().sorted().distinct().toList();
    }

    public ConfigSnapshot config() {
        return config;
    }

    public List<ConfigError> rejected() {
        return rejected;
    }

    public MeshConfig mesh() {
        return mesh;
    }

    public ServiceCatalog catalog() {
        return catalog;
    }

    public RouteReferences routes() {
        return routes;
    }

    /** Reports a finding about {@code object} of {@code kind}. */
    public void report(MessageType type, Kind kind, HasMetadata object, String field, String message, String fix) {
        ObjectRef ref = ConfigSnapshot.refOf(kind, object);
        report(type, ref, config.origin(ref).orElse(""), field, message, fix);
    }

    /** Reports a finding about the object {@code ref} (null: no object could be named) read from {@code origin}. */
    public void report(MessageType type, ObjectRef ref, String origin, String field, String message, String fix) {
        findings.add(new Finding(type, ref == null ? "" : ref.kind().kind(), ref == null ? "" : ref.namespace(),
                ref == null ? "" : ref.name(), origin, field, message, fix));
    }
}
