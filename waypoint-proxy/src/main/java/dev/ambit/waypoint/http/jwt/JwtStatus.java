package dev.ambit.waypoint.http.jwt;

/**
 * Why a token was not accepted, with the text Envoy's {@code jwt_authn} filter answers
 * (google/jwt_verify_lib's status strings) as the body of its local reply.
 */
public enum JwtStatus {
    OK("OK"),
    MISSING("Jwt is missing"),
    NOT_YET_VALID("Jwt not yet valid"),
    EXPIRED("Jwt is expired"),
    BAD_FORMAT("Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"),
    HEADER_BAD_BASE64("Jwt header is an invalid Base64url encoded"),
    HEADER_BAD_JSON("Jwt header is an invalid JSON"),
    HEADER_BAD_ALG("Jwt header [alg] field is required and must be a string"),
    HEADER_NOT_IMPLEMENTED_ALG("Jwt header [alg] is not supported"),
    HEADER_BAD_KID("Jwt header [kid] field is not a string"),
    PAYLOAD_BAD_BASE64("Jwt payload is an invalid Base64url encoded"),
    PAYLOAD_BAD_JSON("Jwt payload is an invalid JSON"),
    PAYLOAD_ISS_NOT_STRING("Jwt payload [iss] field is not a string"),
    PAYLOAD_SUB_NOT_STRING("Jwt payload [sub] field is not a string"),
    PAYLOAD_AUD_BAD("Jwt payload [aud] field is not a string or string list"),
    PAYLOAD_EXP_BAD("Jwt payload [exp] field is not a positive 64 bit integer"),
    PAYLOAD_NBF_BAD("Jwt payload [nbf] field is not a positive 64 bit integer"),
    SIGNATURE_BAD_BASE64("Jwt signature is an invalid Base64url encoded"),
    UNKNOWN_ISSUER("Jwt issuer is not configured"),
    AUDIENCE_NOT_ALLOWED("Audiences in Jwt are not allowed"),
    VERIFICATION_FAIL("Jwt verification fails"),
    JWKS_NO_VALID_KEYS("Jwks doesn't have any valid public key"),
    JWKS_KID_ALG_MISMATCH("Jwks doesn't have key to match kid or alg from Jwt");

    private final String message;

    JwtStatus(String message) {
        this.message = message;
    }

    /** Envoy's wording, the body of the 401/403. */
    public String message() {
        return message;
    }

    /** Envoy answers 403 for an audience it does not allow, 401 for every other failure. */
    public int httpStatus() {
        return this == AUDIENCE_NOT_ALLOWED ? 403 : 401;
    }
}
