/**
 * Envoy's {@code envoy.filters.http.jwt_authn} in the waypoint (Istio's RequestAuthentication).
 *
 * <ul>
 *   <li>{@link dev.ambit.waypoint.http.jwt.JwtAuthn}: the filter, first in every HTTP chain; its
 *       config is the {@code JwtAuthentication} of the chain's HttpConnectionManager, compiled
 *       once per HCM ({@code JwtAuthnConfig}: providers, rules, requirement trees).</li>
 *   <li>{@code JwtProvider}: where tokens are (headers with prefixes, query parameters,
 *       cookies; Envoy's defaults), and the checks in Envoy's order: issuer, {@code nbf}/{@code exp}
 *       with 60 s of skew, audiences, then the signature ({@code Jwt}, JDK only: RS/PS/ES 256-512,
 *       keys chosen by {@code kid} and {@code alg} from {@link dev.ambit.waypoint.http.jwt.Jwks}).</li>
 *   <li>{@link dev.ambit.waypoint.http.jwt.JwtStatus}: Envoy's reasons, the bodies of its 401/403.</li>
 *   <li>{@link dev.ambit.waypoint.http.jwt.JwtConfigChecks}: what the config validator NACKs beyond
 *       the field table.</li>
 * </ul>
 */
package dev.ambit.waypoint.http.jwt;
