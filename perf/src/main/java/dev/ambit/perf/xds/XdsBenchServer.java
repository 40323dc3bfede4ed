package dev.ambit.perf.xds;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshResources;
import dev.ambit.istiod.xds.XdsServer;
import dev.ambit.istiod.xds.XdsService;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * The control-plane side of {@link XdsBench}, in its own JVM so its CPU time and heap are
 * its own: the synthetic mesh, the model and the delta xDS server with production
 * debounce settings. Driven over stdin: {@code touch N} changes pod N (model rebuild +
 * push), {@code stats} prints CPU and heap, {@code quit} ends.
 */
public final class XdsBenchServer {

    public static void main(String[] args) throws Exception {
        int pods = Integer.parseInt(args[0]);
        int services = Integer.parseInt(args[1]);
        int nodes = Integer.parseInt(args[2]);
        SyntheticMesh mesh = new SyntheticMesh(pods, services, nodes);
        MeshConfig config = MeshConfig.defaults();
        XdsService xds = XdsService.builder(MetricsRegistry.create()).build();
        xds.update(AmbientModel.build(mesh.snapshot(), config));
        try (XdsServer server = XdsServer.builder(xds)
                .address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).build().start()) {
            System.out.println("port " + server.port());
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                String[] cmd = line.split(" ");
                switch (cmd[0]) {
                    case "touch" -> {
                        long start = System.nanoTime();
                        mesh.touchPod(Integer.parseInt(cmd[1]), cmd[2]);
                        MeshResources next = AmbientModel.build(mesh.snapshot(), config);
                        xds.update(next);
                        System.out.println("rebuilt " + (System.nanoTime() - start) / 1000);
                    }
                    case "stats" -> {
                        System.gc();
                        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
                        long cpu = ((com.sun.management.OperatingSystemMXBean)
                                ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
                        System.out.println("stats " + cpu / 1_000_000 + " " + heap);
                    }
                    case "quit" -> {
                        return;
                    }
                    default -> System.out.println("error unknown command " + line);
                }
            }
        }
    }
}
