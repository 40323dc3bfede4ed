/**
 * Workload identities of the node's pods: certificates from the mesh CA and the mutual TLS
 * that HBONE runs on.
 *
 * <ul>
 *   <li>{@link dev.ambit.proxy.identity.CaClient}: one {@code CreateCertificate} call per
 *       request (fresh P-256 key, CSR with the SPIFFE URI as only SAN, node token as Bearer,
 *       {@code ImpersonatedIdentity}); the answer is checked before it is returned.</li>
 *   <li>{@link dev.ambit.proxy.identity.CertificateManager}: the per-identity cache, with
 *       request deduplication, half-life renewal, bounded exponential backoff, forget, change
 *       listeners and metrics.</li>
 *   <li>{@link dev.ambit.proxy.identity.TlsContexts}: HBONE's Netty contexts (TLS 1.3, ALPN h2,
 *       AES-GCM, client certificates required), peers verified by trust bundle and SPIFFE ID;
 *       BoringSSL when available, else the JDK.</li>
 * </ul>
 *
 * <p>Threads: the manager owns one scheduler thread ({@code ambit-certificates}) unless given
 * one; CA answers complete on gRPC's threads; listeners run on either.
 */
package dev.ambit.proxy.identity;
