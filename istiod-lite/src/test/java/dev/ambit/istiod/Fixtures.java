package dev.ambit.istiod;

import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The fixture folders under {@code src/test/resources/fixtures}, read as the folder source reads them. */
public final class Fixtures {

    private Fixtures() {}

    public static Path root() {
        try {
            return Path.of(Fixtures.class.getResource("/fixtures").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every fixture folder name, sorted. */
    public static List<String> names() {
        try (var dirs = Files.list(root())) {
            return dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The snapshot a folder source delivers for one fixture; fails on any rejected input. */
    public static ConfigSnapshot snapshot(String name) {
        FolderSource.Reading read;
        try {
            read = FolderSource.readOnce(root().resolve(name));
        } catch (ConfigException e) {
            throw new IllegalStateException(e);
        }
        if (!read.rejected().isEmpty()) {
            throw new IllegalStateException("fixture " + name + " has rejected input: " + read.rejected());
        }
        return read.snapshot();
    }
}
