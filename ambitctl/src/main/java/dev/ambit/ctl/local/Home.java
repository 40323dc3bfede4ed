package dev.ambit.ctl.local;

import java.io.File;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The Ambit build ambitctl runs the daemons from: the repository holding
 * {@code istiod-lite/target/istiod-lite.jar} and {@code node-agent/target/node-agent.jar},
 * found from ambitctl's own location ({@code <repo>/ambitctl/target/ambitctl.jar}, or
 * {@code <repo>/ambitctl/target/classes} in tests) unless {@code --home} says.
 */
public record Home(Path root) {

    /** {@code explicit} if given, else the repository ambitctl was built in. */
    public static Home detect(Path explicit) {
        if (explicit != null) {
            return new Home(explicit.toAbsolutePath().normalize());
        }
        Path self;
        try {
            self = Path.of(Home.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException | RuntimeException e) {
            throw new LocalException("cannot tell where ambitctl runs from (" + e.getMessage() + "): pass --home REPO");
        }
        // .../ambitctl/target/ambitctl.jar or .../ambitctl/target/classes: the repository is 3 levels up.
        Path repo = self.toAbsolutePath().getParent().getParent().getParent();
        return new Home(repo);
    }

    public Path istiodJar() {
        return jar("istiod-lite");
    }

    public Path agentJar() {
        return jar("node-agent");
    }

    private Path jar(String module) {
        Path jar = root.resolve(module).resolve("target").resolve(module + ".jar");
        if (!Files.isRegularFile(jar)) {
            throw new LocalException(module + " is not built: " + jar + " does not exist (run `make build`, or"
                    + " `mvn -pl istiod-lite,node-agent package -DskipTests` in " + root
                    + "; or pass --home with the repository that has it)");
        }
        return jar;
    }

    /** This JVM's class path, absolute: how the controller runs the same ambitctl. */
    public static String ownClassPath() {
        List<String> out = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!entry.isEmpty()) {
                out.add(Path.of(entry).toAbsolutePath().toString());
            }
        }
        return String.join(File.pathSeparator, out);
    }
}
