package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Value;
import dev.ambit.api.ca.IstioCertificateRequest;
import dev.ambit.api.ca.IstioCertificateResponse;
import dev.ambit.api.ca.IstioCertificateServiceGrpc;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Histogram;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.common.pem.Pem;
import dev.ambit.istiod.model.MeshResources;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.net.SocketAddress;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code istio.v1.auth.IstioCertificateService}: node agents ask for certificates of the
 * workloads on their node.
 *
 * <p>A request is granted when, in this order: the caller authenticates as a node agent
 * ({@link CallerAuthenticator}) or as a workload speaking for itself; the CSR parses, verifies and has an EC P-256 key; it names
 * exactly one URI SAN, a SPIFFE ID in the CA's trust domain; if the request metadata has
 * {@value #IMPERSONATED_IDENTITY} (how a node agent says which workload it acts for), the
 * SAN equals it; and a pod with that identity is scheduled on the caller's node according
 * to the latest model, or, for a workload ({@link Authentication.Workload}, e.g. a waypoint),
 * the SAN is the workload's own {@code spiffe://<td>/ns/<namespace>/sa/<service account>}. Refusals carry the reason in the status description:
 * PERMISSION_DENIED for who-may-have-what, INVALID_ARGUMENT for malformed requests,
 * UNAVAILABLE when the credential cannot be checked now.
 *
 * <p>Register {@link #serviceDefinition()}, not this object: the definition carries the
 * interceptor that hands the call's headers to the service. Without it every call fails
 * with INTERNAL.
 *
 * <p>Metrics: {@value #SIGNED}, {@value #DENIED} by {@code reason} (see {@link Reason}),
 * and {@value #LATENCY}.
 */
public final class CaService extends IstioCertificateServiceGrpc.IstioCertificateServiceImplBase {

    /** The request metadata key naming the workload identity a node agent asks for. */
    public static final String IMPERSONATED_IDENTITY = "ImpersonatedIdentity";

    static final String SIGNED = "ambit_istiod_certificates_signed_total";
    static final String DENIED = "ambit_istiod_certificates_denied_total";
    static final String LATENCY = "ambit_istiod_certificate_signing_seconds";

    private static final Logger logger = LoggerFactory.getLogger(CaService.class);
    private static final Context.Key<Metadata> HEADERS = Context.key("ambit-ca-headers");
    private static final Context.Key<SocketAddress> PEER = Context.key("ambit-ca-peer");

    /** Why a request was not granted: the {@code reason} label and the status code. */
    enum Reason {
        /** Credential missing, malformed or not accepted. */
        BAD_CREDENTIAL(Status.Code.PERMISSION_DENIED),
        /** The credential could not be checked (API server unreachable or istiod-lite not allowed). */
        AUTH_UNAVAILABLE(Status.Code.UNAVAILABLE),
        /** Request fields other than the CSR are malformed: lifetime, metadata. */
        INVALID_REQUEST(Status.Code.INVALID_ARGUMENT),
        /** The CSR does not parse, does not verify, has another key type, or not one SPIFFE URI SAN. */
        INVALID_CSR(Status.Code.INVALID_ARGUMENT),
        /** The CSR asks for an identity of another trust domain. */
        WRONG_TRUST_DOMAIN(Status.Code.PERMISSION_DENIED),
        /** The CSR's SAN is not the identity the metadata asks for. */
        SAN_MISMATCH(Status.Code.PERMISSION_DENIED),
        /** No pod with the identity is scheduled on the caller's node. */
        NOT_ON_NODE(Status.Code.PERMISSION_DENIED),
        /** A workload asked for an identity other than its own. */
        NOT_OWN_IDENTITY(Status.Code.PERMISSION_DENIED),
        /** A fault on istiod-lite's side: wiring, or signing itself failed. */
        INTERNAL(Status.Code.INTERNAL);

        final Status.Code code;
        final String label;

        Reason(Status.Code code) {
            this.code = code;
            this.label = name().toLowerCase(Locale.ROOT);
        }
    }

    /** A request that will not be granted; no stack trace, it is an answer, not a fault. */
    private static final class Refusal extends Exception {
        final Reason reason;

        Refusal(Reason reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }
    }

    private final CertificateAuthority ca;
    private final CallerAuthenticator authenticator;
    private final Supplier<MeshResources> model;
    private final Counter signed;
    private final Map<Reason, Counter> denied = new EnumMap<>(Reason.class);
    private final Histogram latency;

    private CaService(CertificateAuthority ca, CallerAuthenticator authenticator, Supplier<MeshResources> model,
                      MetricsRegistry metrics) {
        this.ca = ca;
        this.authenticator = authenticator;
        this.model = model;
        this.signed = metrics.counter(SIGNED, "Workload certificates issued.").labels();
        Counter.Family deniedFamily = metrics.counter(DENIED,
                "Certificate requests refused, by reason.", "reason");
        // Every reason exists from the start, so rate() over a reason that just began works.
        for (Reason reason : Reason.values()) {
            denied.put(reason, deniedFamily.labels(reason.label));
        }
        this.latency = metrics.histogram(LATENCY,
                "Time from a certificate request's arrival to its certificate, authentication included.",
                Histogram.LATENCY_SECONDS).labels();
    }

    /**
     * A service issuing from {@code ca} to callers {@code authenticator} accepts, for
     * identities that {@code model} (the latest mesh model) places on their node.
     */
    public static CaService of(CertificateAuthority ca, CallerAuthenticator authenticator,
                               Supplier<MeshResources> model, MetricsRegistry metrics) {
        requireNonNull(ca, "ca");
        requireNonNull(authenticator, "authenticator");
        requireNonNull(model, "model");
        requireNonNull(metrics, "metrics");
        return new CaService(ca, authenticator, model, metrics);
    }

    /** What to add to a gRPC server: this service behind the interceptor that passes headers in. */
    public ServerServiceDefinition serviceDefinition() {
        return ServerInterceptors.intercept(this, new ServerInterceptor() {
            @Override
            public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                               ServerCallHandler<Q, A> next) {
                Context context = Context.current().withValues(HEADERS, headers,
                        PEER, call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
                return Contexts.interceptCall(context, call, headers, next);
            }
        });
    }

    @Override
    public void createCertificate(IstioCertificateRequest request,
                                  StreamObserver<IstioCertificateResponse> responseObserver) {
        long start = System.nanoTime();
        Attempt attempt = new Attempt();
        List<X509Certificate> chain;
        try {
            chain = issue(request, attempt);
        } catch (Refusal refusal) {
            refuse(responseObserver, refusal.reason, refusal.getMessage(), attempt, null);
            return;
        } catch (RuntimeException e) {
            refuse(responseObserver, Reason.INTERNAL, "certificate could not be issued: " + e.getMessage(),
                    attempt, e);
            return;
        }
        IstioCertificateResponse.Builder response = IstioCertificateResponse.newBuilder();
        for (X509Certificate c : chain) {
            response.addCertChain(Pem.encode(c));
        }
        signed.inc();
        latency.observe((System.nanoTime() - start) / 1e9);
        logger.debug("CA: issued {} to node {} until {}", attempt.identity, attempt.node,
                chain.getFirst().getNotAfter().toInstant());
        responseObserver.onNext(response.build());
        responseObserver.onCompleted();
    }

    /** What is known about a request so far, for the log line of a refusal. */
    private static final class Attempt {
        String node;
        SpiffeId identity;
    }

    private List<X509Certificate> issue(IstioCertificateRequest request, Attempt attempt) throws Refusal {
        Metadata headers = HEADERS.get();
        if (headers == null) {
            throw new Refusal(Reason.INTERNAL, "CA service registered without its interceptor"
                    + " (expected: server.addService(caService.serviceDefinition()))");
        }
        Authentication caller = authenticate(headers);
        attempt.node = switch (caller) {
            case Authentication.Node(String node) -> node;
            case Authentication.Workload(String ns, String sa) -> "(workload " + ns + "/" + sa + ")";
            case Authentication.Denied d -> throw new IllegalStateException("unreachable: denied caller");
        };

        Duration lifetime = lifetime(request);
        CertificateSigningRequest csr;
        try {
            csr = CertificateSigningRequest.parse(request.getCsr());
        } catch (IllegalArgumentException e) {
            throw new Refusal(Reason.INVALID_CSR, e.getMessage());
        }
        SpiffeId san = sanIdentity(csr);
        attempt.identity = san;
        SpiffeId requested = impersonatedIdentity(request);
        if (requested != null && !requested.equals(san)) {
            throw new Refusal(Reason.SAN_MISMATCH, "CSR SAN " + san + " differs from requested identity " + requested);
        }
        if (!san.trustDomain().equals(ca.trustDomain())) {
            throw new Refusal(Reason.WRONG_TRUST_DOMAIN, "identity " + san + " is outside trust domain "
                    + ca.trustDomain());
        }
        if (caller instanceof Authentication.Workload(String ns, String sa)) {
            SpiffeId own = SpiffeId.of(ca.trustDomain(), ns, sa);
            if (!san.equals(own)) {
                throw new Refusal(Reason.NOT_OWN_IDENTITY, "identity " + san + " is not the caller's own ("
                        + own + ": a workload may obtain its own identity only)");
            }
            return lifetime == null ? ca.sign(csr, san) : ca.sign(csr, san, lifetime);
        }
        MeshResources resources = model.get();
        if (resources == null || !resources.runsOn(san, attempt.node)) {
            throw new Refusal(Reason.NOT_ON_NODE, "identity " + san + " does not run on node " + attempt.node
                    + " (no pod with this service account is scheduled there)");
        }
        return lifetime == null ? ca.sign(csr, san) : ca.sign(csr, san, lifetime);
    }

    private Authentication authenticate(Metadata headers) throws Refusal {
        Authentication result;
        try {
            result = authenticator.authenticate(headers);
        } catch (RuntimeException e) {
            // Details stay in istiod-lite's log (the stack only at debug: an API server outage
            // fails every request); the caller learns only that retrying makes sense.
            logger.error("CA: cannot authenticate a caller: {}", e.getMessage(), logger.isDebugEnabled() ? e : null);
            throw new Refusal(Reason.AUTH_UNAVAILABLE, "the caller's credential cannot be checked now, retry later");
        }
        if (result instanceof Authentication.Denied(String reason)) {
            throw new Refusal(Reason.BAD_CREDENTIAL, reason);
        }
        return result;
    }

    /** The requested lifetime, or {@code null} for the CA's full lifetime (0, the proto default). */
    private static Duration lifetime(IstioCertificateRequest request) throws Refusal {
        long seconds = request.getValidityDuration();
        if (seconds < 0) {
            throw new Refusal(Reason.INVALID_REQUEST, "validity_duration: " + seconds
                    + " (expected: seconds > 0, or 0 for the CA's default)");
        }
        return seconds == 0 ? null : Duration.ofSeconds(seconds);
    }

    private static SpiffeId sanIdentity(CertificateSigningRequest csr) throws Refusal {
        List<String> uris = csr.uriSans();
        if (uris.size() != 1) {
            throw new Refusal(Reason.INVALID_CSR, "CSR has " + uris.size() + " URI SANs " + uris
                    + " (expected: exactly one, the workload's SPIFFE ID)");
        }
        try {
            return SpiffeId.parse(uris.getFirst());
        } catch (IllegalArgumentException e) {
            throw new Refusal(Reason.INVALID_CSR, "CSR URI SAN: " + e.getMessage());
        }
    }

    private static SpiffeId impersonatedIdentity(IstioCertificateRequest request) throws Refusal {
        if (!request.hasMetadata()) {
            return null;
        }
        Value value = request.getMetadata().getFieldsMap().get(IMPERSONATED_IDENTITY);
        if (value == null) {
            return null;
        }
        if (value.getKindCase() != Value.KindCase.STRING_VALUE) {
            throw new Refusal(Reason.INVALID_REQUEST, "metadata " + IMPERSONATED_IDENTITY + ": a "
                    + value.getKindCase().name().toLowerCase(Locale.ROOT) + " (expected: a SPIFFE ID string)");
        }
        try {
            return SpiffeId.parse(value.getStringValue());
        } catch (IllegalArgumentException e) {
            throw new Refusal(Reason.INVALID_REQUEST, "metadata " + IMPERSONATED_IDENTITY + ": " + e.getMessage());
        }
    }

    private void refuse(StreamObserver<IstioCertificateResponse> responseObserver, Reason reason, String message,
                        Attempt attempt, Throwable cause) {
        denied.get(reason).inc();
        SocketAddress peer = PEER.get();
        if (cause != null) {
            logger.error("CA: refused ({}) node={} identity={} peer={}: {}", reason.label, attempt.node,
                    attempt.identity, peer, message, cause);
        } else {
            logger.warn("CA: refused ({}) node={} identity={} peer={}: {}", reason.label, attempt.node,
                    attempt.identity, peer, message);
        }
        responseObserver.onError(Status.fromCode(reason.code).withDescription(message).asRuntimeException());
    }
}
