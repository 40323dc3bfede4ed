package dev.ambit.cni;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The compiled plugin binary {@value #TYPE} (built from {@code src/main/c/ambit-cni.c} by
 * {@code build.sh}), carried in this jar under {@value #RESOURCE}.
 */
public final class CniPlugin {

    /** The plugin's file name, and its {@code type} in a network configuration. */
    public static final String TYPE = "ambit-cni";
    static final String RESOURCE = "/dev/ambit/cni/" + TYPE;

    private CniPlugin() {}

    /**
     * Writes the binary to {@code dir/ambit-cni}, mode 0755, atomically: a runtime running the
     * plugin at that moment runs either the old or the new file, never a partial one.
     *
     * @return the written file
     * @throws UncheckedIOException naming the folder when it cannot be written
     */
    public static Path install(Path dir) {
        requireNonNull(dir, "dir");
        Path target = dir.resolve(TYPE);
        try (InputStream in = CniPlugin.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the plugin binary " + RESOURCE + " is not in this jar (expected: built"
                        + " by cni-plugin/build.sh; gcc must be installed: make deps)");
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "." + TYPE, ".tmp");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("CNI bin folder " + dir + ": cannot install " + TYPE + ": " + e.getMessage()
                    + " (is the host's CNI bin folder mounted writable?)", e);
        }
    }
}
