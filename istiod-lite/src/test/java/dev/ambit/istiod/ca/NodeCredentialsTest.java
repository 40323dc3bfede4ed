package dev.ambit.istiod.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Metadata;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeCredentialsTest {

    @TempDir
    Path tmp;

    @Test
    void issuedTokensAuthenticateTheirNode() throws Exception {
        Path credentials = tmp.resolve("istiod/node-credentials");
        String tokenA = NodeCredentials.issue(credentials, "node-a", tmp.resolve("node-a/token"));
        String tokenB = NodeCredentials.issue(credentials, "node-b", tmp.resolve("node-b/token"));

        assertThat(Files.readString(tmp.resolve("node-a/token"))).isEqualTo(tokenA);
        assertThat(tokenA).hasSize(43).isNotEqualTo(tokenB); // 256 bits, base64url
        assertThat(mode(tmp.resolve("node-a/token"))).isEqualTo("rw-------");
        assertThat(mode(credentials)).isEqualTo("rw-------");
        List<String> lines = Files.readAllLines(credentials);
        assertThat(lines).hasSize(3);
        assertThat(lines.getFirst()).startsWith("#");
        assertThat(lines.get(1)).isEqualTo("node-a " + HexFormat.of().formatHex(NodeCredentials.sha256(tokenA)));
        assertThat(String.join("\n", lines)).doesNotContain(tokenA).doesNotContain(tokenB);

        NodeCredentials nodes = NodeCredentials.load(credentials);
        assertThat(nodes.nodes()).containsExactly("node-a", "node-b");
        assertThat(nodes.authenticate(bearer(tokenA))).isEqualTo(Authentication.node("node-a"));
        assertThat(nodes.authenticate(bearer(tokenB))).isEqualTo(Authentication.node("node-b"));
        assertThat(nodes.authenticate(header("bearer " + tokenA))).isEqualTo(Authentication.node("node-a"));
    }

    @Test
    void deniesUnknownMissingAndMalformedCredentials() {
        Path credentials = tmp.resolve("creds");
        String token = NodeCredentials.issue(credentials, "node-a", tmp.resolve("token"));
        NodeCredentials nodes = NodeCredentials.load(credentials);

        assertThat(nodes.authenticate(bearer(token + "x")))
                .isEqualTo(Authentication.denied("node token not recognised (expected: the token issued for this node)"));
        assertThat(nodes.authenticate(new Metadata()))
                .isEqualTo(Authentication.denied("no authorization header (expected: authorization: Bearer <token>)"));
        assertThat(nodes.authenticate(header("Basic " + token)))
                .isEqualTo(Authentication.denied("authorization header has scheme Basic (expected: Bearer <token>)"));
        assertThat(nodes.authenticate(header(token)))
                .isEqualTo(Authentication.denied("authorization header has no scheme (expected: Bearer <token>)"));
        Metadata twice = bearer(token);
        twice.put(CallerAuthenticator.AUTHORIZATION, "Bearer " + token);
        assertThat(nodes.authenticate(twice))
                .isEqualTo(Authentication.denied("several authorization headers (expected: one Bearer token)"));
    }

    @Test
    void nodesAddedLaterAreAcceptedAndABadEditKeepsTheLastGoodContent() throws Exception {
        Path credentials = tmp.resolve("creds");
        String tokenA = NodeCredentials.issue(credentials, "node-a", tmp.resolve("a"));
        NodeCredentials nodes = NodeCredentials.load(credentials);

        String tokenC = NodeCredentials.issue(credentials, "node-c", tmp.resolve("c"));
        assertThat(nodes.authenticate(bearer(tokenC))).isEqualTo(Authentication.node("node-c"));

        Files.writeString(credentials, "node-a not-a-hash\n");
        Files.setLastModifiedTime(credentials, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
        assertThat(nodes.authenticate(bearer(tokenA))).isEqualTo(Authentication.node("node-a"));
        assertThat(nodes.authenticate(bearer(tokenC))).isEqualTo(Authentication.node("node-c"));
    }

    @Test
    void malformedFilesAreReportedWithFileAndLine() throws Exception {
        Path credentials = tmp.resolve("creds");
        Files.writeString(credentials, "# comment\n\nnode-a " + "ab".repeat(32) + "\nNode_B " + "cd".repeat(32) + "\n");
        assertThatThrownBy(() -> NodeCredentials.load(credentials))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(credentials + ":4: node name Node_B (expected: a Kubernetes node name");

        Files.writeString(credentials, "node-a abc\n");
        assertThatThrownBy(() -> NodeCredentials.load(credentials))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(credentials + ":1: token hash of node-a is not 64 hex digits (expected: the SHA-256 of the token)");

        Files.writeString(credentials, "node-a\n");
        assertThatThrownBy(() -> NodeCredentials.load(credentials))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(credentials + ":1: 1 fields (expected: <node-name> <sha256 hex>)");

        assertThatThrownBy(() -> NodeCredentials.load(tmp.resolve("missing")))
                .isInstanceOf(UncheckedIOException.class)
                .hasMessageContaining("no such file");
        assertThatThrownBy(() -> NodeCredentials.issue(credentials, "Bad Node", tmp.resolve("t")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("node: Bad Node (expected: a Kubernetes node name");
    }

    @Test
    void appendingAfterAHandEditWithoutTrailingNewlineStartsANewLine() throws Exception {
        Path credentials = tmp.resolve("creds");
        Files.writeString(credentials, "node-x " + "ef".repeat(32)); // no newline at the end
        String token = NodeCredentials.issue(credentials, "node-y", tmp.resolve("y"));

        NodeCredentials nodes = NodeCredentials.load(credentials);
        assertThat(nodes.nodes()).containsExactly("node-x", "node-y");
        assertThat(nodes.authenticate(bearer(token))).isEqualTo(Authentication.node("node-y"));
    }

    private static Metadata bearer(String token) {
        return header("Bearer " + token);
    }

    private static Metadata header(String value) {
        Metadata headers = new Metadata();
        headers.put(CallerAuthenticator.AUTHORIZATION, value);
        return headers;
    }

    private static String mode(Path file) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(file));
    }
}
