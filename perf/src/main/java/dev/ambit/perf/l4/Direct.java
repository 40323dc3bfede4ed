package dev.ambit.perf.l4;

import dev.ambit.testing.TestNetwork.Node;
import java.util.List;

/** No proxy: the client pod talks to the server pod across the bridge. The limit. */
record Direct(Node client, Node server) implements Scenario {

    @Override
    public String name() {
        return "direct";
    }

    @Override
    public String httpUrl() {
        return "http://" + BenchEnv.ip(server) + ":" + BenchEnv.HTTP_PORT + "/";
    }

    @Override
    public String iperfHost() {
        return BenchEnv.ip(server);
    }

    @Override
    public int iperfPort() {
        return BenchEnv.IPERF_PORT;
    }

    @Override
    public List<Proc> proxies() {
        return List.of();
    }

    @Override
    public void start() {}

    @Override
    public void close() {}
}
