package dev.ambit.perf.xds;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshResources;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * istiod-lite at scale: {@code clients} simulated node agents (one delta ADS stream each,
 * own TCP connection, wildcard on Address and Authorization, ACK everything) against a
 * control plane with {@code pods} pods and {@code services} services in a child JVM.
 *
 * <p>Prints: time from connect to every client holding the complete initial set; for
 * {@code changes} single-pod changes, the time from the change to the last client's ACK
 * (p50/p99), the model rebuild part of it; the control plane's CPU and heap after GC.
 * The baseline in the same run is the model rebuild alone: what a push costs above it is
 * the xDS server's. Figures only, nothing is asserted.
 *
 * <p>Run: {@code perf/run-xds-bench.sh [clients pods services changes]}.
 */
public final class XdsBench {

    public static void main(String[] args) throws Exception {
        int clients = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int pods = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int services = args.length > 2 ? Integer.parseInt(args[2]) : 1_000;
        int changes = args.length > 3 ? Integer.parseInt(args[3]) : 50;
        int nodes = clients;

        MeshResources expected = AmbientModel.build(new SyntheticMesh(pods, services, nodes).snapshot(),
                MeshConfig.defaults());
        int addresses = expected.addresses().size();
        int policies = expected.authorizations().size();

        String java = ProcessHandle.current().info().command().orElse("java");
        Process server = new ProcessBuilder(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                XdsBenchServer.class.getName(), "" + pods, "" + services, "" + nodes)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        PrintWriter in = new PrintWriter(server.getOutputStream(), true, StandardCharsets.UTF_8);
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            int port = Integer.parseInt(expect(out, "port")[1]);
            long[] idle = stats(in, out);

            List<Client> agents = new ArrayList<>();
            CountDownLatch complete = new CountDownLatch(clients);
            long connectStart = System.nanoTime();
            for (int i = 0; i < clients; i++) {
                ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext()
                        .eventLoopGroup(group).channelType(NioSocketChannel.class)
                        .maxInboundMessageSize(256 << 20).build();
                channels.add(ch);
                agents.add(new Client(ch, "node-" + i, addresses, policies, complete));
            }
            if (!complete.await(300, TimeUnit.SECONDS)) {
                throw new IllegalStateException("initial push incomplete after 300 s: " + complete.getCount()
                        + " clients missing resources");
            }
            double firstPushMs = (System.nanoTime() - connectStart) / 1e6;
            long[] afterInitial = stats(in, out);

            long[] latencies = new long[changes];
            long[] rebuilds = new long[changes];
            for (int c = 0; c < changes; c++) {
                int pod = (c * 7919) % pods;
                String uid = AmbientModel.podUid(MeshConfig.defaults(), "ns-" + (pod / 100), "pod-" + pod);
                CountDownLatch acked = new CountDownLatch(clients);
                agents.forEach(a -> a.awaitName(uid, acked));
                long t0 = System.nanoTime();
                in.println("touch " + pod + " v" + (c + 2));
                rebuilds[c] = Long.parseLong(expect(out, "rebuilt")[1]);
                if (!acked.await(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("change " + c + " not ACKed by " + acked.getCount() + " clients in 60 s");
                }
                latencies[c] = (System.nanoTime() - t0) / 1000;
            }
            long[] end = stats(in, out);
            in.println("quit");

            Arrays.sort(latencies);
            Arrays.sort(rebuilds);
            System.out.printf(Locale.ROOT, "%nistiod-lite xDS: %d clients, %d pods, %d services (%d addresses, %d policies)%n",
                    clients, pods, services, addresses, policies);
            System.out.printf(Locale.ROOT, "first full push to all clients   %10.0f ms%n", firstPushMs);
            System.out.printf(Locale.ROOT, "pod change -> all ACKs  p50 %8.1f ms   p99 %8.1f ms   (%d changes)%n",
                    pct(latencies, 50) / 1000.0, pct(latencies, 99) / 1000.0, changes);
            System.out.printf(Locale.ROOT, "  baseline: model rebuild p50 %5.1f ms   p99 %8.1f ms   (debounce quiet period 100 ms included above)%n",
                    pct(rebuilds, 50) / 1000.0, pct(rebuilds, 99) / 1000.0);
            System.out.printf(Locale.ROOT, "control plane CPU: initial push %d ms, %d changes %d ms%n",
                    afterInitial[0] - idle[0], changes, end[0] - afterInitial[0]);
            System.out.printf(Locale.ROOT, "control plane heap after GC: idle %.1f MiB, %d clients %.1f MiB%n",
                    idle[1] / 1048576.0, clients, end[1] / 1048576.0);
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            server.destroy();
            server.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static long pct(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1)];
    }

    private static long[] stats(PrintWriter in, BufferedReader out) throws Exception {
        in.println("stats");
        String[] s = expect(out, "stats");
        return new long[] {Long.parseLong(s[1]), Long.parseLong(s[2])};
    }

    private static String[] expect(BufferedReader out, String word) throws Exception {
        String line = out.readLine();
        if (line == null || !line.startsWith(word + " ")) {
            throw new IllegalStateException("bench server said " + line + " (expected: " + word + " ...)");
        }
        return line.split(" ");
    }

    /** One simulated node agent: wildcard subscriptions, ACKs every response. */
    private static final class Client implements StreamObserver<DeltaDiscoveryResponse> {
        private final StreamObserver<DeltaDiscoveryRequest> requests;
        private final int addresses;
        private final int policies;
        private final CountDownLatch complete;
        private final ConcurrentHashMap<String, Boolean> seenAddresses = new ConcurrentHashMap<>();
        private final ConcurrentHashMap<String, Boolean> seenPolicies = new ConcurrentHashMap<>();
        private volatile boolean done;
        private volatile String awaitedName;
        private volatile CountDownLatch awaited;

        Client(ManagedChannel channel, String node, int addresses, int policies, CountDownLatch complete) {
            this.addresses = addresses;
            this.policies = policies;
            this.complete = complete;
            requests = AggregatedDiscoveryServiceGrpc.newStub(channel).deltaAggregatedResources(this);
            for (String type : List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION)) {
                send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type)
                        .setNode(Node.newBuilder().setId("ztunnel~" + node)).build());
            }
        }

        void awaitName(String name, CountDownLatch latch) {
            awaited = latch; // latch before name: onNext reads the name first
            awaitedName = name;
        }

        private synchronized void send(DeltaDiscoveryRequest r) {
            requests.onNext(r);
        }

        @Override
        public void onNext(DeltaDiscoveryResponse r) {
            var seen = r.getTypeUrl().equals(TypeUrls.ADDRESS) ? seenAddresses : seenPolicies;
            boolean hit = false;
            for (var res : r.getResourcesList()) {
                seen.put(res.getName(), Boolean.TRUE);
                hit |= res.getName().equals(awaitedName);
            }
            send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(r.getTypeUrl()).setResponseNonce(r.getNonce()).build());
            CountDownLatch latch = awaited;
            if (hit && latch != null) {
                awaitedName = null;
                latch.countDown(); // counted after the ACK above was sent
            }
            if (!done && seenAddresses.size() >= addresses && seenPolicies.size() >= policies) {
                done = true;
                complete.countDown();
            }
        }

        @Override
        public void onError(Throwable t) {
            System.err.println("xDS stream failed: " + t);
        }

        @Override
        public void onCompleted() {}
    }
}
