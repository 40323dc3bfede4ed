package dev.ambit.istiod.ingress;

import com.google.protobuf.ByteString;
import dev.ambit.common.pem.Pem;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.TlsSecrets;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;

/**
 * Kubernetes Secrets → Envoy {@code Secret}s, checked first: the certificate chain and the
 * private key must parse (mesh-common's {@link Pem}) and the key must sign what the leaf
 * certificate's public key verifies. A {@code -cacert} Secret comes from {@code ca.crt} of the
 * same Secret or, as Istio reads it, of a separate Secret {@code <name>-cacert}. Problems name
 * the Secret and the field, never a byte of its content.
 */
final class GatewaySecrets {

    /** Either the Envoy Secret, or why not (naming Secret and field). */
    record Result(Secret secret, String problem) {
        static Result failed(String problem) {
            return new Result(null, problem);
        }
    }


    private GatewaySecrets() {
    }

    /** The certificate and key of {@code ref}, served as {@code sdsName}. */
    static Result certificate(ConfigSnapshot config, GatewayModel.SecretRef ref, String sdsName) {
        String what = "Secret " + ref.namespace() + "/" + ref.name();
        Optional<io.fabric8.kubernetes.api.model.Secret> found = config.get(Kind.SECRET, ref.namespace(), ref.name(),
                io.fabric8.kubernetes.api.model.Secret.class);
        if (found.isEmpty()) {
            return Result.failed(what + " does not exist or holds no TLS keys (expected: type kubernetes.io/tls, "
                    + "or tls.crt and tls.key)");
        }
        try {
            byte[] crt = required(found.get(), TlsSecrets.CERT, what);
            byte[] key = required(found.get(), TlsSecrets.KEY, what);
            List<X509Certificate> chain = Pem.certificates(what + ": field data." + TlsSecrets.CERT,
                    new String(crt, StandardCharsets.US_ASCII));
            PrivateKey privateKey = Pem.privateKey(what + ": field data." + TlsSecrets.KEY,
                    new String(key, StandardCharsets.US_ASCII));
            if (!matches(privateKey, chain.getFirst())) {
                return Result.failed(what + ": field data." + TlsSecrets.KEY + ": the private key does not match the "
                        + "certificate in data." + TlsSecrets.CERT + " (expected: the key of its first certificate)");
            }
            return new Result(Secret.newBuilder().setName(sdsName).setTlsCertificate(TlsCertificate.newBuilder()
                    .setCertificateChain(DataSource.newBuilder().setInlineBytes(ByteString.copyFrom(crt)))
                    .setPrivateKey(DataSource.newBuilder().setInlineBytes(ByteString.copyFrom(key))))
                    .build(), null);
        } catch (IllegalArgumentException e) {
            return Result.failed(message(e));
        }
    }

    /** The CA certificates client certificates are verified against, served as {@code sdsName}. */
    static Result caCertificates(ConfigSnapshot config, GatewayModel.SecretRef ref, String sdsName) {
        String what = "Secret " + ref.namespace() + "/" + ref.name();
        var own = config.get(Kind.SECRET, ref.namespace(), ref.name(), io.fabric8.kubernetes.api.model.Secret.class);
        var separate = config.get(Kind.SECRET, ref.namespace(), ref.name() + "-cacert",
                io.fabric8.kubernetes.api.model.Secret.class);
        try {
            byte[] ca = null;
            String origin = what + ": field data." + TlsSecrets.CA;
            if (own.isPresent()) {
                ca = TlsSecrets.value(own.get(), TlsSecrets.CA).orElse(null);
            }
            if (ca == null && separate.isPresent()) {
                origin = "Secret " + ref.namespace() + "/" + ref.name() + "-cacert: field data." + TlsSecrets.CA;
                ca = TlsSecrets.value(separate.get(), TlsSecrets.CA)
                        .or(() -> TlsSecrets.value(separate.get(), "cacert")).orElse(null);
            }
            if (ca == null) {
                return Result.failed(what + ": field data." + TlsSecrets.CA + ": missing, and no Secret " + ref.name()
                        + "-cacert holds one (expected: the CA certificates MUTUAL TLS verifies clients with)");
            }
            Pem.certificates(origin, new String(ca, StandardCharsets.US_ASCII));
            return trustedCa(sdsName, ByteString.copyFrom(ca));
        } catch (IllegalArgumentException e) {
            return Result.failed(message(e));
        }
    }

    /** The CA certificates ({@code ca.crt}) of a ConfigMap or Secret {@code ref}, served as {@code sdsName}. */
    static Result caCertificates(ConfigSnapshot config, GatewayModel.CaRef ref, String sdsName) {
        if (!ref.configMap()) {
            return caCertificates(config, new GatewayModel.SecretRef(ref.namespace(), ref.name()), sdsName);
        }
        String what = ref.describe();
        var found = config.get(Kind.CONFIG_MAP, ref.namespace(), ref.name(),
                io.fabric8.kubernetes.api.model.ConfigMap.class);
        String pem = found.map(c -> c.getData() == null ? null : c.getData().get(TlsSecrets.CA)).orElse(null);
        if (pem == null) {
            return Result.failed(what + (found.isEmpty() ? " does not exist" : ": field data." + TlsSecrets.CA
                    + ": missing") + " (expected: the PEM CA certificates client certificates are verified against, "
                    + "in data." + TlsSecrets.CA + ")");
        }
        try {
            Pem.certificates(what + ": field data." + TlsSecrets.CA, pem);
        } catch (IllegalArgumentException e) {
            return Result.failed(message(e));
        }
        return trustedCa(sdsName, ByteString.copyFromUtf8(pem));
    }

    /** The Envoy Secret {@code sdsName}: a validation context trusting the PEM certificates {@code ca}. */
    private static Result trustedCa(String sdsName, ByteString ca) {
        return new Result(Secret.newBuilder().setName(sdsName).setValidationContext(CertificateValidationContext
                .newBuilder().setTrustedCa(DataSource.newBuilder().setInlineBytes(ca))).build(), null);
    }

    private static byte[] required(io.fabric8.kubernetes.api.model.Secret secret, String key, String what) {
        try {
            return TlsSecrets.value(secret, key).orElseThrow(() -> new IllegalArgumentException(what + ": field data."
                    + key + ": missing (expected: a PEM " + (key.equals(TlsSecrets.KEY) ? "private key" : "certificate")
                    + ")"));
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(what) ? e : new IllegalArgumentException(what + ": field " + e.getMessage());
        }
    }

    /** Whether {@code key} is the private key of {@code cert} (a key type the check cannot sign with is not). */
    static boolean matches(PrivateKey key, X509Certificate cert) {
        return dev.ambit.common.pem.KeyPairs.check(key, cert) == dev.ambit.common.pem.KeyPairs.Match.MATCHES;
    }

    private static String message(IllegalArgumentException e) {
        return String.valueOf(e.getMessage());
    }
}
