package dev.ambit.common.json;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonWriterTest {

    @Test
    void writesNestedValuesWithCommasAndEscapes() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("a", "1");
        m.put("b\"", "x\ny");
        String json = new JsonWriter().open('{')
                .key("s").value("q\"\\\t\u0001")
                .key("n").value(42)
                .key("t").value(true)
                .key("null").value((String) null)
                .key("list").list(List.of("x", "y"))
                .key("map").map(m)
                .key("raw").raw("{\"k\": [1, 2]}")
                .key("empty").open('[').close(']')
                .close('}').toString();
        assertThat(json).isEqualTo("{\"s\":\"q\\\"\\\\\\t\\u0001\",\"n\":42,\"t\":true,\"null\":null,"
                + "\"list\":[\"x\",\"y\"],\"map\":{\"a\":\"1\",\"b\\\"\":\"x\\ny\"},\"raw\":{\"k\": [1, 2]},\"empty\":[]}");
        assertThat(JsonWriter.quote("a\"b")).isEqualTo("\"a\\\"b\"");
    }
}
