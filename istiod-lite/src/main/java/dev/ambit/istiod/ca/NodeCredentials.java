package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

import io.grpc.Metadata;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Node agent credentials for local mode ({@code ambitctl local}), where there is no API
 * server to review tokens: each node gets a random token when the cluster is created.
 *
 * <h2>File format</h2>
 * istiod-lite reads one file of lines {@code <node-name> <sha256 hex of the token>};
 * blank lines and lines starting with {@code #} are ignored. Only hashes are stored, so
 * the file does not let its reader act as a node. A node may have several lines (rotation:
 * {@link #issue} a new token, restart the agent, delete the old line). Each node agent
 * reads its own token from a file that only it can read, written by {@link #issue}: the
 * token alone, base64url, no newline.
 *
 * <p>The file is re-read when its size or modification time changes, so nodes added to a
 * running cluster are accepted without restarting istiod-lite. A change that does not parse
 * is logged and the last good content stays in force.
 */
public final class NodeCredentials implements CallerAuthenticator {

    private static final Logger logger = LoggerFactory.getLogger(NodeCredentials.class);
    private static final String HEADER = "# Ambit node credentials: <node-name> <sha256 hex of the node's token>";
    // Kubernetes node names are DNS-1123 subdomains.
    private static final Pattern NODE_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-fA-F]{64}");
    private static final int TOKEN_BYTES = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private record Entry(String node, byte[] hash) {}

    /** What the file held when last read successfully, and the stamp of the last attempt. */
    private record Snapshot(List<Entry> entries, Object stamp) {}

    private final Path file;
    private volatile Snapshot snapshot;

    private NodeCredentials(Path file, Snapshot snapshot) {
        this.file = file;
        this.snapshot = snapshot;
    }

    /**
     * Reads the credentials file.
     *
     * @throws IllegalArgumentException naming the file and line that does not parse
     * @throws UncheckedIOException when the file cannot be read
     */
    public static NodeCredentials load(Path file) {
        requireNonNull(file, "file");
        try {
            Object stamp = stamp(file);
            return new NodeCredentials(file, new Snapshot(parse(file), stamp));
        } catch (NoSuchFileException e) {
            throw new UncheckedIOException("node credentials " + file + ": no such file (expected: written with"
                    + " the cluster, see NodeCredentials.issue)", e);
        } catch (IOException e) {
            throw new UncheckedIOException("node credentials " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Creates a credential for {@code node}: a random 256-bit token, whose hash is appended to
     * {@code credentialsFile} (created 0600 if needed) and which is written alone to
     * {@code tokenFile} (0600, replaced atomically) for the node agent to read.
     *
     * @return the token
     * @throws IllegalArgumentException when {@code node} is not a Kubernetes node name
     * @throws UncheckedIOException when a file cannot be written
     */
    public static String issue(Path credentialsFile, String node, Path tokenFile) {
        requireNonNull(credentialsFile, "credentialsFile");
        requireNonNull(node, "node");
        requireNonNull(tokenFile, "tokenFile");
        checkNodeName(node);
        byte[] random = new byte[TOKEN_BYTES];
        RANDOM.nextBytes(random);
        String token = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
        try {
            Path tokenDir = tokenFile.toAbsolutePath().getParent();
            PrivateFiles.createDirectories(tokenDir);
            // Token before hash: a hash line is never there without a token anyone could hold.
            PrivateFiles.writeAtomically(tokenFile, token);
            Path credentialsDir = credentialsFile.toAbsolutePath().getParent();
            PrivateFiles.createDirectories(credentialsDir);
            PrivateFiles.appendLine(credentialsFile, HEADER, node + ' ' + HexFormat.of().formatHex(sha256(token)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot issue a credential for node " + node + " (" + credentialsFile
                    + ", " + tokenFile + "): " + e.getMessage(), e);
        }
        return token;
    }

    /** The file this reads. */
    public Path file() {
        return file;
    }

    /** The nodes that currently have at least one credential. */
    public Set<String> nodes() {
        Set<String> nodes = new LinkedHashSet<>();
        for (Entry e : current().entries()) {
            nodes.add(e.node());
        }
        return nodes;
    }

    @Override
    public Authentication authenticate(Metadata headers) {
        requireNonNull(headers, "headers");
        BearerToken bearer = CallerAuthenticator.bearerToken(headers);
        if (!bearer.present()) {
            return Authentication.denied(bearer.problem());
        }
        byte[] presented = sha256(bearer.token());
        String node = null;
        // Every entry is compared, in constant time, so timing says nothing about which matched.
        for (Entry e : current().entries()) {
            if (MessageDigest.isEqual(e.hash(), presented) && node == null) {
                node = e.node();
            }
        }
        return node != null ? Authentication.node(node)
                : Authentication.denied("node token not recognised (expected: the token issued for this node)");
    }

    private Snapshot current() {
        Snapshot s = snapshot;
        Object stamp;
        try {
            stamp = stamp(file);
        } catch (IOException e) {
            stamp = e.getClass().getName();
        }
        if (stamp.equals(s.stamp())) {
            return s;
        }
        synchronized (this) {
            s = snapshot;
            if (stamp.equals(s.stamp())) {
                return s;
            }
            try {
                List<Entry> entries = parse(file);
                snapshot = s = new Snapshot(entries, stamp);
                logger.info("CA: reloaded node credentials from {} ({} entries)", file, entries.size());
            } catch (IOException | IllegalArgumentException e) {
                // Remember the stamp so one bad edit is logged once, not on every request.
                snapshot = s = new Snapshot(s.entries(), stamp);
                logger.warn("CA: keeping the previous node credentials, {} cannot be used: {}", file, e.getMessage());
            }
            return s;
        }
    }

    private static Object stamp(Path file) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
        return List.of(attributes.lastModifiedTime(), attributes.size(), String.valueOf(attributes.fileKey()));
    }

    private static List<Entry> parse(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        List<Entry> entries = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] fields = line.split("\\s+");
            String at = file + ":" + (i + 1) + ": ";
            if (fields.length != 2) {
                throw new IllegalArgumentException(at + fields.length + " fields (expected: <node-name> <sha256 hex>)");
            }
            if (!NODE_NAME.matcher(fields[0]).matches()) {
                throw new IllegalArgumentException(at + "node name " + fields[0]
                        + " (expected: a Kubernetes node name, lower-case letters, digits, '-', '.')");
            }
            if (!SHA256_HEX.matcher(fields[1]).matches()) {
                throw new IllegalArgumentException(at + "token hash of " + fields[0]
                        + " is not 64 hex digits (expected: the SHA-256 of the token)");
            }
            entries.add(new Entry(fields[0], HexFormat.of().parseHex(fields[1])));
        }
        return List.copyOf(entries);
    }

    private static void checkNodeName(String node) {
        if (!NODE_NAME.matcher(node).matches()) {
            throw new IllegalArgumentException("node: " + node
                    + " (expected: a Kubernetes node name, lower-case letters, digits, '-', '.')");
        }
    }

    static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is unavailable", e);
        }
    }
}
