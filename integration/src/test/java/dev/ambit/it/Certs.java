package dev.ambit.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

/**
 * Throw-away certificates for the ingress tests, made with the machine's openssl (ECDSA
 * P-256, 1 day), as a user makes them for Istio's secure-ingress task: a CA, then server or
 * client certificates it signs. Files only; the tests put them in Secrets and curl options.
 */
final class Certs {

    /** A certificate and its key, in PEM files. */
    record Pair(Path cert, Path key) {

        String certPem() {
            return LocalMesh.read(cert);
        }

        String keyPem() {
            return LocalMesh.read(key);
        }
    }

    private final Path dir;

    private Certs(Path dir) {
        this.dir = dir;
    }

    static Certs in(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Certs(dir);
    }

    Path dir() {
        return dir;
    }

    /** A self-signed CA named {@code name}. */
    Pair ca(String name) {
        Pair p = new Pair(dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
        key(p.key());
        openssl("req", "-x509", "-new", "-key", p.key().toString(), "-sha256", "-days", "1",
                "-subj", "/O=ambit-it/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", p.cert().toString());
        return p;
    }

    /** A server certificate for {@code dnsNames} (the first is the subject's CN), signed by {@code ca}. */
    Pair server(String name, Pair ca, String... dnsNames) {
        return leaf(name, ca, "serverAuth", dnsNames);
    }

    /** A client certificate with CN {@code cn}, signed by {@code ca}. */
    Pair client(String name, Pair ca, String cn) {
        return leaf(name, ca, "clientAuth", cn);
    }

    private Pair leaf(String name, Pair ca, String usage, String... dnsNames) {
        Pair p = new Pair(dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
        Path csr = dir.resolve(name + ".csr");
        Path ext = dir.resolve(name + ".ext");
        key(p.key());
        openssl("req", "-new", "-key", p.key().toString(), "-subj", "/O=ambit-it/CN=" + dnsNames[0], "-out",
                csr.toString());
        StringBuilder san = new StringBuilder();
        for (String d : dnsNames) {
            san.append(san.isEmpty() ? "" : ",").append("DNS:").append(d);
        }
        write(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=" + usage
                + "\nsubjectAltName=" + san + "\n");
        // A random serial each time: the rotation test tells the certificates apart by it.
        openssl("x509", "-req", "-in", csr.toString(), "-CA", ca.cert().toString(), "-CAkey", ca.key().toString(),
                "-set_serial", "0x" + Long.toHexString(System.nanoTime() & Long.MAX_VALUE), "-days", "1", "-sha256",
                "-extfile", ext.toString(), "-out", p.cert().toString());
        return p;
    }

    /** The certificate's serial as openssl prints it ({@code serial=0123AB...}, upper-case hex). */
    static String serial(Path cert) {
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(10), "openssl", "x509", "-noout", "-serial", "-in",
                cert.toString());
        if (!r.ok()) {
            throw new AssertionError("openssl x509 -serial " + cert + ": " + r);
        }
        return r.out().strip();
    }

    /** Base64 of a file's bytes: a Secret's {@code data} value. */
    static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private void key(Path file) {
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file.toString());
    }

    private static void openssl(String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(20), cmd.toArray(String[]::new));
        if (!r.ok()) {
            throw new AssertionError("openssl " + String.join(" ", args) + ": " + r);
        }
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
