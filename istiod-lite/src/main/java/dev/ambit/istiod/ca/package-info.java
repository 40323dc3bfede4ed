/**
 * istiod-lite's certificate authority: Istio's {@code IstioCertificateService} for node
 * agents ({@link dev.ambit.istiod.ca.CaService}), the signing key and what it issues
 * ({@link dev.ambit.istiod.ca.CertificateAuthority}), and how a caller proves which node it
 * is: node tokens created with a local cluster ({@link dev.ambit.istiod.ca.NodeCredentials})
 * or Kubernetes TokenReview ({@link dev.ambit.istiod.ca.TokenReviewAuthenticator}).
 */
package dev.ambit.istiod.ca;
