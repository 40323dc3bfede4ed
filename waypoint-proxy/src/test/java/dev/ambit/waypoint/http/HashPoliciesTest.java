package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.waypoint.upstream.lb.XxHash64;
import io.envoyproxy.envoy.config.route.v3.RouteAction.HashPolicy;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** {@link HashPolicies}: Envoy's hash per key, combination, terminal, cookie generation. */
class HashPoliciesTest {

    static final InetSocketAddress SOURCE = new InetSocketAddress("10.244.0.7", 40000);

    static HashPolicy header(String name) {
        return HashPolicy.newBuilder().setHeader(HashPolicy.Header.newBuilder().setHeaderName(name)).build();
    }

    static HashPolicies.Result compute(List<HashPolicy> p, String uri, String... headers) {
        HttpHeaders h = new DefaultHttpHeaders();
        for (int i = 0; i < headers.length; i += 2) {
            h.add(headers[i], headers[i + 1]);
        }
        return HashPolicies.compute(p, "GET", uri, h, SOURCE);
    }

    @Test
    void eachKeyHashesItsValueWithXxHash64() {
        assertThat(compute(List.of(header("x-user")), "/", "x-user", "alice").hash())
                .isEqualTo(OptionalLong.of(XxHash64.hash("alice")));
        assertThat(compute(List.of(header("x-user")), "/").hash()).isEmpty();
        assertThat(compute(List.of(header(":authority")), "/", "host", "reviews:9080").hash())
                .isEqualTo(OptionalLong.of(XxHash64.hash("reviews:9080")));
        assertThat(compute(List.of(HashPolicy.newBuilder().setQueryParameter(HashPolicy.QueryParameter.newBuilder()
                .setName("u")).build()), "/p?a=1&u=bob&u=eve").hash()).isEqualTo(OptionalLong.of(XxHash64.hash("bob")));
        assertThat(compute(List.of(HashPolicy.newBuilder().setConnectionProperties(HashPolicy.ConnectionProperties
                .newBuilder().setSourceIp(true)).build()), "/").hash())
                .isEqualTo(OptionalLong.of(XxHash64.hash("10.244.0.7")));
        assertThat(compute(List.of(HashPolicy.newBuilder().setCookie(HashPolicy.Cookie.newBuilder().setName("s"))
                .build()), "/", "cookie", "a=1; s=\"xyz\"").hash()).isEqualTo(OptionalLong.of(XxHash64.hash("xyz")));
    }

    @Test
    void hashesCombineAndATerminalPolicyStops() {
        long a = XxHash64.hash("a");
        long b = XxHash64.hash("b");
        assertThat(compute(List.of(header("x"), header("y")), "/", "x", "a", "y", "b").hash())
                .isEqualTo(OptionalLong.of(Long.rotateLeft(a, 1) ^ b));
        HashPolicy terminal = header("x").toBuilder().setTerminal(true).build();
        assertThat(compute(List.of(terminal, header("y")), "/", "x", "a", "y", "b").hash()).isEqualTo(OptionalLong.of(a));
        // A terminal policy that yields nothing does not stop the next.
        assertThat(compute(List.of(terminal, header("y")), "/", "y", "b").hash()).isEqualTo(OptionalLong.of(b));
    }

    @Test
    void aMissingCookieWithTtlIsGeneratedFromTheClientAddress() {
        HashPolicy cookie = HashPolicy.newBuilder().setCookie(HashPolicy.Cookie.newBuilder().setName("s").setPath("/a")
                .setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(60))
                .addAttributes(HashPolicy.CookieAttribute.newBuilder().setName("SameSite").setValue("Lax"))).build();
        HashPolicies.Result r = compute(List.of(cookie), "/");
        String value = String.format("%016x", XxHash64.hash("10.244.0.7:40000"));
        assertThat(r.setCookies()).containsExactly("s=\"" + value + "\"; Max-Age=60; Path=/a; SameSite=Lax; HttpOnly");
        assertThat(r.hash()).isEqualTo(OptionalLong.of(XxHash64.hash(value)));
        // The client sends it back: the same hash, no new cookie.
        HashPolicies.Result back = compute(List.of(cookie), "/", "cookie", "s=\"" + value + "\"");
        assertThat(back.hash()).isEqualTo(r.hash());
        assertThat(back.setCookies()).isEmpty();
        HashPolicy session = HashPolicy.newBuilder().setCookie(HashPolicy.Cookie.newBuilder().setName("s")
                .setTtl(com.google.protobuf.Duration.getDefaultInstance())).build();
        assertThat(compute(List.of(session), "/").setCookies()).containsExactly("s=\"" + value + "\"; HttpOnly");
    }
}
