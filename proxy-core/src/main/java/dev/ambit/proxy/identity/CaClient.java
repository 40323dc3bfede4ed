package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.api.ca.IstioCertificateRequest;
import dev.ambit.api.ca.IstioCertificateResponse;
import dev.ambit.api.ca.IstioCertificateServiceGrpc;
import dev.ambit.common.config.Checks;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.pem.Pem;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Asks the mesh CA ({@code istio.v1.auth.IstioCertificateService/CreateCertificate}) for
 * workload certificates on behalf of the pods of this node.
 *
 * <p>Each request carries a fresh EC P-256 key's PKCS#10 CSR whose only name is the
 * identity's URI SAN, {@code ImpersonatedIdentity} = that URI in the request metadata, and
 * the node's credential as {@code authorization: Bearer <token>}. The token file is re-read
 * whenever it changes (rotation needs no restart). The answer is accepted only if the leaf
 * names exactly the requested identity and the chain verifies to the trust bundle: the one
 * given, or else the root of the first answer (safe only because the channel to the CA is
 * itself authenticated).
 *
 * <p>The channel, and its TLS to port 15012, belong to the caller; a {@link ManagedChannel}
 * in {@code TRANSIENT_FAILURE} has its reconnect backoff cut short before a request, so a
 * retry after the CA's return connects at once. Thread-safe.
 */
public final class CaClient implements CertificateIssuer {

    static final String IMPERSONATED_IDENTITY = "ImpersonatedIdentity";
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final Channel channel;
    private final Path tokenFile;
    private final Duration validity;
    private final Duration deadline;
    private final Clock clock;
    private volatile TrustBundle trustBundle;
    private volatile Token token;

    /** The token as last read, with the file's stamp, so unchanged files are not re-read. */
    private record Token(Object stamp, String value) {}

    private CaClient(Builder b) {
        this.channel = b.channel;
        this.tokenFile = b.tokenFile;
        this.validity = b.validity;
        this.deadline = b.deadline;
        this.clock = b.clock;
        this.trustBundle = b.trustBundle;
    }

    public static Builder builder(Channel channel, Path tokenFile) {
        return new Builder(channel, tokenFile);
    }

    /** The bundle answers are verified against: the configured one or the one learned; {@code null} before. */
    public TrustBundle trustBundle() {
        return trustBundle;
    }

