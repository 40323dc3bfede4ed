package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The ingress scenarios' certificate: a throw-away CA and a server certificate for
 * {@value #HOST} (ECDSA P-256, made with the openssl command line as {@link PeerCerts}), the
 * same files for every ingress so all of them serve, and the client verifies, the same chain.
 */
record IngressCerts(Path ca, Path cert, Path key, Path pem) {

    /** The host users call, as in Istio's ingress tasks. */
    static final String HOST = "app.example.com";

    static IngressCerts create(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path caKey = dir.resolve("ca.key");
        Path ca = dir.resolve("ca.pem");
        PeerCerts.key(caKey);
        Host.run("openssl", "req", "-x509", "-new", "-key", caKey.toString(), "-sha256", "-days", "7",
                "-subj", "/O=ambit-perf/CN=ingress CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca.toString());
        Path[] leaf = PeerCerts.leaf(dir, "app", HOST, ca, caKey);
        return new IngressCerts(ca, leaf[0], leaf[1], leaf[2]);
    }

    /** Creates them once in {@code dir}, or returns the ones already there (the scenarios share them). */
    static synchronized IngressCerts shared(Path dir) throws IOException {
        Path ca = dir.resolve("ca.pem");
        if (Files.isRegularFile(ca) && Files.isRegularFile(dir.resolve("app.pem"))) {
            return new IngressCerts(ca, dir.resolve("app.crt"), dir.resolve("app.key"), dir.resolve("app.pem"));
        }
        return create(dir);
    }
}
