package dev.ambit.istiod.ca;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/** Files only their owner may read: keys, tokens, token hashes. */
final class PrivateFiles {

    static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY_FILE =
            PosixFilePermissions.asFileAttribute(OWNER_ONLY);
    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY_DIRECTORY =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));

    private PrivateFiles() {}

    /** Creates the directory (owner only) unless it exists; an existing one keeps its mode. */
    static void createDirectories(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, OWNER_ONLY_DIRECTORY);
        }
    }

    /**
     * Replaces {@code target} with {@code text}, mode 0600. Readers see the old or the new
     * content, never a partial file: the text goes to a temporary file created 0600 (so it is
     * never readable by others, not even briefly), is synced, then renamed over the target.
     */
    static void writeAtomically(Path target, String text) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp", OWNER_ONLY_FILE);
        try {
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                writeFully(channel, text);
                channel.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Appends one line to {@code file}, creating it 0600 with {@code header} as its first line.
     * Holds an exclusive lock, so concurrent writers (several nodes created at once) never
     * interleave, and starts a new line if the file does not end with one (a hand edit).
     */
    static void appendLine(Path file, String header, String line) throws IOException {
        try (FileChannel channel = FileChannel.open(file, Set.of(StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.READ), OWNER_ONLY_FILE)) {
            // Released when the channel closes.
            channel.lock();
            long size = channel.size();
            StringBuilder text = new StringBuilder();
            if (size == 0) {
                text.append(header).append('\n');
            } else {
                ByteBuffer last = ByteBuffer.allocate(1);
                channel.read(last, size - 1);
                if (last.get(0) != '\n') {
                    text.append('\n');
                }
            }
            text.append(line).append('\n');
            channel.position(size);
            writeFully(channel, text.toString());
            channel.force(true);
        }
    }

    private static void writeFully(FileChannel channel, String text) throws IOException {
        ByteBuffer bytes = StandardCharsets.UTF_8.encode(text);
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
    }
}
