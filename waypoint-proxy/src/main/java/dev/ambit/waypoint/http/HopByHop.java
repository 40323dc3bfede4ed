package dev.ambit.waypoint.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;

/** Connection-specific headers (RFC 9110 §7.6.1), which a proxy does not forward. */
final class HopByHop {

    private static final List<String> NAMES = List.of("connection", "keep-alive", "proxy-connection",
            "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization");

    private HopByHop() {}

    /** Removes them, and every header the {@code Connection} header names; {@code TE: trailers} is kept. */
    static void strip(HttpHeaders h) {
        for (String c : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String name : c.split(",")) {
                String n = name.strip();
                if (!n.isEmpty() && !n.equalsIgnoreCase("te")) {
                    h.remove(n);
                }
            }
        }
        for (String n : NAMES) {
            h.remove(n);
        }
        String te = h.get(HttpHeaderNames.TE);
        if (te != null && !te.strip().equalsIgnoreCase("trailers")) {
            h.remove(HttpHeaderNames.TE);
        }
    }
}
