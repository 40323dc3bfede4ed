package dev.ambit.proxy.identity;

import dev.ambit.common.identity.SpiffeId;

/**
 * Told when a local identity's certificate is replaced, so new connections use the new one.
 * Existing connections keep the certificate they were established with.
 */
@FunctionalInterface
public interface CertificateListener {

    /**
     * {@code current} now serves {@code identity}; {@code previous} is the one it replaces,
     * {@code null} for the first. Called on the manager's scheduler or a gRPC thread: keep it
     * short and do not block. An exception is logged and does not stop other listeners.
     */
    void certificateChanged(SpiffeId identity, WorkloadCertificate previous, WorkloadCertificate current);
}
