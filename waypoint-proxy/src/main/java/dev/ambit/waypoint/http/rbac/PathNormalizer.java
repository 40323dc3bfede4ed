package dev.ambit.waypoint.http.rbac;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction;
import java.nio.charset.StandardCharsets;

/**
 * The HttpConnectionManager's path normalization, done once per request before any filter
 * or the router sees the path, in Envoy's order ({@code ConnectionManagerUtility::maybeNormalizePath}):
 *
 * <ol>
 *   <li>A {@code #fragment} is dropped (Envoy's default since the fragment advisory: a client
 *       never sends one, and a proxy matching on {@code /admin#x} must see {@code /admin}).</li>
 *   <li>{@code path_with_escaped_slashes_action}: {@code %2F}/{@code %5C} (any case) are
 *       unescaped and forwarded ({@code UNESCAPE_AND_FORWARD}), unescaped and answered with a
 *       redirect to the unescaped path ({@code UNESCAPE_AND_REDIRECT}), refused with 400
 *       ({@code REJECT_REQUEST}), or left alone ({@code KEEP_UNCHANGED}, also the default).</li>
 *   <li>{@code normalize_path}: RFC 3986 normalization as Envoy's canonicalizer does it:
 *       percent-encoded unreserved characters ({@code %2e}, {@code %61}...) are decoded, other
 *       escapes upper-cased, {@code \} becomes {@code /}, characters not allowed in a path are
 *       escaped, and dot segments are removed (section 5.2.4); a path that does not start
 *       with {@code /} is refused (400).</li>
 *   <li>{@code merge_slashes}: runs of {@code /} become one.</li>
 * </ol>
 *
 * Only the path is touched; the query is kept as sent. Path parameters ({@code ;}) are not
 * special to Envoy and stay part of their segment. Case is never changed (Istio's advice:
 * write ALLOW policies with positive matches). Immutable, thread-safe.
 */
public final class PathNormalizer {

    /** Leaves every path as it is (a chain whose HCM asks for nothing). */
    public static final PathNormalizer NONE = new PathNormalizer(false, false, PathWithEscapedSlashesAction.KEEP_UNCHANGED);

    /** What normalization decided. */
    public enum Action { FORWARD, REDIRECT, REJECT }

    /**
     * The outcome for one request target.
     *
     * @param action forward with {@code uri}, redirect to {@code uri} (307), or reject (400)
     * @param uri the normalized path with the original query (null when rejected)
     */
    public record Result(Action action, String uri) {}

    private final boolean normalize;
    private final boolean mergeSlashes;
    private final PathWithEscapedSlashesAction escapedSlashes;

    private PathNormalizer(boolean normalize, boolean mergeSlashes, PathWithEscapedSlashesAction escapedSlashes) {
        this.normalize = normalize;
        this.mergeSlashes = mergeSlashes;
        this.escapedSlashes = requireNonNull(escapedSlashes, "escapedSlashes");
    }

    /** The normalization {@code hcm} asks for ({@code normalize_path}, {@code merge_slashes}, escaped slashes). */
    public static PathNormalizer of(HttpConnectionManager hcm) {
        requireNonNull(hcm, "hcm");
        return new PathNormalizer(hcm.hasNormalizePath() && hcm.getNormalizePath().getValue(), hcm.getMergeSlashes(),
                hcm.getPathWithEscapedSlashesAction() == PathWithEscapedSlashesAction.UNRECOGNIZED
                        ? PathWithEscapedSlashesAction.KEEP_UNCHANGED : hcm.getPathWithEscapedSlashesAction());
    }

    public static PathNormalizer of(boolean normalize, boolean mergeSlashes, PathWithEscapedSlashesAction escapedSlashes) {
        return new PathNormalizer(normalize, mergeSlashes, escapedSlashes);
    }

    /** Whether this normalizer never changes anything but the fragment. */
    public boolean isNone() {
        return !normalize && !mergeSlashes && !unescapes();
    }

    private boolean unescapes() {
        return escapedSlashes == PathWithEscapedSlashesAction.UNESCAPE_AND_FORWARD
                || escapedSlashes == PathWithEscapedSlashesAction.UNESCAPE_AND_REDIRECT
                || escapedSlashes == PathWithEscapedSlashesAction.REJECT_REQUEST;
    }