    /**
     * Requests a certificate for {@code identity}. Never throws: every failure completes the
     * future with a {@link CaException}.
     */
    @Override
    public CompletableFuture<WorkloadCertificate> issue(SpiffeId identity) {
        requireNonNull(identity, "identity");
        CompletableFuture<WorkloadCertificate> result = new CompletableFuture<>();
        KeyPair keys;
        IstioCertificateRequest request;
        Metadata headers;
        try {
            headers = new Metadata();
            headers.put(AUTHORIZATION, "Bearer " + readToken(identity));
            keys = newKeyPair();
            IstioCertificateRequest.Builder r = IstioCertificateRequest.newBuilder()
                    .setCsr(csr(keys, identity))
                    .setMetadata(Struct.newBuilder().putFields(IMPERSONATED_IDENTITY,
                            Value.newBuilder().setStringValue(identity.uri()).build()));
            if (validity != null) {
                r.setValidityDuration(validity.toSeconds());
            }
            request = r.build();
        } catch (CaException e) {
            result.completeExceptionally(e);
            return result;
        }
        if (channel instanceof ManagedChannel managed
                && managed.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            // gRPC's own reconnect backoff grows to two minutes and fails calls at once
            // meanwhile; the caller's retry (CertificateManager's backoff) decides when to try.
            managed.resetConnectBackoff();
        }
        // The headers go on this call only: a shared interceptor would have to guess which token is current.
        Channel withHeaders = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
        var call = withHeaders.newCall(IstioCertificateServiceGrpc.getCreateCertificateMethod(),
                CallOptions.DEFAULT.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS));
        ClientCalls.asyncUnaryCall(call, request, new StreamObserver<>() {
            private IstioCertificateResponse response;

            @Override
            public void onNext(IstioCertificateResponse value) {
                response = value;
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(fromStatus(identity, Status.fromThrowable(t), t));
            }

            @Override
            public void onCompleted() {
                try {
                    result.complete(accept(identity, keys, response));
                } catch (CaException e) {
                    result.completeExceptionally(e);
                }
            }
        });
        return result;
    }

    private static CaException fromStatus(SpiffeId identity, Status status, Throwable cause) {
        CaException.Kind kind = switch (status.getCode()) {
            case PERMISSION_DENIED, UNAUTHENTICATED -> CaException.Kind.DENIED;
            case INVALID_ARGUMENT -> CaException.Kind.INVALID_REQUEST;
            default -> CaException.Kind.UNAVAILABLE;
        };
        String description = status.getDescription() != null ? ": " + status.getDescription() : "";
        return new CaException(kind, identity, "CA did not issue a certificate for " + identity + ": "
                + status.getCode() + description, cause instanceof StatusRuntimeException ? cause : null);
    }

    private WorkloadCertificate accept(SpiffeId identity, KeyPair keys, IstioCertificateResponse response) {
        if (response == null || response.getCertChainCount() == 0) {
            throw bad(identity, "the CA answered with an empty chain (expected: leaf first, root last)", null);
        }
        List<X509Certificate> chain = new ArrayList<>();
        try {
            for (String pem : response.getCertChainList()) {
                chain.addAll(Pem.certificates("PEM", pem));
            }
        } catch (IllegalArgumentException e) {
            throw bad(identity, "the CA's chain does not parse: " + e.getMessage(), e);
        }
        X509Certificate leaf = chain.getFirst();
        SpiffeId named;
        try {
            named = Certificates.spiffeId(leaf);
        } catch (CertificateException e) {
            throw bad(identity, "the CA's leaf: " + e.getMessage(), e);
        }
        if (!named.equals(identity)) {
            throw bad(identity, "the CA's leaf names " + named + " (expected: " + identity + ")", null);
        }
        if (!leaf.getPublicKey().equals(keys.getPublic())) {
            throw bad(identity, "the CA's leaf is not for the key of our CSR", null);
        }
        TrustBundle bundle = trustBundle;
        if (bundle == null) {
            X509Certificate root = chain.getLast();
            bundle = TrustBundle.of(identity.trustDomain(), List.of(root));
        }
        Instant now = clock.instant();
        try {
            bundle.verify(chain, now);
        } catch (CertificateException e) {
            throw bad(identity, e.getMessage(), e);
        }
        if (trustBundle == null) {
            // Learned once: later answers must chain to the same root, so a swapped CA is noticed.
            trustBundle = bundle;
        }
        return new WorkloadCertificate(identity, keys.getPrivate(), chain, now);
    }

    private static CaException bad(SpiffeId identity, String message, Throwable cause) {
        return new CaException(CaException.Kind.BAD_RESPONSE, identity,
                "unusable certificate for " + identity + ": " + message, cause);
    }

    private String readToken(SpiffeId identity) {
        try {
            BasicFileAttributes a = Files.readAttributes(tokenFile, BasicFileAttributes.class);
            Object stamp = List.of(a.lastModifiedTime(), a.size(), String.valueOf(a.fileKey()));
            Token t = token;
            if (t != null && t.stamp().equals(stamp)) {
                return t.value();
            }
            String value = Files.readString(tokenFile, StandardCharsets.US_ASCII).strip();
            if (value.isEmpty() || value.chars().anyMatch(c -> c <= ' ' || c > '~')) {
                throw new CaException(CaException.Kind.CREDENTIAL, identity, "node token " + tokenFile
                        + " is empty or has whitespace/non-ASCII inside (expected: one token)", null);
            }
            token = new Token(stamp, value);
            return value;
        } catch (IOException e) {
            throw new CaException(CaException.Kind.CREDENTIAL, identity, "node token " + tokenFile
                    + " cannot be read: " + e, e);
        }
    }

    private static KeyPair newKeyPair() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            // P-256 is mandatory in every JDK; without it nothing here can work.
            throw new IllegalStateException("EC P-256 key generation unavailable", e);
        }
    }

    /** PEM PKCS#10, empty subject, exactly one (critical) URI SAN: what the CA accepts and all it keeps. */
    static String csr(KeyPair keys, SpiffeId identity) {
        try {
            return CertificationRequest.pem(keys, identity);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign a CSR for " + identity + " with SHA256withECDSA", e);
        }
    }

    /** Configures a {@link CaClient}. */
    public static final class Builder {
        private final Channel channel;
        private final Path tokenFile;
        private TrustBundle trustBundle;
        private Duration validity;
        private Duration deadline = Duration.ofSeconds(10);
        private Clock clock = Clock.systemUTC();

        private Builder(Channel channel, Path tokenFile) {
            this.channel = requireNonNull(channel, "channel");
            this.tokenFile = requireNonNull(tokenFile, "tokenFile");
        }

        /** The roots answers must chain to. Without it, the first answer's root is learned. */
        public Builder trustBundle(TrustBundle trustBundle) {
            this.trustBundle = requireNonNull(trustBundle, "trustBundle");
            return this;
        }

        /** The lifetime to ask for ({@code validity_duration}); the CA may shorten it. Default: the CA's. */
        public Builder validity(Duration validity) {
            requireNonNull(validity, "validity");
            if (validity.toSeconds() <= 0) {
                throw new IllegalArgumentException("validity: " + validity + " (expected: at least 1 second)");
            }
            this.validity = validity;
            return this;
        }

        /** How long one CreateCertificate call may take; 10 seconds by default. */
        public Builder deadline(Duration deadline) {
            Checks.positive(deadline, "deadline");
            this.deadline = deadline;
            return this;
        }

        /** The time source for validation (tests). */
        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        public CaClient build() {
            return new CaClient(this);
        }
    }
}
