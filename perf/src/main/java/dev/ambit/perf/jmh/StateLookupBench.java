package dev.ambit.perf.jmh;

import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.proxy.state.Endpoint;
import dev.ambit.testing.MeshFixture;
import dev.ambit.proxy.state.ProxyState;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The lookups the outbound path does for every captured connection, in {@link ProxyState}
 * holding {@code pods} workloads behind {@code pods / 10} services (ten endpoints each):
 * the source pod by uid, the original destination as a Service VIP:port and its endpoints,
 * or as a workload address. Keys rotate over all entries, so caches do not flatter.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class StateLookupBench {

    @Param({"10000"})
    public int pods;

    private ProxyState state;
    private String[] uids;
    private InetAddress[] podIps;
    private InetAddress[] vips;
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        state = ProxyState.create();
        Map<String, Address> addresses = new HashMap<>();
        int services = pods / 10;
        uids = new String[pods];
        podIps = new InetAddress[pods];
        vips = new InetAddress[services];
        for (int s = 0; s < services; s++) {
            String vip = "10.96." + (s / 250) + "." + (s % 250 + 1);
            vips[s] = InetAddress.getByName(vip);
            MeshFixture.put(addresses, MeshFixture.service("svc-" + s, vip, 8080, 8080));
        }
        for (int p = 0; p < pods; p++) {
            String ip = "10.1." + (p / 250) + "." + (p % 250 + 1);
            podIps[p] = InetAddress.getByName(ip);
            String service = "shop/svc-" + (p / 10) + ".shop.svc.cluster.local";
            Address a = MeshFixture.workload("pod-" + p, WorkloadStatus.HEALTHY, new String[] {ip},
                    Map.of(service, MeshFixture.ports(8080, 8080)));
            uids[p] = a.getWorkload().getUid();
            MeshFixture.put(addresses, a);
        }
        state.applyAddresses(addresses, List.of());
        if (state.workloadCount() != pods || state.endpoints(state.serviceByVip(vips[0], 8080), 8080).size() != 10) {
            throw new IllegalStateException("fixture: " + state.workloadCount() + " workloads");
        }
    }

    private int next(int n) {
        int i = next++;
        if (next >= n) {
            next = 0;
        }
        return i % n;
    }

    @Benchmark
    public Workload workloadByUid() {
        return state.workload(uids[next(uids.length)]);
    }

    @Benchmark
    public Workload workloadByAddress() {
        return state.workloadByAddress(podIps[next(podIps.length)]);
    }

    @Benchmark
    public List<Endpoint> serviceByVipAndEndpoints() {
        Service s = state.serviceByVip(vips[next(vips.length)], 8080);
        return state.endpoints(s, 8080);
    }
}
