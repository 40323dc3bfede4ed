package dev.ambit.istiod.ingress;

import dev.ambit.common.config.TlsCipherSuites;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.l7.GatewayContext;
import io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettingsTLSProtocol;
import java.util.ArrayList;
import java.util.List;

/**
 * An Istio {@code Gateway} server's {@code tls} → {@link GatewayModel.Tls}, or null when the
 * gateway cannot serve it as written (reported naming the Gateway and the field; the server is
 * left out, the others keep serving). Modes: SIMPLE, MUTUAL and OPTIONAL_MUTUAL with
 * {@code credentialName} (read in the proxy's namespace); ISTIO_MUTUAL (the gateway's own mesh
 * certificate, clients verified against the mesh root); PASSTHROUGH (protocol TLS only).
 * AUTO_PASSTHROUGH (multi-network east-west, SNI-DNAT) is not implemented: reported, never
 * silently served as something else. TLS 1.0/1.1 are not offered: a minimum below 1.2 is raised
 * to 1.2 (reported), a maximum below 1.2 leaves the server out. Cipher suites Ambit's gateway
 * cannot offer ({@link TlsCipherSuites}) are dropped, reported; none left → the server is left out
 * rather than served with suites the user did not ask for. File-based certificates
 * ({@code serverCertificate}, {@code privateKey}, {@code caCertificates}), {@code credentialNames},
 * {@code caCertCredentialName} and {@code caCrl} are not read by Ambit's
 * gateway: reported, the server left out (a check it cannot make must not be skipped).
 * Client certificate pins ({@code verifyCertificateSpki}, {@code verifyCertificateHash}) travel as
 * Envoy's fields of the same names; a malformed pin leaves the server out.
 */
final class ServerTls {

    private ServerTls() {
    }

