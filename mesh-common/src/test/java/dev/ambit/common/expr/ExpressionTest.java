package dev.ambit.common.expr;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExpressionTest {

    private static final Attributes REQUEST = Attributes.of(Map.of(
            "request.method", "GET",
            "request.path", "/api/v1/items?x=1",
            "request.host", "reviews.shop:9080",
            "request.headers", Map.of("x-custom", "blue", "user-agent", "curl/8"),
            "response.code", 503L,
            "destination.port", 9080L,
            "connection.mtls", true,
            "upstream_peer.workload", "reviews-v1"));

    private static Object eval(String text) {
        return Expression.parse(text, "f").evaluate(REQUEST);
    }

    @Test
    void attributesLiteralsAndOperators() {
        assertThat(eval("request.method")).isEqualTo("GET");
        assertThat(eval("response.code >= 500 && response.code < 600")).isEqualTo(true);
        assertThat(eval("response.code == 200 || request.method == 'GET'")).isEqualTo(true);
        assertThat(eval("!connection.mtls")).isEqualTo(false);
        assertThat(eval("'v' + string(destination.port)")).isEqualTo("v9080");
        assertThat(eval("response.code / 100 * 100 + 3 % 2")).isEqualTo(501L);
        assertThat(eval("request.method in ['GET', 'HEAD']")).isEqualTo(true);
        assertThat(eval("'x-custom' in request.headers")).isEqualTo(true);
        assertThat(eval("response.code > 499 ? 'error' : 'ok'")).isEqualTo("error");
        assertThat(eval("2.5 > 2")).isEqualTo(true);
        assertThat(eval("-destination.port")).isEqualTo(-9080L);
        assertThat(eval("int('42') == 42")).isEqualTo(true);
        assertThat(eval("\"say \\\"hi\\\"\"")).isEqualTo("say \"hi\"");
    }

    @Test
    void headersAreLowerCaseMapsAndTheFallbackCoversMissingValues() {
        assertThat(eval("request.headers['X-Custom']")).isEqualTo("blue");
        assertThat(eval("request.headers['x-missing'] | 'unknown'")).isEqualTo("unknown");
        assertThat(eval("request.headers['x-custom'] | 'unknown'")).isEqualTo("blue");
        assertThat(eval("request.headers['x-missing']")).isNull();
        assertThat(eval("has(request.headers['x-missing'])")).isEqualTo(false);
        assertThat(eval("has(request.headers['x-custom'])")).isEqualTo(true);
        assertThat(eval("has(request.useragent)")).isEqualTo(false);
        // CEL: a missing side loses to the other side's deciding value.
        assertThat(eval("request.headers['x-missing'] == 'a' || response.code == 503")).isEqualTo(true);
        assertThat(eval("request.headers['x-missing'] == 'a' && response.code == 200")).isEqualTo(false);
        assertThat(eval("request.headers['x-missing'] == 'a' && response.code == 503")).isNull();
    }

    @Test
    void stringMethodsAndSizes() {
        assertThat(eval("request.path.startsWith('/api')")).isEqualTo(true);
        assertThat(eval("request.host.endsWith(':9080')")).isEqualTo(true);
        assertThat(eval("upstream_peer.workload.contains('v1')")).isEqualTo(true);
        assertThat(eval("request.path.matches('^/api/v[0-9]+/')")).isEqualTo(true);
        assertThat(eval("request.method.lowerAscii()")).isEqualTo("get");
        assertThat(eval("size(request.headers)")).isEqualTo(2L);
        assertThat(eval("request.method.size()")).isEqualTo(3L);
    }

    @Test
    void testAndLabelViews() {
        Expression e = Expression.parse("response.code >= 400", "f");
        assertThat(e.test(REQUEST)).isTrue();
        Map<String, Object> ok = new HashMap<>();
        ok.put("response.code", 200L);
        assertThat(e.test(Attributes.of(ok))).isFalse();
        assertThat(e.test(Attributes.of(Map.of()))).isFalse(); // no value → false
        assertThat(Expression.parse("response.code", "f").evaluateString(REQUEST)).isEqualTo("503");
        assertThat(Expression.parse("connection.mtls", "f").evaluateString(REQUEST)).isEqualTo("true");
        assertThat(Expression.parse("request.headers", "f").evaluateString(REQUEST)).isNull();
        assertThat(Expression.parse("'a' < 1", "f").evaluate(REQUEST)).isNull(); // type error: no value
        assertThat(Expression.parse("[1, 2][1]", "f").evaluate(REQUEST)).isEqualTo(2L);
        assertThat(Expression.parse("[1, 'a']", "f").evaluate(REQUEST)).isEqualTo(List.of(1L, "a"));
    }

    @Test
    void unsupportedTextIsRefusedWithFieldTextAndPosition() {
        assertThatThrownBy(() -> Expression.parse("request.bogus == 'x'", "spec.accessLogging[0].filter.expression"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("spec.accessLogging[0].filter.expression: unknown attribute request.bogus "
                        + "at position 0 of \"request.bogus == 'x'\"");
        assertThatThrownBy(() -> Expression.parse("response.code >= ", "f"))
                .hasMessageContaining("unexpected end of expression at position 17");
        assertThatThrownBy(() -> Expression.parse("filter_state['x']", "f"))
                .hasMessageContaining("attribute filter_state is not supported at position 0");
        assertThatThrownBy(() -> Expression.parse("response.code = 200", "f"))
                .hasMessageContaining("at position 14");
        assertThatThrownBy(() -> Expression.parse("'abc", "f")).hasMessageContaining("unterminated string");
        assertThatThrownBy(() -> Expression.parse("request.path.matches('(')", "f"))
                .hasMessageContaining("invalid regex");
        assertThatThrownBy(() -> Expression.parse("foo(1)", "f")).hasMessageContaining("unknown function foo()");
        assertThatThrownBy(() -> Expression.parse("request.method.trim()", "f"))
                .hasMessageContaining("unknown method trim()");
        assertThatThrownBy(() -> Expression.parse("has(1, 2)", "f")).hasMessageContaining("has() takes 1 argument");
        assertThatThrownBy(() -> Expression.parse("request", "f")).hasMessageContaining("needs a field");
        assertThatThrownBy(() -> Expression.parse("request.method response.code", "f"))
                .hasMessageContaining("unexpected 'response' at position 15");
        assertThatThrownBy(() -> Expression.parse("a + b", "f")).hasMessageContaining("unknown identifier a");
    }
}
