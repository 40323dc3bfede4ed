package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The peers' certificates, from a throw-away CA made with the openssl command line: ECDSA
 * P-256 everywhere (as Ambit's workload certificates), a server certificate for
 * {@value #SERVER_NAME} and a client certificate for {@value #CLIENT_NAME}, both
 * {@code serverAuth, clientAuth}. Each proxy verifies its peer's chain to the CA, and the
 * clients also the server's name: the peers' equivalent of Ambit's SPIFFE identity check.
 */
record PeerCerts(Path ca, Path serverCert, Path serverKey, Path serverPem, Path clientCert, Path clientKey,
                 Path clientPem) {

    static final String SERVER_NAME = "server.bench.test";
    static final String CLIENT_NAME = "client.bench.test";
    /** The TLS 1.3 suites Ambit allows, in BoringSSL's order: every pair negotiates what Ambit does. */
    static final String SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

    static PeerCerts create(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path caKey = dir.resolve("ca.key");
        Path ca = dir.resolve("ca.pem");
        key(caKey);
        Host.run("openssl", "req", "-x509", "-new", "-key", caKey.toString(), "-sha256", "-days", "7",
                "-subj", "/O=ambit-perf/CN=bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca.toString());
        Path[] server = leaf(dir, "server", SERVER_NAME, ca, caKey);
        Path[] client = leaf(dir, "client", CLIENT_NAME, ca, caKey);
        return new PeerCerts(ca, server[0], server[1], server[2], client[0], client[1], client[2]);
    }

    static void key(Path file) {
        Host.run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                file.toString());
    }

    /** cert, key, and both in one file (HAProxy's {@code crt}). */
    static Path[] leaf(Path dir, String name, String dns, Path ca, Path caKey) throws IOException {
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path cert = dir.resolve(name + ".crt");
        Path ext = dir.resolve(name + ".ext");
        key(key);
        Host.run("openssl", "req", "-new", "-key", key.toString(), "-subj", "/O=ambit-perf/CN=" + dns, "-out",
                csr.toString());
        Files.writeString(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:" + dns + "\n");
        Host.run("openssl", "x509", "-req", "-in", csr.toString(), "-CA", ca.toString(), "-CAkey", caKey.toString(),
                "-CAcreateserial", "-days", "7", "-sha256", "-extfile", ext.toString(), "-out", cert.toString());
        Path pem = dir.resolve(name + ".pem");
        Files.writeString(pem, Files.readString(cert) + Files.readString(key));
        return new Path[] {cert, key, pem};
    }
}