    static GatewayModel.Tls of(ServerTLSSettings t, GatewayModel.Protocol protocol, String proxyNs, ObjectRef ref,
                               String field, GatewayContext context) {
        String f = field + ".tls";
        String mode = t.getMode() == null ? "SIMPLE" : t.getMode().name();
        if (mode.equals("AUTO_PASSTHROUGH")) {
            context.field(ref, f + ".mode", "AUTO_PASSTHROUGH (multi-network east-west gateways) is not supported by "
                    + "Ambit's gateway (expected: SIMPLE, MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL or PASSTHROUGH); this "
                    + "server is left out");
            return null;
        }
        GatewayModel.TlsMode m;
        try {
            m = GatewayModel.TlsMode.valueOf(mode);
        } catch (IllegalArgumentException e) {
            context.field(ref, f + ".mode", "mode " + mode + " is not supported by Ambit's gateway (expected: SIMPLE, "
                    + "MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL or PASSTHROUGH); this server is left out");
            return null;
        }
        if (m == GatewayModel.TlsMode.PASSTHROUGH) {
            return protocol == GatewayModel.Protocol.TLS
                    ? new GatewayModel.Tls(m, null, List.of(), "", "") : null; // HTTPS + PASSTHROUGH: refused by validation
        }
        String unread = unread(t);
        if (unread != null) {
            context.field(ref, f + "." + unread, "not read by Ambit's gateway (expected: credentialName with a "
                    + "Secret, or ISTIO_MUTUAL); this server is left out");
            return null;
        }
        String min = version(t.getMinProtocolVersion());
        String max = version(t.getMaxProtocolVersion());
        if (max.equals("TLSV1_0") || max.equals("TLSV1_1")) {
            context.field(ref, f + ".maxProtocolVersion", max + " is not offered by Ambit's gateway (expected: TLSV1_2 "
                    + "or TLSV1_3); this server is left out");
            return null;
        }
        if (min.equals("TLSV1_0") || min.equals("TLSV1_1")) {
            context.field(ref, f + ".minProtocolVersion", min + " is not offered by Ambit's gateway: TLS 1.0 and 1.1 "
                    + "are disabled; the minimum is TLSV1_2");
            min = "TLSV1_2";
        }
        if (min.equals("TLSV1_3") && max.equals("TLSV1_2")) {
            context.field(ref, f + ".minProtocolVersion", "TLSV1_3 above maxProtocolVersion TLSV1_2 (expected: "
                    + "minimum <= maximum); this server is left out");
            return null;
        }
        List<String> ciphers = new ArrayList<>();
        for (String c : t.getCipherSuites() == null ? List.<String>of() : t.getCipherSuites()) {
            if (c == null || ciphers.contains(c)) {
                continue;
            }
            if (TlsCipherSuites.supported(c)) {
                ciphers.add(c);
            } else {
                context.field(ref, f + ".cipherSuites", "\"" + c + "\" is not offered by Ambit's gateway (expected "
                        + "some of " + TlsCipherSuites.names() + "); dropped");
            }
        }
        if (ciphers.isEmpty() && t.getCipherSuites() != null && !t.getCipherSuites().isEmpty()) {
            context.field(ref, f + ".cipherSuites", "no cipher suite Ambit's gateway can offer; this server is left "
                    + "out");
            return null;
        }
        if (!ciphers.isEmpty() && min.equals("TLSV1_3")) {
            context.field(ref, f + ".cipherSuites", "only TLS 1.2 suites are configurable and minProtocolVersion is "
                    + "TLSV1_3; ignored (TLS 1.3's suites apply)");
            ciphers.clear();
        }
        GatewayModel.SecretRef credential = m == GatewayModel.TlsMode.ISTIO_MUTUAL ? null
                : new GatewayModel.SecretRef(proxyNs, t.getCredentialName());
        List<String> sans = t.getSubjectAltNames() == null ? List.of() : t.getSubjectAltNames();
        if (!sans.isEmpty() && !m.verifiesClients()) {
            context.field(ref, f + ".subjectAltNames", "only checked when client certificates are (MUTUAL, "
                    + "OPTIONAL_MUTUAL, ISTIO_MUTUAL); ignored for " + m);
            sans = List.of();
        }
        List<String> spki = t.getVerifyCertificateSpki() == null ? List.of() : t.getVerifyCertificateSpki();
        List<String> hashes = t.getVerifyCertificateHash() == null ? List.of() : t.getVerifyCertificateHash();
        if ((!spki.isEmpty() || !hashes.isEmpty()) && !m.verifiesClients()) {
            context.field(ref, f + (spki.isEmpty() ? ".verifyCertificateHash" : ".verifyCertificateSpki"), "only "
                    + "checked when client certificates are (MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL); ignored for " + m);
            spki = List.of();
            hashes = List.of();
        }
        for (String pin : spki) {
            if (!validSpki(pin)) {
                context.field(ref, f + ".verifyCertificateSpki", "\"" + pin + "\" is not a base64 SHA-256 digest "
                        + "(expected: 44 characters decoding to 32 bytes); this server is left out");
                return null;
            }
        }
        for (String hash : hashes) {
            if (!validHash(hash)) {
                context.field(ref, f + ".verifyCertificateHash", "\"" + hash + "\" is not a hex SHA-256 digest "
                        + "(expected: 64 hex digits, colons allowed); this server is left out");
                return null;
            }
        }
        return new GatewayModel.Tls(m, credential, sans, min, max, ciphers, spki, hashes);
    }

    /** The first field set that Ambit's gateway does not read, or null. */
    private static String unread(ServerTLSSettings t) {
        if (notEmpty(t.getServerCertificate()) || notEmpty(t.getPrivateKey())) {
            return "serverCertificate";
        }
        if (notEmpty(t.getCaCertificates())) {
            return "caCertificates";
        }
        if (t.getCredentialNames() != null && !t.getCredentialNames().isEmpty()) {
            return "credentialNames";
        }
        if (notEmpty(t.getCaCertCredentialName())) {
            return "caCertCredentialName";
        }
        if (notEmpty(t.getCaCrl())) {
            return "caCrl";
        }
        if (t.getTlsCertificates() != null && !t.getTlsCertificates().isEmpty()) {
            return "tlsCertificates";
        }
        return null;
    }

    private static boolean validSpki(String pin) {
        try {
            return pin != null && java.util.Base64.getDecoder().decode(pin).length == 32;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static boolean validHash(String hash) {
        return hash != null && hash.replace(":", "").matches("[0-9a-fA-F]{64}");
    }

    private static boolean notEmpty(String s) {
        return s != null && !s.isEmpty();
    }

    private static String version(ServerTLSSettingsTLSProtocol v) {
        return v == null || v == ServerTLSSettingsTLSProtocol.TLS_AUTO ? "" : v.name();
    }
}
