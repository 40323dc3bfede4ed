package dev.ambit.istiod.ca;

import io.grpc.Metadata;
import java.util.Locale;

/**
 * Decides which node agent is calling the CA, from the call's headers. The CA then issues
 * only identities of pods scheduled on that node.
 *
 * <p>Implementations may block (a TokenReview is an API server round trip): the CA runs
 * them on the gRPC executor, not on an event loop.
 */
@FunctionalInterface
public interface CallerAuthenticator {

    /** The {@code authorization} header, which carries {@code Bearer <token>}. */
    Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    /**
     * The node the caller speaks for (or the workload speaking for itself), or {@link Authentication.Denied} with a reason safe to
     * return to the caller.
     *
     * @throws RuntimeException when the credential cannot be checked right now (API server
     *         unreachable, istiod not allowed to review tokens); the CA answers UNAVAILABLE so
     *         that the node agent retries
     */
    Authentication authenticate(Metadata headers);

    /**
     * The token of a single {@code authorization: Bearer <token>} header, or a denial saying
     * what is wrong with the header. The scheme is case-insensitive (RFC 9110).
     */
    static BearerToken bearerToken(Metadata headers) {
        Iterable<String> values = headers.getAll(AUTHORIZATION);
        String value = null;
        if (values != null) {
            for (String v : values) {
                if (value != null) {
                    return new BearerToken(null, "several authorization headers (expected: one Bearer token)");
                }
                value = v;
            }
        }
        if (value == null) {
            return new BearerToken(null, "no authorization header (expected: authorization: Bearer <token>)");
        }
        int space = value.indexOf(' ');
        if (space < 0 || !value.substring(0, space).toLowerCase(Locale.ROOT).equals("bearer")) {
            // Say which scheme came, never the credential itself.
            String scheme = space < 0 ? "no scheme" : "scheme " + value.substring(0, Math.min(space, 16));
            return new BearerToken(null, "authorization header has " + scheme + " (expected: Bearer <token>)");
        }
        String token = value.substring(space + 1).strip();
        if (token.isEmpty() || token.indexOf(' ') >= 0) {
            return new BearerToken(null, "authorization header has a malformed Bearer token"
                    + " (expected: Bearer <token>, one token without spaces)");
        }
        return new BearerToken(token, null);
    }

    /**
     * A token taken from the headers, or why there is none.
     *
     * @param token the token, or {@code null} when {@code problem} is set
     * @param problem why no token could be taken, or {@code null}
     */
    record BearerToken(String token, String problem) {
        /** {@code true} when a token was found. */
        public boolean present() {
            return token != null;
        }

        @Override
        public String toString() {
            // Records print their fields; a token must not reach a log by accident.
            return present() ? "BearerToken[<redacted>]" : "BearerToken[" + problem + "]";
        }
    }
}
