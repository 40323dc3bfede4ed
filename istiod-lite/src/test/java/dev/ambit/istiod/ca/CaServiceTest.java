package dev.ambit.istiod.ca;

import static dev.ambit.istiod.ca.CaTestSupport.assertValidatesTo;
import static dev.ambit.istiod.ca.CaTestSupport.csrPem;
import static dev.ambit.istiod.ca.CaTestSupport.p256;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.api.ca.IstioCertificateRequest;
import dev.ambit.api.ca.IstioCertificateResponse;
import dev.ambit.api.ca.IstioCertificateServiceGrpc;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.model.MeshResources;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CA over a real gRPC server on loopback, with node tokens and CSRs made for real. */
class CaServiceTest {

    private static final SpiffeId WEB = SpiffeId.of("cluster.local", "shop", "web"); // on node-a
    private static final SpiffeId DB = SpiffeId.of("cluster.local", "shop", "db"); // on node-b
    private static final Duration LIFETIME = Duration.ofHours(10);

    @TempDir
    Path tmp;

    private final AtomicReference<MeshResources> model = new AtomicReference<>(
            model(Map.of("node-a", Set.of(WEB), "node-b", Set.of(DB))));
    private final List<Server> servers = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private CertificateAuthority ca;
    private MetricsRegistry metrics;
    private CaService service;
    private String tokenA;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        ca = CertificateAuthority.builder(tmp.resolve("ca")).leafLifetime(LIFETIME).build();
        Path credentials = tmp.resolve("node-credentials");
        tokenA = NodeCredentials.issue(credentials, "node-a", tmp.resolve("node-a.token"));
        NodeCredentials.issue(credentials, "node-b", tmp.resolve("node-b.token"));
        metrics = MetricsRegistry.create();
        service = CaService.of(ca, NodeCredentials.load(credentials), model::get, metrics);
        channel = connect(serve(service.serviceDefinition()));
    }

    @AfterEach
    void stop() throws Exception {
        for (ManagedChannel c : channels) {
            c.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        for (Server s : servers) {
            s.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void issuesTheIdentityOfAPodOnTheCallersNode() throws Exception {
        KeyPair keys = p256();

        IstioCertificateResponse response = call("Bearer " + tokenA, request(csrPem(keys, WEB.uri()), WEB, 0));

        List<X509Certificate> chain = CaTestSupport.parseChain(response.getCertChainList());
        assertThat(chain).hasSize(2);
        X509Certificate leaf = chain.getFirst();
        assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, WEB.uri()));
        assertThat(leaf.getPublicKey()).isEqualTo(keys.getPublic());
        assertThat(leaf.getPublicKey()).isInstanceOfSatisfying(ECPublicKey.class,
                k -> assertThat(k.getParams().getOrder().bitLength()).isEqualTo(256));
        assertThat(Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()))
                .isEqualTo(LIFETIME.plusMinutes(1));
        // The root the client gets is the one persisted in the CA directory, and the leaf validates to it.
        X509Certificate persistedRoot = CaTestSupport.parseChain(List.of(
                Files.readString(tmp.resolve("ca").resolve(CertificateAuthority.SELF_SIGNED_CERT)))).getFirst();
        assertValidatesTo(chain, persistedRoot);
    }

    @Test
    void withoutImpersonatedIdentityTheCsrSanIsTheRequestedIdentity() throws Exception {
        IstioCertificateResponse response = call("Bearer " + tokenA, request(csrPem(p256(), WEB.uri()), null, 0));

        X509Certificate leaf = CaTestSupport.parseChain(response.getCertChainList()).getFirst();
        assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, WEB.uri()));
    }

    @Test
    void validityDurationShortensTheLifetimeButNeverLengthensIt() throws Exception {
        String csr = csrPem(p256(), WEB.uri());

        X509Certificate hour = leaf(call("Bearer " + tokenA, request(csr, WEB, 3600)));
        X509Certificate week = leaf(call("Bearer " + tokenA, request(csr, WEB, Duration.ofDays(7).toSeconds())));

        assertThat(Duration.between(hour.getNotBefore().toInstant(), hour.getNotAfter().toInstant()))
                .isEqualTo(Duration.ofHours(1).plusMinutes(1));
        assertThat(Duration.between(week.getNotBefore().toInstant(), week.getNotAfter().toInstant()))
                .isEqualTo(LIFETIME.plusMinutes(1));
    }

    @Test
    void anIdentityNotOnTheCallersNodeIsDeniedUntilTheModelPlacesItThere() throws Exception {
        IstioCertificateRequest forDb = request(csrPem(p256(), DB.uri()), DB, 0);

        StatusRuntimeException denied = failure("Bearer " + tokenA, forDb);

        assertThat(denied.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(denied.getStatus().getDescription()).isEqualTo("identity spiffe://cluster.local/ns/shop/sa/db"
                + " does not run on node node-a (no pod with this service account is scheduled there)");

        // The CA reads the latest model on every request: once db is scheduled on node-a, it is issued.
        model.set(model(Map.of("node-a", Set.of(WEB, DB))));
        assertThat(leaf(call("Bearer " + tokenA, forDb)).getSubjectAlternativeNames())
                .containsExactly(List.of(6, DB.uri()));
    }

    @Test
    void aCsrSanDifferentFromTheImpersonatedIdentityIsDenied() throws Exception {
        // web runs on node-a; the CSR asks for db's SAN while claiming to act for web.
        StatusRuntimeException denied = failure("Bearer " + tokenA, request(csrPem(p256(), DB.uri()), WEB, 0));

        assertThat(denied.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(denied.getStatus().getDescription()).isEqualTo("CSR SAN spiffe://cluster.local/ns/shop/sa/db"
                + " differs from requested identity spiffe://cluster.local/ns/shop/sa/web");
    }

    @Test
    void aMissingOrBadCredentialIsDeniedBeforeTheCsrIsLookedAt() throws Exception {
        IstioCertificateRequest good = request(csrPem(p256(), WEB.uri()), WEB, 0);

        assertDenied(failure(null, good), "no authorization header (expected: authorization: Bearer <token>)");
        assertDenied(failure("Bearer " + tokenA.substring(1), good),
                "node token not recognised (expected: the token issued for this node)");
        assertDenied(failure("Basic " + tokenA, good),
                "authorization header has scheme Basic (expected: Bearer <token>)");
        // Unauthenticated callers learn nothing about their request, not even that the CSR is garbage.
        assertDenied(failure(null, request("garbage", WEB, 0)),
                "no authorization header (expected: authorization: Bearer <token>)");
    }

    @Test
    void malformedCsrsAreInvalidArguments() throws Exception {
        KeyPair keys = p256();
        String bearer = "Bearer " + tokenA;

        assertInvalid(failure(bearer, request("garbage", WEB, 0)),
                "CSR: no PEM block (expected: -----BEGIN CERTIFICATE REQUEST-----)");
        assertInvalid(failure(bearer, request(CaTestSupport.pem("CERTIFICATE REQUEST", new byte[] {1, 2, 3}), WEB, 0)),
                "CSR: malformed PEM or DER");
        assertInvalid(failure(bearer, request(CaTestSupport.brokenSignatureCsrPem(keys, WEB.uri()), WEB, 0)),
                "CSR signature: does not verify with the CSR's key");
        assertInvalid(failure(bearer, request(CaTestSupport.tamperedCsrPem(keys, DB.uri(), WEB.uri()), WEB, 0)),
                "CSR signature: does not verify with the CSR's key");
        assertInvalid(failure(bearer, request(csrPem(CaTestSupport.rsa(), WEB.uri()), WEB, 0)),
                "CSR key: RSA (expected: EC P-256)");
        assertInvalid(failure(bearer, request(csrPem(keys), WEB, 0)),
                "CSR has 0 URI SANs [] (expected: exactly one, the workload's SPIFFE ID)");
        assertInvalid(failure(bearer, request(csrPem(keys, WEB.uri(), DB.uri()), WEB, 0)),
                "CSR has 2 URI SANs");
        assertInvalid(failure(bearer, request(csrPem(keys, "https://shop.example/web"), WEB, 0)),
                "CSR URI SAN: SPIFFE ID: https://shop.example/web");
    }

    @Test
    void malformedRequestFieldsAreInvalidArguments() throws Exception {
        String csr = csrPem(p256(), WEB.uri());
        String bearer = "Bearer " + tokenA;

        assertInvalid(failure(bearer, request(csr, WEB, -5)),
                "validity_duration: -5 (expected: seconds > 0, or 0 for the CA's default)");
        IstioCertificateRequest numberIdentity = request(csr, null, 0).toBuilder()
                .setMetadata(Struct.newBuilder().putFields(CaService.IMPERSONATED_IDENTITY,
                        Value.newBuilder().setNumberValue(7).build()))
                .build();
        assertInvalid(failure(bearer, numberIdentity),
                "metadata ImpersonatedIdentity: a number_value (expected: a SPIFFE ID string)");
    }

    @Test
    void identitiesOfAnotherTrustDomainAreDenied() throws Exception {
        SpiffeId foreign = SpiffeId.of("other.example", "shop", "web");

        StatusRuntimeException denied = failure("Bearer " + tokenA, request(csrPem(p256(), foreign.uri()), foreign, 0));

        assertDenied(denied, "identity spiffe://other.example/ns/shop/sa/web is outside trust domain cluster.local");
    }

    @Test
    void metricsCountIssuedAndRefusedRequestsByReason() throws Exception {
        String bearer = "Bearer " + tokenA;
        call(bearer, request(csrPem(p256(), WEB.uri()), WEB, 0));
        call(bearer, request(csrPem(p256(), WEB.uri()), null, 0));
        failure(bearer, request(csrPem(p256(), DB.uri()), DB, 0));
        failure(bearer, request(csrPem(p256(), DB.uri()), WEB, 0));
        failure(null, request(csrPem(p256(), WEB.uri()), WEB, 0));
        failure("Bearer nope", request(csrPem(p256(), WEB.uri()), WEB, 0));
        failure(bearer, request("garbage", WEB, 0));

        assertThat(metrics.value(CaService.SIGNED)).isEqualTo(2);
        assertThat(metrics.value(CaService.DENIED, "not_on_node")).isEqualTo(1);
        assertThat(metrics.value(CaService.DENIED, "san_mismatch")).isEqualTo(1);
        assertThat(metrics.value(CaService.DENIED, "bad_credential")).isEqualTo(2);
        assertThat(metrics.value(CaService.DENIED, "invalid_csr")).isEqualTo(1);
        assertThat(metrics.value(CaService.DENIED, "internal")).isZero();
        assertThat(metrics.value(CaService.LATENCY)).as("latency observations").isEqualTo(2);
        assertThat(metrics.scrape())
                .contains("ambit_istiod_certificates_signed_total 2\n")
                .contains("ambit_istiod_certificates_denied_total{reason=\"bad_credential\"} 2\n")
                .contains("ambit_istiod_certificates_denied_total{reason=\"wrong_trust_domain\"} 0\n")
                .contains("ambit_istiod_certificate_signing_seconds_count 2\n");
    }

    @Test
    void registeredWithoutItsInterceptorEveryCallFailsClosed() throws Exception {
        ManagedChannel bare = connect(serve(service.bindService()));

        StatusRuntimeException failure = catchThrowableOfType(StatusRuntimeException.class,
                () -> stub(bare, "Bearer " + tokenA).createCertificate(request(csrPem(p256(), WEB.uri()), WEB, 0)));

        assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
        assertThat(failure.getStatus().getDescription()).contains("caService.serviceDefinition()");
    }

    // ---- helpers

    private Server serve(io.grpc.ServerServiceDefinition definition) throws Exception {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(definition)
                .build()
                .start();
        servers.add(server);
        return server;
    }

    private ManagedChannel connect(Server server) {
        ManagedChannel c = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        channels.add(c);
        return c;
    }

    private static IstioCertificateServiceGrpc.IstioCertificateServiceBlockingStub stub(ManagedChannel channel,
                                                                                      String authorization) {
        Metadata headers = new Metadata();
        if (authorization != null) {
            headers.put(CallerAuthenticator.AUTHORIZATION, authorization);
        }
        return IstioCertificateServiceGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    private IstioCertificateResponse call(String authorization, IstioCertificateRequest request) {
        return stub(channel, authorization).createCertificate(request);
    }

    private StatusRuntimeException failure(String authorization, IstioCertificateRequest request) {
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                () -> call(authorization, request));
        assertThat(e).as("expected the call to fail").isNotNull();
        return e;
    }

    static IstioCertificateRequest request(String csr, SpiffeId impersonated, long validitySeconds) {
        IstioCertificateRequest.Builder request = IstioCertificateRequest.newBuilder()
                .setCsr(csr)
                .setValidityDuration(validitySeconds);
        if (impersonated != null) {
            request.setMetadata(Struct.newBuilder().putFields(CaService.IMPERSONATED_IDENTITY,
                    Value.newBuilder().setStringValue(impersonated.uri()).build()));
        }
        return request.build();
    }

    private static X509Certificate leaf(IstioCertificateResponse response) throws Exception {
        return CaTestSupport.parseChain(response.getCertChainList()).getFirst();
    }

    private static MeshResources model(Map<String, Set<SpiffeId>> identitiesByNode) {
        return new MeshResources(Map.of(), Map.of(), identitiesByNode, List.of());
    }

    private static void assertDenied(StatusRuntimeException e, String description) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(e.getStatus().getDescription()).isEqualTo(description);
    }

    private static void assertInvalid(StatusRuntimeException e, String descriptionStart) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(e.getStatus().getDescription()).startsWith(descriptionStart);
    }
}