    /** Normalizes {@code uri} (a request target: path and optional query, maybe a fragment). */
    public Result normalize(String uri) {
        requireNonNull(uri, "uri");
        int hash = uri.indexOf('#');
        if (hash >= 0) {
            uri = uri.substring(0, hash);
        }
        uri = originForm(uri);
        int q = uri.indexOf('?');
        String path = q < 0 ? uri : uri.substring(0, q);
        String query = q < 0 ? "" : uri.substring(q);
        Action action = Action.FORWARD;
        if (unescapes()) {
            String unescaped = unescapeSlashes(path);
            if (!unescaped.equals(path)) {
                switch (escapedSlashes) {
                    case REJECT_REQUEST -> {
                        return new Result(Action.REJECT, null);
                    }
                    case UNESCAPE_AND_REDIRECT -> action = Action.REDIRECT;
                    default -> { }
                }
                path = unescaped;
            }
        }
        if (normalize) {
            path = canonical(path);
            if (path == null) {
                return new Result(Action.REJECT, null);
            }
        }
        if (mergeSlashes) {
            path = mergeSlashes(path);
        }
        return new Result(action, path + query);
    }

    /** An absolute-form target ({@code http://host/p?q}) as its path and query, as Envoy's codec keeps it. */
    static String originForm(String uri) {
        int scheme = uri.indexOf("://");
        if (uri.startsWith("/") || scheme < 0 || !uri.regionMatches(true, 0, "http", 0, 4)) {
            return uri;
        }
        int path = uri.indexOf('/', scheme + 3);
        int query = uri.indexOf('?', scheme + 3);
        if (path < 0 || (query >= 0 && query < path)) {
            return "/" + (query < 0 ? "" : uri.substring(query));
        }
        return uri.substring(path);
    }

    /** {@code %2F}, {@code %2f} → {@code /}; {@code %5C}, {@code %5c} → {@code \}. */
    static String unescapeSlashes(String path) {
        if (path.indexOf('%') < 0) {
            return path;
        }
        StringBuilder b = new StringBuilder(path.length());
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c == '%' && i + 2 < path.length()) {
                String hex = path.substring(i + 1, i + 3);
                if (hex.equalsIgnoreCase("2F")) {
                    b.append('/');
                    i += 2;
                    continue;
                }
                if (hex.equalsIgnoreCase("5C")) {
                    b.append('\\');
                    i += 2;
                    continue;
                }
            }
            b.append(c);
        }
        return b.toString();
    }

    /** Runs of {@code /} become one. */
    static String mergeSlashes(String path) {
        if (!path.contains("//")) {
            return path;
        }
        StringBuilder b = new StringBuilder(path.length());
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c == '/' && b.length() > 0 && b.charAt(b.length() - 1) == '/') {
                continue;
            }
            b.append(c);
        }
        return b.toString();
    }

    /**
     * Envoy's {@code PathUtil::canonicalPath}: escapes and dot segments as a URL canonicalizer
     * treats them; null when the path cannot be a path (not starting with {@code /}).
     */
    static String canonical(String path) {
        if (path.isEmpty() || (path.charAt(0) != '/' && path.charAt(0) != '\\')) {
            return null;
        }
        StringBuilder b = new StringBuilder(path.length());
        byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            int c = bytes[i] & 0xFF;
            if (c == '%' && i + 2 < bytes.length && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) {
                int v = hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]);
                if (unreserved(v)) {
                    b.append((char) v);
                } else {
                    b.append('%').append(Character.toUpperCase((char) bytes[i + 1]))
                            .append(Character.toUpperCase((char) bytes[i + 2]));
                }
                i += 2;
            } else if (c == '\\') {
                b.append('/');
            } else if (c < 0x21 || c > 0x7E || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' || c == '}') {
                b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xF, 16)));
            } else {
                b.append((char) c);
            }
        }
        return removeDotSegments(b.toString());
    }

    private static int hex(byte b) {
        return Character.digit((char) (b & 0xFF), 16);
    }

    private static boolean unreserved(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '.' || c == '_' || c == '~';
    }

    /** RFC 3986 section 5.2.4 on an absolute path; never climbs above the root. */
    static String removeDotSegments(String path) {
        String[] segments = path.substring(1).split("/", -1);
        java.util.ArrayDeque<String> out = new java.util.ArrayDeque<>();
        boolean trailingSlash = false;
        for (int i = 0; i < segments.length; i++) {
            String s = segments[i];
            boolean last = i == segments.length - 1;
            if (s.equals(".")) {
                trailingSlash = last;
            } else if (s.equals("..")) {
                out.pollLast();
                trailingSlash = last;
            } else {
                out.addLast(s);
                trailingSlash = false;
            }
        }
        StringBuilder b = new StringBuilder(path.length());
        for (String s : out) {
            b.append('/').append(s);
        }
        if (trailingSlash || b.length() == 0) {
            b.append('/');
        }
        return b.toString();
    }
}
