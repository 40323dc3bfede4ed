package dev.ambit.images;

import static java.util.Objects.requireNonNull;

import com.google.cloud.tools.jib.api.Containerizer;
import com.google.cloud.tools.jib.api.ImageReference;
import com.google.cloud.tools.jib.api.Jib;
import com.google.cloud.tools.jib.api.JibContainer;
import com.google.cloud.tools.jib.api.JibContainerBuilder;
import com.google.cloud.tools.jib.api.LogEvent;
import com.google.cloud.tools.jib.api.RegistryImage;
import com.google.cloud.tools.jib.api.TarImage;
import com.google.cloud.tools.jib.api.buildplan.AbsoluteUnixPath;
import com.google.cloud.tools.jib.api.buildplan.FileEntriesLayer;
import com.google.cloud.tools.jib.api.buildplan.FilePermissions;
import com.google.cloud.tools.jib.api.buildplan.ImageFormat;
import com.google.cloud.tools.jib.api.buildplan.Port;
import com.google.cloud.tools.jib.frontend.CredentialRetrieverFactory;
import dev.ambit.agent.AgentJvm;
import dev.ambit.common.config.IstioPorts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Builds Ambit's OCI images from {@code scratch} with jib-core: no container engine, no base
 * image pulled, byte-for-byte reproducible (every file dated 1970-01-01T00:00:01Z, owned by
 * root, modes set here). {@code images/build.sh} stages the inputs; this class lays them out:
 *
 * <ol>
 *   <li>{@code glibc}: the dynamic loader, libc and its companions, zlib, from Debian's
 *       packages (with their copyright files), {@code /etc/passwd} and {@code /etc/group}
 *       naming the non-root user, an empty {@code /tmp}. Shared by every image.</li>
 *   <li>{@code jre}: one {@code jlink}ed JDK 25 at {@code /opt/java} with the union of the
 *       modules {@code jdeps} finds in the components (they differ by {@code java.net.http}
 *       only), so this layer, the largest, is also shared by every image on a node.</li>
 *   <li>{@code libbpf} (node agent only): Debian's libbpf and libelf, which the eBPF
 *       bindings load.</li>
 *   <li>{@code dependencies}: third-party jars at {@code /app/lib}, which change less often
 *       than Ambit's.</li>
 *   <li>{@code application}: Ambit's own jars.</li>
 * </ol>
 *
 * <p>No shell, no package manager. The agent runs as root (it loads BPF programs and
 * enters pod namespaces with the capabilities its DaemonSet grants); istiod-lite and
 * ambitctl run as {@value #USER}, the uid Istio's images use.
 */
public final class ImageBuild {

    static final String USER = "1337:1337";
    private static final Instant EPOCH_PLUS_ONE = Instant.ofEpochSecond(1);
    private static final FilePermissions EXECUTABLE = FilePermissions.fromOctalString("755");
    private static final FilePermissions READABLE = FilePermissions.fromOctalString("644");
    private static final FilePermissions WORLD_WRITABLE = FilePermissions.fromOctalString("777");

    /**
     * One image. {@code jar} is the component's runnable jar with its {@code lib/} beside it;
     * null marks a slot whose module does not exist yet.
     */
    record Component(String name, String jar, String description, String user, List<String> jvmOptions,
                     List<Integer> ports, boolean needsLibbpf) {}

    /** JVM flags every image adds: no hsperfdata file in /tmp (read-only root file system, no tools to read it). */
    private static final List<String> CONTAINER_JVM = List.of("-XX:-UsePerfData");

    static List<Component> components() {
        List<String> agentJvm = new ArrayList<>(AgentJvm.OPTIONS);
        agentJvm.addAll(CONTAINER_JVM);
        List<String> controlPlaneJvm = new ArrayList<>(List.of("-XX:+UseSerialGC", "-XX:MaxRAMPercentage=75"));
        controlPlaneJvm.addAll(CONTAINER_JVM);
        List<String> waypointJvm = new ArrayList<>(dev.ambit.proxy.WaypointJvm.OPTIONS);
        waypointJvm.addAll(CONTAINER_JVM);
        List<String> cliJvm = new ArrayList<>(List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"));
        cliJvm.addAll(CONTAINER_JVM);
        return List.of(
                new Component("istiod-lite", "istiod-lite/target/istiod-lite.jar",
                        "Ambit's control plane: Istio config to delta xDS, and the mesh CA", USER, controlPlaneJvm,
                        List.of(IstioPorts.ISTIOD_XDS_PLAINTEXT, IstioPorts.ISTIOD_SECURE, IstioPorts.CONTROL_PLANE_MONITORING, IstioPorts.WEBHOOK), false),
                new Component("node-agent", "node-agent/target/node-agent.jar",
                        "Ambit's node agent: eBPF capture, HBONE mTLS tunnels, L4 policy", "0:0", agentJvm,
                        List.of(IstioPorts.HBONE, IstioPorts.MERGED_METRICS, IstioPorts.HEALTH), true),
                new Component("ambitctl", "ambitctl/target/ambitctl.jar",
                        "Ambit's command line", USER, cliJvm, List.of(), false),
                // The waypoint (and, with issue 16, the ingress gateway): the L7 engine. The
                // gateway chart's and istiod-lite's deployer's image slot "waypoint" points here.
                new Component("waypoint", "waypoint-proxy/target/waypoint-proxy.jar",
                        "Ambit's waypoint: HBONE in, L7 routing, retries, timeouts, faults, HBONE out", USER,
                        waypointJvm, List.of(IstioPorts.HBONE, IstioPorts.HEALTH, IstioPorts.PROMETHEUS), false));
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--") || i + 1 >= args.length) {
                usage("bad argument: " + a);
            }
            opts.put(a.substring(2), args[++i]);
        }
        Path repo = Path.of(opts.getOrDefault("repo", "."));
        Path stage = Path.of(require(opts, "stage"));
        String tag = require(opts, "tag");
        String push = opts.get("push");
        Path out = push == null ? Path.of(require(opts, "out")) : null;
        String repository = opts.getOrDefault("repository", "ambit");
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put("org.opencontainers.image.version", tag);
        labels.put("org.opencontainers.image.revision", opts.getOrDefault("revision", "unknown"));
        if (opts.containsKey("source")) {
            labels.put("org.opencontainers.image.source", opts.get("source"));
        }
        labels.put("org.opencontainers.image.licenses", "Apache-2.0");
        labels.put("org.opencontainers.image.vendor", "Ambit");
        labels.put("org.opencontainers.image.base.name", "scratch");
        if (out != null) {
            Files.createDirectories(out);
        }
        for (Component c : components()) {
            if (c.jar() == null) {
                System.out.println(c.name() + ": skipped, no module yet");
                continue;
            }
            JibContainerBuilder image = image(c, repo, stage, labels);
            String name = repository + "/" + c.name() + ":" + tag;
            Containerizer containerizer;
            String where;
            if (push == null) {
                Path tar = out.resolve(c.name() + ".tar");
                containerizer = Containerizer.to(TarImage.at(tar).named(name)).setOfflineMode(true);
                where = tar.toString();
            } else {
                name = push + "/" + c.name() + ":" + tag;
                ImageReference ref = ImageReference.parse(name);
                RegistryImage target = RegistryImage.named(ref)
                        .addCredentialRetriever(CredentialRetrieverFactory.forImage(ref, ImageBuild::log).dockerConfig());
                containerizer = Containerizer.to(target)
                        .setAllowInsecureRegistries(Boolean.parseBoolean(opts.getOrDefault("insecure", "false")));
                where = name;
            }
            containerizer.setToolName("ambit-images")
                    .setApplicationLayersCache(stage.resolve("jib-cache"))
                    .setBaseImageLayersCache(stage.resolve("jib-cache"))
                    .addEventHandler(LogEvent.class, ImageBuild::log);
            JibContainer built = image.containerize(containerizer);
            System.out.println(c.name() + ": " + where + " " + built.getDigest());
        }
    }

    static JibContainerBuilder image(Component c, Path repo, Path stage, Map<String, String> labels)
            throws IOException {
        Path jar = repo.resolve(c.jar());
        Path lib = jar.resolveSibling("lib");
        if (!Files.isRegularFile(jar) || !Files.isDirectory(lib)) {
            throw new IllegalStateException(c.name() + ": " + jar + " or its lib/ is missing: build first"
                    + " (mvn -B -q package -DskipTests, or make build)");
        }
        JibContainerBuilder b = Jib.fromScratch().setFormat(ImageFormat.OCI).setCreationTime(Instant.EPOCH);
        b.addFileEntriesLayer(tree("glibc", stage.resolve("glibc")));
        b.addFileEntriesLayer(tree("jre", stage.resolve("jre")));
        if (c.needsLibbpf()) {
            b.addFileEntriesLayer(tree("libbpf", stage.resolve("libbpf")));
        }
        FileEntriesLayer.Builder deps = FileEntriesLayer.builder().setName("dependencies");
        FileEntriesLayer.Builder app = FileEntriesLayer.builder().setName("application");
        try (Stream<Path> jars = Files.list(lib)) {
            for (Path j : jars.sorted().toList()) {
                // Ambit's own modules are the snapshots; they change with every build.
                String file = j.getFileName().toString();
                (file.contains("-SNAPSHOT") ? app : deps).addEntry(j, AbsoluteUnixPath.get("/app/lib/" + file),
                        READABLE, EPOCH_PLUS_ONE, "0:0");
            }
        }
        app.addEntry(jar, AbsoluteUnixPath.get("/app/" + c.name() + ".jar"), READABLE, EPOCH_PLUS_ONE, "0:0");
        b.addFileEntriesLayer(deps.build());
        b.addFileEntriesLayer(app.build());

        List<String> entrypoint = new ArrayList<>();
        entrypoint.add("/opt/java/bin/java");
        entrypoint.addAll(c.jvmOptions());
        entrypoint.add("-jar");
        entrypoint.add("/app/" + c.name() + ".jar");
        b.setEntrypoint(entrypoint)
                .setUser(c.user())
                .setWorkingDirectory(AbsoluteUnixPath.get("/app"))
                .addEnvironmentVariable("JAVA_HOME", "/opt/java")
                .addEnvironmentVariable("PATH", "/opt/java/bin")
                .addEnvironmentVariable("LANG", "C.UTF-8");
        for (int port : c.ports()) {
            b.addExposedPort(Port.tcp(port));
        }
        for (Map.Entry<String, String> l : labels.entrySet()) {
            b.addLabel(l.getKey(), l.getValue());
        }
        b.addLabel("org.opencontainers.image.title", "ambit-" + c.name());
        b.addLabel("org.opencontainers.image.description", c.description());
        return b;
    }

    /**
     * A staged root file system as one layer. Symbolic links are followed (jib stores files and
     * folders only; the stage holds the real libraries under their sonames), modes are
     * normalised: executables and folders 755, other files 644, {@code /tmp} 777.
     */
    static FileEntriesLayer tree(String name, Path root) throws IOException {
        requireNonNull(root, "root");
        if (!Files.isDirectory(root)) {
            throw new IllegalStateException(name + ": staged folder " + root + " is missing: run images/build.sh");
        }
        FileEntriesLayer.Builder layer = FileEntriesLayer.builder().setName(name);
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(root, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
            paths = walk.filter(p -> !p.equals(root)).sorted(Comparator.comparing(Path::toString)).toList();
        }
        for (Path p : paths) {
            String target = "/" + root.relativize(p).toString().replace('\\', '/');
            FilePermissions mode;
            if (target.equals("/tmp")) {
                mode = WORLD_WRITABLE;
            } else if (Files.isDirectory(p) || executable(p)) {
                mode = EXECUTABLE;
            } else {
                mode = READABLE;
            }
            layer.addEntry(p, AbsoluteUnixPath.get(target), mode, EPOCH_PLUS_ONE, "0:0");
        }
        return layer.build();
    }

    private static boolean executable(Path p) throws IOException {
        // Follows a link: the mode of what the image will hold.
        return Files.getPosixFilePermissions(p).contains(PosixFilePermission.OWNER_EXECUTE);
    }

    private static void log(LogEvent e) {
        if (e.getLevel() == LogEvent.Level.ERROR || e.getLevel() == LogEvent.Level.WARN) {
            System.err.println("jib: " + e.getMessage());
        }
    }

    private static String require(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null) {
            usage("--" + name + " is required");
        }
        return v;
    }

    private static void usage(String problem) {
        System.err.println("ImageBuild: " + problem);
        System.err.println("usage: ImageBuild --stage DIR --tag TAG (--out DIR | --push REGISTRY [--insecure true])"
                + " [--repo DIR] [--repository NAME] [--revision SHA] [--source URL]");
        System.exit(2);
    }
}
