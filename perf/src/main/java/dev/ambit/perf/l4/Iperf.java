package dev.ambit.perf.l4;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Optional;

/** What one {@code iperf3 -J} client run reported: the receiver's rate. */
record Iperf(double gbps, double seconds, long retransmits) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Parses iperf3's JSON report; empty if it holds no result (its {@code error} then says why). */
    static Optional<Iperf> parse(String json) {
        try {
            JsonNode root = JSON.readTree(json);
            JsonNode received = root.path("end").path("sum_received");
            if (!received.has("bits_per_second")) {
                return Optional.empty();
            }
            return Optional.of(new Iperf(received.get("bits_per_second").asDouble() / 1e9,
                    received.path("seconds").asDouble(),
                    root.path("end").path("sum_sent").path("retransmits").asLong()));
        } catch (Exception e) {
            return Optional.empty();
        }
    }

    /** iperf3's own error message from its JSON report, or the start of the output. */
    static String error(String json) {
        try {
            JsonNode e = JSON.readTree(json).path("error");
            if (e.isTextual()) {
                return e.asText();
            }
        } catch (Exception ignored) {
            // not JSON
        }
        return json.length() > 300 ? json.substring(0, 300) : json;
    }
}
