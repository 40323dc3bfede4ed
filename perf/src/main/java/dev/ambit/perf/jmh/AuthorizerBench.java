package dev.ambit.perf.jmh;

import static dev.ambit.testing.MeshFixture.ip;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.proxy.authz.Authorizer;
import dev.ambit.proxy.authz.ConnectionAttributes;
import dev.ambit.proxy.authz.Decision;
import dev.ambit.testing.MeshFixture;
import dev.ambit.proxy.state.ProxyState;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The L4 authorization decision the server-side agent takes for every inbound tunnel
 * ({@link Authorizer} over {@link ProxyState}, as in production), with a realistic policy
 * set: a GLOBAL DENY (namespace {@code evil}), STRICT's DENY-without-identity, a NAMESPACE
 * ALLOW for {@code shop}, a WORKLOAD_SELECTOR ALLOW listing ten principals on ports 8080
 * and 9090, and 100 NAMESPACE policies of other namespaces that never apply.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class AuthorizerBench {

    private Authorizer authorizer;
    private Workload backend;
    private ConnectionAttributes allowed;
    private ConnectionAttributes deniedByGlobal;
    private ConnectionAttributes noAllowMatch;

    @Setup(Level.Trial)
    public void setUp() {
        ProxyState state = ProxyState.create();
        Map<String, Address> addresses = new TreeMap<>();
        MeshFixture.put(addresses, MeshFixture.workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"10.0.0.2"},
                Map.of(MeshFixture.BACKEND, MeshFixture.ports(8080, 8080)), "shop/backend-allow", "shop/strict"));
        state.applyAddresses(addresses, List.of());
        Map<String, Authorization> policies = new TreeMap<>();
        MeshFixture.put(policies, MeshFixture.policy("istio-system", "global-deny", Scope.GLOBAL, Action.DENY, "evil"));
        MeshFixture.put(policies, MeshFixture.policy("shop", "ns-allow", Scope.NAMESPACE, Action.ALLOW, "shop"));
        for (int i = 0; i < 100; i++) {
            MeshFixture.put(policies, MeshFixture.policy("other-" + i, "ns-allow", Scope.NAMESPACE, Action.ALLOW,
                    "other-" + i));
        }
        // STRICT as istiod-lite converts it: DENY connections without an identity.
        MeshFixture.put(policies, Authorization.newBuilder().setNamespace("shop").setName("strict")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNotPrincipals(StringMatch.newBuilder().setPresence(
                                com.google.protobuf.Empty.getDefaultInstance())))))
                .build());
        Match.Builder principals = Match.newBuilder().addDestinationPorts(8080).addDestinationPorts(9090);
        for (int i = 0; i < 9; i++) {
            principals.addPrincipals(StringMatch.newBuilder().setExact("cluster.local/ns/shop/sa/client-" + i));
        }
        principals.addPrincipals(StringMatch.newBuilder().setExact("cluster.local/ns/shop/sa/frontend"));
        MeshFixture.put(policies, Authorization.newBuilder().setNamespace("shop").setName("backend-allow")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.ALLOW)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(principals))).build());
        state.applyAuthorizations(policies, List.of());
        authorizer = Authorizer.of(state);
        backend = state.workload(MeshFixture.uid("backend-1"));
        allowed = ConnectionAttributes.mtls("spiffe://cluster.local/ns/shop/sa/frontend", ip("10.0.0.1"),
                ip("10.0.0.2"), 8080);
        deniedByGlobal = ConnectionAttributes.mtls("spiffe://cluster.local/ns/evil/sa/x", ip("10.0.0.9"),
                ip("10.0.0.2"), 8080);
        noAllowMatch = ConnectionAttributes.mtls("spiffe://cluster.local/ns/shop/sa/stranger", ip("10.0.0.7"),
                ip("10.0.0.2"), 7070);
        if (!decide(allowed).allowed() || decide(deniedByGlobal).allowed()) {
            throw new IllegalStateException("policy fixture: allowed " + decide(allowed) + ", denied "
                    + decide(deniedByGlobal));
        }
    }

    private Decision decide(ConnectionAttributes c) {
        return authorizer.authorize(c, backend);
    }

    @Benchmark
    public Decision allowedByWorkloadPolicy() {
        return decide(allowed);
    }

    @Benchmark
    public Decision deniedByGlobalPolicy() {
        return decide(deniedByGlobal);
    }

    @Benchmark
    public Decision noAllowMatch() {
        return decide(noAllowMatch);
    }

    /** The per-connection attributes the inbound listener builds, plus the decision. */
    @Benchmark
    public Decision attributesAndDecision() {
        return decide(ConnectionAttributes.mtls("spiffe://cluster.local/ns/shop/sa/frontend", allowed.sourceAddress(),
                allowed.destinationAddress(), 8080));
    }
}
