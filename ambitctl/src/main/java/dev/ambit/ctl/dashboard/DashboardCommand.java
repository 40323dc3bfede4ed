package dev.ambit.ctl.dashboard;

import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterOptions;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.StateDir;
import dev.ambit.ctl.local.addons.AddonCommand;
import dev.ambit.ctl.local.addons.ScrapeConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ambitctl dashboard}: serves the live mesh view of the local cluster on
 * {@code 127.0.0.1:PORT} until interrupted. Prometheus is the {@code prometheus} addon's
 * Service unless {@code --prometheus} names another; traces come from {@code --zipkin} when given.
 */
@Command(name = "dashboard", mixinStandardHelpOptions = true,
        description = {"Serves the live mesh view of the local cluster: workloads, services, waypoints and gateways",
                "with request rate, error rate, p99 and mTLS per edge (Prometheus: ambitctl local addon enable",
                "prometheus), live L4 denials with the policy and rule that refused them, each pod's enrolment,",
                "and traces from Zipkin when --zipkin is given. Runs until interrupted (Ctrl-C)."})
public final class DashboardCommand implements Callable<Integer> {

    /** Kiali's port, so the view is where users of Istio look for it. */
    static final int DEFAULT_PORT = 20001;

    @Spec CommandSpec spec;
    @Mixin ClusterOptions cluster;

    @Option(names = "--port", defaultValue = "" + DEFAULT_PORT, description = "Port on 127.0.0.1 (default: ${DEFAULT-VALUE}; 0 picks one).")
    int port;

    @Option(names = "--address", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String address;

    @Option(names = "--no-open", description = "Do not open a browser (xdg-open); only print the URL.")
    boolean noOpen;

    @Option(names = "--prometheus", paramLabel = "URL", description = "Prometheus's URL (default: the prometheus addon's Service).")
    URI prometheus;

    @Option(names = "--zipkin", paramLabel = "URL", description = "Zipkin's URL, such as http://127.0.0.1:9411 (default: no traces).")
    URI zipkin;

    @Override
    public Integer call() throws IOException, InterruptedException {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port: " + port + " (expected: 0-65535)");
        }
        StateDir state = cluster.state();
        ClusterInfo.require(state);
        PrintWriter out = spec.commandLine().getOut();
        DashboardServer server;
        try {
            server = DashboardServer.builder(new LocalMeshSources(state))
                    .address(new InetSocketAddress(address, port))
                    // The addon's address is read on every refresh: it may be enabled after the view started.
                    .prometheus(prometheus != null ? () -> prometheus : () -> addonPrometheus(state))
                    .zipkin(zipkin).start();
        } catch (java.net.BindException e) {
            throw new LocalException("--port " + port + ": " + address + ":" + port + " is in use (" + e.getMessage()
                    + "); pick another with --port");
        }
        String url = "http://" + server.address().getHostString() + ":" + server.address().getPort() + "/";
        out.println("mesh view: " + url);
        URI prom = prometheus != null ? prometheus : addonPrometheus(state);
        out.println(prom != null ? "metrics: " + prom : "metrics: none yet (shown once the prometheus addon runs:"
                + " ambitctl local addon enable prometheus; or --prometheus URL)");
        if (zipkin != null) {
            out.println("traces: " + zipkin);
        }
        out.flush();
        if (!noOpen) {
            open(url, out);
        }
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stop.countDown();
        }, "ambit-dashboard-stop"));
        stop.await();
        return 0;
    }

    /** The prometheus addon's LoadBalancer address from status.json, or null without the addon. */
    static URI addonPrometheus(StateDir state) {
        ClusterStatus status;
        try {
            status = ClusterStatus.read(state).orElse(null);
        } catch (LocalException e) {
            return null;
        }
        String ip = status == null ? null : AddonCommand.externalAddress(status);
        return ip == null ? null : URI.create("http://" + ip + ":" + ScrapeConfig.PORT);
    }

    private static void open(String url, PrintWriter out) {
        try {
            new ProcessBuilder("xdg-open", url).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            out.println("(no browser opened: " + e.getMessage() + "; open the URL yourself)");
            out.flush();
        }
    }
}
