package dev.ambit.proxy.identity;

import dev.ambit.common.identity.SpiffeId;
import java.util.concurrent.CompletableFuture;

/** Where {@link CertificateManager} gets certificates: the mesh CA, through {@link CaClient}. */
@FunctionalInterface
public interface CertificateIssuer {

    /**
     * Requests a new key and certificate for {@code identity}. Must not throw: failures
     * complete the future exceptionally, preferably with a {@link CaException}.
     */
    CompletableFuture<WorkloadCertificate> issue(SpiffeId identity);
}
