package dev.ambit.agent.proxy;

import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.net.Transport;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Tracing (issue 19) at L4: a tunnel's CONNECT carries a {@code traceparent}; the sending agent
 * (reporter source) and the receiving one (reporter destination) both log its trace id as
 * {@code trace_id}, so the two access-log lines of one connection join up, as ztunnel's
 * connection span id does.
 */
class TunnelTraceIdTest {

    @RegisterExtension
    final TwoAgents agents = TwoAgents.builder().transport(Transport.EPOLL).loops(1, 1)
            .backendIdentities(TestCa.BACKEND).build();

    private final Logger access = Logger.getLogger("ambit.access");
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            lines.add(record.getMessage());
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeEach
    void capture() {
        access.addHandler(capture);
    }

    @AfterEach
    void release() {
        access.removeHandler(capture);
    }

    @Test
    void bothEndsOfATunnelLogTheTraceIdOfItsConnect() throws Exception {
        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(TwoAgentsTest.FRONTEND_IP, 0));
            agents.originalDestination(s.getLocalPort(), TwoAgents.BACKEND_VIP);
            s.connect(agents.outboundA().localAddress(), 10_000);
            s.getOutputStream().write("traced".getBytes(US_ASCII));
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes(), US_ASCII)).startsWith("traced");
        }
        ObjectMapper json = new ObjectMapper();
        eventually(() -> assertThat(lines).hasSize(2));
        JsonNode a = null;
        JsonNode b = null;
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            if (n.get("reporter").asText().equals("source")) {
                a = n;
            } else {
                b = n;
            }
        }
        assertThat(a).as("agent A's line in %s", lines).isNotNull();
        assertThat(b).as("agent B's line in %s", lines).isNotNull();
        assertThat(a.get("trace_id").asText()).matches("[0-9a-f]{32}");
        assertThat(b.get("trace_id").asText()).isEqualTo(a.get("trace_id").asText());
        assertThat(b.get("dst.workload").asText()).isEqualTo("backend-1");
    }
}
