package dev.ambit.waypoint.http.rbac;

import static io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction.KEEP_UNCHANGED;
import static io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST;
import static io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction.UNESCAPE_AND_FORWARD;
import static io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction.UNESCAPE_AND_REDIRECT;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.BoolValue;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import org.junit.jupiter.api.Test;

class PathNormalizerTest {

    /** Istio's BASE: normalize_path only. */
    static final PathNormalizer BASE = PathNormalizer.of(true, false, KEEP_UNCHANGED);
    static final PathNormalizer MERGE = PathNormalizer.of(true, true, KEEP_UNCHANGED);
    /** Istio's DECODE_AND_MERGE_SLASHES. */
    static final PathNormalizer DECODE = PathNormalizer.of(true, true, UNESCAPE_AND_FORWARD);

    private static String fwd(PathNormalizer n, String uri) {
        PathNormalizer.Result r = n.normalize(uri);
        assertThat(r.action()).as(uri).isEqualTo(PathNormalizer.Action.FORWARD);
        return r.uri();
    }

    @Test
    void dotSegmentsAreRemovedAndNeverClimbAboveTheRoot() {
        assertThat(fwd(BASE, "/admin/../admin")).isEqualTo("/admin");
        assertThat(fwd(BASE, "/public/../admin")).isEqualTo("/admin");
        assertThat(fwd(BASE, "/a/./b/.")).isEqualTo("/a/b/");
        assertThat(fwd(BASE, "/../../admin")).isEqualTo("/admin");
        assertThat(fwd(BASE, "/a/b/..")).isEqualTo("/a/");
        assertThat(fwd(BASE, "/")).isEqualTo("/");
    }

    @Test
    void percentEncodedUnreservedCharactersAreDecodedBeforeDotSegments() {
        assertThat(fwd(BASE, "/public/%2e%2e/admin")).isEqualTo("/admin");
        assertThat(fwd(BASE, "/public/%2E./admin")).isEqualTo("/admin");
        assertThat(fwd(BASE, "/%61dmin")).isEqualTo("/admin");
        // Reserved escapes stay escaped, hex upper-cased.
        assertThat(fwd(BASE, "/a%3fb")).isEqualTo("/a%3Fb");
        assertThat(fwd(BASE, "/a b")).isEqualTo("/a%20b");
        assertThat(fwd(BASE, "/a\\..\\admin")).isEqualTo("/admin");
    }

    @Test
    void queryIsKeptAndFragmentDropped() {
        assertThat(fwd(BASE, "/x/../admin?next=/../y")).isEqualTo("/admin?next=/../y");
        assertThat(fwd(BASE, "/admin#top")).isEqualTo("/admin");
        assertThat(fwd(BASE, "/admin#")).isEqualTo("/admin");
        assertThat(fwd(PathNormalizer.NONE, "/admin#frag?x")).isEqualTo("/admin");
    }

    @Test
    void slashesMergeOnlyWhenAsked() {
        assertThat(fwd(BASE, "//admin")).isEqualTo("//admin");
        assertThat(fwd(MERGE, "//admin")).isEqualTo("/admin");
        assertThat(fwd(MERGE, "/a///b//")).isEqualTo("/a/b/");
        assertThat(fwd(MERGE, "/a?x=//y")).isEqualTo("/a?x=//y");
    }

    @Test
    void escapedSlashesFollowTheAction() {
        assertThat(fwd(BASE, "/public/..%2Fadmin")).isEqualTo("/public/..%2Fadmin");
        assertThat(fwd(DECODE, "/public/..%2Fadmin")).isEqualTo("/admin");
        assertThat(fwd(DECODE, "/public%2f..%2fadmin")).isEqualTo("/admin");
        assertThat(fwd(DECODE, "/public/..%5Cadmin")).isEqualTo("/admin");
        assertThat(PathNormalizer.of(true, true, REJECT_REQUEST).normalize("/a%2Fb").action())
                .isEqualTo(PathNormalizer.Action.REJECT);
        assertThat(PathNormalizer.of(true, true, REJECT_REQUEST).normalize("/a/b").action())
                .isEqualTo(PathNormalizer.Action.FORWARD);
        PathNormalizer.Result r = PathNormalizer.of(true, true, UNESCAPE_AND_REDIRECT).normalize("/a%2F..%2Fadmin?q");
        assertThat(r.action()).isEqualTo(PathNormalizer.Action.REDIRECT);
        assertThat(r.uri()).isEqualTo("/admin?q");
    }

    @Test
    void pathParametersAndCaseAreLeftAsEnvoyLeavesThem() {
        assertThat(fwd(DECODE, "/admin;jsessionid=1")).isEqualTo("/admin;jsessionid=1");
        assertThat(fwd(DECODE, "/ADMIN")).isEqualTo("/ADMIN");
    }

    @Test
    void anAbsoluteFormTargetIsNormalizedAsItsPath() {
        assertThat(fwd(BASE, "http://reviews:9080/public/../admin?x")).isEqualTo("/admin?x");
        assertThat(fwd(BASE, "http://reviews:9080")).isEqualTo("/");
        assertThat(fwd(BASE, "http://reviews:9080?q=1")).isEqualTo("/?q=1");
    }

    @Test
    void aPathThatIsNoAbsolutePathIsRejected() {
        assertThat(BASE.normalize("admin").action()).isEqualTo(PathNormalizer.Action.REJECT);
        assertThat(BASE.normalize("*").action()).isEqualTo(PathNormalizer.Action.REJECT);
    }

    @Test
    void readsTheHcmsFields() {
        PathNormalizer n = PathNormalizer.of(HttpConnectionManager.newBuilder().setNormalizePath(BoolValue.of(true))
                .setMergeSlashes(true).setPathWithEscapedSlashesAction(UNESCAPE_AND_FORWARD).build());
        assertThat(fwd(n, "//public/..%2fadmin")).isEqualTo("/admin");
        assertThat(PathNormalizer.of(HttpConnectionManager.getDefaultInstance()).isNone()).isTrue();
        assertThat(fwd(PathNormalizer.of(HttpConnectionManager.getDefaultInstance()), "/a/../b")).isEqualTo("/a/../b");
    }
}
