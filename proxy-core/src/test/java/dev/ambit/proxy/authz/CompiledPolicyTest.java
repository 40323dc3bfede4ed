package dev.ambit.proxy.authz;

import static dev.ambit.proxy.authz.Policies.MTLS_FRONTEND;
import static dev.ambit.proxy.authz.Policies.cidr16;
import static dev.ambit.proxy.authz.Policies.cidr;
import static dev.ambit.proxy.authz.Policies.exact;
import static dev.ambit.proxy.authz.Policies.from;
import static dev.ambit.proxy.authz.Policies.ip;
import static dev.ambit.proxy.authz.Policies.mapped;
import static dev.ambit.proxy.authz.Policies.mappedBytes;
import static dev.ambit.proxy.authz.Policies.match;
import static dev.ambit.proxy.authz.Policies.mtls;
import static dev.ambit.proxy.authz.Policies.oneMatch;
import static dev.ambit.proxy.authz.Policies.plaintext;
import static dev.ambit.proxy.authz.Policies.policy;
import static dev.ambit.proxy.authz.Policies.prefix;
import static dev.ambit.proxy.authz.Policies.presence;
import static dev.ambit.proxy.authz.Policies.rule;
import static dev.ambit.proxy.authz.Policies.sa;
import static dev.ambit.proxy.authz.Policies.suffix;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Address;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import org.junit.jupiter.api.Test;

/** Matching of one policy: rule/clause/match structure and every Match field. */
class CompiledPolicyTest {

    private static boolean matches(Match.Builder m, ConnectionAttributes c) {
        return CompiledPolicy.compile(oneMatch(Action.ALLOW, m)).matches(c);
    }

    // Structure

    @Test
    void noRulesMatchesNothing() {
        CompiledPolicy p = CompiledPolicy.compile(policy("shop", "p", Scope.NAMESPACE, Action.ALLOW).build());
        assertThat(p.matches(mtls(MTLS_FRONTEND))).isFalse();
        assertThat(p.matches(plaintext())).isFalse();
    }

    @Test
    void ruleWithoutClausesMatchesEverything() {
        CompiledPolicy p = CompiledPolicy.compile(
                policy("shop", "p", Scope.NAMESPACE, Action.ALLOW).addRules(Rule.getDefaultInstance()).build());
        assertThat(p.matches(mtls(MTLS_FRONTEND))).isTrue();
        assertThat(p.matches(plaintext())).isTrue();
    }

    @Test
    void matchWithoutFieldsMatchesEverything() {
        assertThat(matches(match(), plaintext())).isTrue();
    }

    @Test
    void clauseWithoutMatchesMatchesNothing() {
        CompiledPolicy p = CompiledPolicy.compile(policy("shop", "p", Scope.NAMESPACE, Action.ALLOW)
                .addRules(Rule.newBuilder().addClauses(Clause.getDefaultInstance())).build());
        assertThat(p.matches(mtls(MTLS_FRONTEND))).isFalse();
    }

    @Test
    void rulesAreOredClausesAndedMatchesOred() {
        Match.Builder port80 = match().addDestinationPorts(80);
        Match.Builder port8080 = match().addDestinationPorts(8080);
        Match.Builder fromShop = match().addNamespaces(exact("shop"));
        Match.Builder fromOther = match().addNamespaces(exact("other"));

        // One rule, clauses AND-ed: port 80 AND from shop.
        CompiledPolicy and = CompiledPolicy.compile(policy("shop", "p", Scope.NAMESPACE, Action.ALLOW)
                .addRules(rule(port80, fromShop)).build());
        assertThat(and.matches(from("10.0.0.1", "10.0.1.1", 80))).isTrue();
        assertThat(and.matches(from("10.0.0.1", "10.0.1.1", 8080))).isFalse();

        // One clause, matches OR-ed: port 80 OR port 8080.
        CompiledPolicy or = CompiledPolicy.compile(oneMatch(Action.ALLOW, port80, port8080));
        assertThat(or.matches(from("10.0.0.1", "10.0.1.1", 8080))).isTrue();
        assertThat(or.matches(from("10.0.0.1", "10.0.1.1", 9090))).isFalse();

        // Two rules, OR-ed: (port 80 AND from other) OR (port 8080).
        CompiledPolicy rules = CompiledPolicy.compile(policy("shop", "p", Scope.NAMESPACE, Action.ALLOW)
                .addRules(rule(port80, fromOther)).addRules(rule(port8080)).build());
        assertThat(rules.matches(from("10.0.0.1", "10.0.1.1", 80))).isFalse();
        assertThat(rules.matches(from("10.0.0.1", "10.0.1.1", 8080))).isTrue();
    }

    @Test
    void fieldsWithinAMatchAreAnded() {
        Match.Builder m = match().addDestinationPorts(8080).addPrincipals(exact("cluster.local/ns/shop/sa/other"));
        assertThat(matches(m, mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(m, mtls("cluster.local/ns/shop/sa/other"))).isTrue();
    }

    // Principals and string matching

    @Test
    void principalsExactPrefixSuffixPresence() {
        assertThat(matches(match().addPrincipals(exact(MTLS_FRONTEND)), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addPrincipals(exact("cluster.local/ns/shop/sa/front")), mtls(MTLS_FRONTEND)))
                .isFalse();
        assertThat(matches(match().addPrincipals(prefix("cluster.local/ns/shop/")), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addPrincipals(prefix("cluster.local/ns/web/")), mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(match().addPrincipals(suffix("/sa/frontend")), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addPrincipals(suffix("/sa/backend")), mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(match().addPrincipals(presence()), mtls(MTLS_FRONTEND))).isTrue();
    }

    @Test
    void principalsAreOred() {
        Match.Builder m = match().addPrincipals(exact("cluster.local/ns/a/sa/b")).addPrincipals(suffix("/frontend"));
        assertThat(matches(m, mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(m, mtls("cluster.local/ns/shop/sa/backend"))).isFalse();
    }

    @Test
    void withoutIdentityNoPositivePrincipalMatches() {
        assertThat(matches(match().addPrincipals(presence()), plaintext())).isFalse();
        assertThat(matches(match().addPrincipals(prefix("")), plaintext())).isFalse();
        assertThat(matches(match().addPrincipals(suffix("")), plaintext())).isFalse();
        assertThat(matches(match().addPrincipals(exact("")), plaintext())).isFalse();
    }

    @Test
    void notPrincipals() {
        Match.Builder notFrontend = match().addNotPrincipals(exact(MTLS_FRONTEND));
        assertThat(matches(notFrontend, mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(notFrontend, mtls("cluster.local/ns/shop/sa/backend"))).isTrue();
        assertThat(matches(notFrontend, plaintext())).isTrue();
    }

    @Test
    void notPrincipalsPresenceMatchesOnlyWithoutIdentity() {
        Match.Builder noIdentity = match().addNotPrincipals(presence());
        assertThat(matches(noIdentity, plaintext())).isTrue();
        assertThat(matches(noIdentity, mtls(MTLS_FRONTEND))).isFalse();
        // An empty principal is no identity.
        ConnectionAttributes empty = new ConnectionAttributes("", "", "", ip("10.0.0.1"), ip("10.0.1.1"), 80);
        assertThat(matches(noIdentity, empty)).isTrue();
    }

    // Namespaces

    @Test
    void namespaces() {
        assertThat(matches(match().addNamespaces(exact("shop")), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addNamespaces(exact("web")), mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(match().addNamespaces(prefix("sh")), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addNamespaces(suffix("op")), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addNamespaces(suffix("eb")), mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(match().addNamespaces(presence()), mtls(MTLS_FRONTEND))).isTrue();
        assertThat(matches(match().addNamespaces(presence()), plaintext())).isFalse();
        // The namespace comes from the identity, not from the principal string's other parts.
        assertThat(matches(match().addNamespaces(exact("cluster.local")), mtls(MTLS_FRONTEND))).isFalse();
    }

    @Test
    void notNamespaces() {
        Match.Builder notShop = match().addNotNamespaces(exact("shop")).addNotNamespaces(exact("web"));
        assertThat(matches(notShop, mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(notShop, mtls("cluster.local/ns/web/sa/x"))).isFalse();
        assertThat(matches(notShop, mtls("cluster.local/ns/batch/sa/x"))).isTrue();
        assertThat(matches(notShop, plaintext())).isTrue();
        assertThat(matches(match().addNotNamespaces(presence()), plaintext())).isTrue();
        assertThat(matches(match().addNotNamespaces(presence()), mtls(MTLS_FRONTEND))).isFalse();
    }

    // Service accounts

    @Test
    void serviceAccounts() {
        Match.Builder m = match().addServiceAccounts(sa("web", "frontend")).addServiceAccounts(sa("shop", "frontend"));
        assertThat(matches(m, mtls(MTLS_FRONTEND))).isTrue();
        // Same account name, other namespace; same namespace, other account.
        assertThat(matches(m, mtls("cluster.local/ns/batch/sa/frontend"))).isFalse();
        assertThat(matches(m, mtls("cluster.local/ns/shop/sa/backend"))).isFalse();
        assertThat(matches(m, plaintext())).isFalse();
    }

    @Test
    void notServiceAccounts() {
        Match.Builder m = match().addNotServiceAccounts(sa("shop", "frontend"));
        assertThat(matches(m, mtls(MTLS_FRONTEND))).isFalse();
        assertThat(matches(m, mtls("cluster.local/ns/shop/sa/backend"))).isTrue();
        assertThat(matches(m, mtls("cluster.local/ns/web/sa/frontend"))).isTrue();
        assertThat(matches(m, plaintext())).isTrue();
    }

    // Addresses

    @Test
    void sourceIps() {
        Match.Builder m = match().addSourceIps(cidr("10.0.0.0/24")).addSourceIps(cidr("192.168.1.7/32"));
        assertThat(matches(m, from("10.0.0.255", "10.0.1.1", 80))).isTrue();
        assertThat(matches(m, from("10.0.1.0", "10.0.1.1", 80))).isFalse();
        assertThat(matches(m, from("192.168.1.7", "10.0.1.1", 80))).isTrue();
        assertThat(matches(m, from("192.168.1.8", "10.0.1.1", 80))).isFalse();
        // The destination address is not the source.
        assertThat(matches(m, from("172.16.0.1", "10.0.0.5", 80))).isFalse();
    }

    @Test
    void notSourceIps() {
        Match.Builder m = match().addNotSourceIps(cidr("10.0.0.0/8"));
        assertThat(matches(m, from("10.200.0.1", "1.1.1.1", 80))).isFalse();
        assertThat(matches(m, from("11.0.0.1", "1.1.1.1", 80))).isTrue();
    }

    @Test
    void destinationIps() {
        Match.Builder m = match().addDestinationIps(cidr("10.0.1.0/24"));
        assertThat(matches(m, from("172.16.0.1", "10.0.1.9", 80))).isTrue();
        assertThat(matches(m, from("10.0.1.9", "172.16.0.1", 80))).isFalse();
    }

    @Test
    void notDestinationIps() {
        Match.Builder m = match().addNotDestinationIps(cidr("10.0.1.0/24"));
        assertThat(matches(m, from("172.16.0.1", "10.0.1.9", 80))).isFalse();
        assertThat(matches(m, from("10.0.1.9", "172.16.0.1", 80))).isTrue();
    }

    @Test
    void ipv4PrefixEdges() {
        Match.Builder all = match().addSourceIps(cidr("0.0.0.0/0"));
        assertThat(matches(all, from("0.0.0.0", "10.0.1.1", 80))).isTrue();
        assertThat(matches(all, from("255.255.255.255", "10.0.1.1", 80))).isTrue();
        assertThat(matches(all, from("2001:db8::1", "10.0.1.1", 80))).as("IPv6 is not in 0.0.0.0/0").isFalse();

        Match.Builder one = match().addSourceIps(cidr("10.1.2.3/32"));
        assertThat(matches(one, from("10.1.2.3", "10.0.1.1", 80))).isTrue();
        assertThat(matches(one, from("10.1.2.2", "10.0.1.1", 80))).isFalse();
        assertThat(matches(one, from("10.1.2.4", "10.0.1.1", 80))).isFalse();

        // Boundaries of an odd-sized prefix: 10.0.0.64/26 is .64 to .127.
        Match.Builder odd = match().addSourceIps(cidr("10.0.0.64/26"));
        assertThat(matches(odd, from("10.0.0.63", "10.0.1.1", 80))).isFalse();
        assertThat(matches(odd, from("10.0.0.64", "10.0.1.1", 80))).isTrue();
        assertThat(matches(odd, from("10.0.0.127", "10.0.1.1", 80))).isTrue();
        assertThat(matches(odd, from("10.0.0.128", "10.0.1.1", 80))).isFalse();

        // High bit set (sign of the packed long must not matter).
        Match.Builder high = match().addSourceIps(cidr("200.0.0.0/8"));
        assertThat(matches(high, from("200.255.0.1", "10.0.1.1", 80))).isTrue();
        assertThat(matches(high, from("201.0.0.1", "10.0.1.1", 80))).isFalse();
    }

    @Test
    void hostBitsInTheCidrAreIgnored() {
        Match.Builder m = match().addSourceIps(cidr("10.0.0.77/24"));
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 80))).isTrue();
        assertThat(matches(m, from("10.0.1.77", "10.0.1.1", 80))).isFalse();
    }

    @Test
    void ipv6() {
        Match.Builder m = match().addSourceIps(cidr("2001:db8:1::/48"));
        assertThat(matches(m, from("2001:db8:1:ffff::1", "::1", 80))).isTrue();
        assertThat(matches(m, from("2001:db8:2::1", "::1", 80))).isFalse();
        assertThat(matches(m, from("10.0.0.1", "::1", 80))).isFalse();

        // Prefixes on both sides of the 64-bit halves.
        Match.Builder p64 = match().addSourceIps(cidr("2001:db8:0:7::/64"));
        assertThat(matches(p64, from("2001:db8:0:7:ffff:ffff:ffff:ffff", "::1", 80))).isTrue();
        assertThat(matches(p64, from("2001:db8:0:8::", "::1", 80))).isFalse();
        Match.Builder p65 = match().addSourceIps(cidr("2001:db8::8000:0:0:0/65"));
        assertThat(matches(p65, from("2001:db8::8000:0:0:1", "::1", 80))).isTrue();
        assertThat(matches(p65, from("2001:db8::7fff:0:0:1", "::1", 80))).isFalse();

        Match.Builder one = match().addSourceIps(cidr("2001:db8::5/128"));
        assertThat(matches(one, from("2001:db8::5", "::1", 80))).isTrue();
        assertThat(matches(one, from("2001:db8::4", "::1", 80))).isFalse();

        Match.Builder all = match().addSourceIps(cidr("::/0"));
        assertThat(matches(all, from("2001:db8::5", "::1", 80))).isTrue();
        assertThat(matches(all, from("10.0.0.1", "::1", 80))).as("IPv4 is not in ::/0").isFalse();
        assertThat(matches(all, from(mapped("10.0.0.1").getHostAddress(), "::1", 80))).isFalse();
    }

    @Test
    void ipv4MappedAddressesAreIpv4() {
        ConnectionAttributes viaMapped =
                ConnectionAttributes.mtls(MTLS_FRONTEND, mapped("10.0.0.9"), mapped("10.0.1.1"), 80);
        assertThat(viaMapped.sourceAddress().getAddress()).hasSize(16);
        assertThat(matches(match().addSourceIps(cidr("10.0.0.0/24")), viaMapped)).isTrue();
        assertThat(matches(match().addSourceIps(cidr("10.0.2.0/24")), viaMapped)).isFalse();
        assertThat(matches(match().addNotSourceIps(cidr("10.0.0.9/32")), viaMapped)).isFalse();
        assertThat(matches(match().addDestinationIps(cidr("10.0.1.1/32")), viaMapped)).isTrue();
        assertThat(matches(match().addSourceIps(cidr("::/0")), viaMapped)).isFalse();

        // A CIDR written in mapped form is an IPv4 CIDR and matches plain IPv4 addresses.
        Match.Builder mappedCidr = match().addSourceIps(cidr16(mappedBytes("10.0.0.0"), 96 + 24));
        assertThat(matches(mappedCidr, from("10.0.0.9", "10.0.1.1", 80))).isTrue();
        assertThat(matches(mappedCidr, from("10.0.3.9", "10.0.1.1", 80))).isFalse();
        assertThat(matches(mappedCidr, viaMapped)).isTrue();
    }

    // Ports

    @Test
    void destinationPorts() {
        Match.Builder m = match().addDestinationPorts(9090).addDestinationPorts(80).addDestinationPorts(443);
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 80))).isTrue();
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 443))).isTrue();
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 9090))).isTrue();
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 8080))).isFalse();
    }

    @Test
    void notDestinationPorts() {
        Match.Builder m = match().addNotDestinationPorts(15021).addNotDestinationPorts(22);
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 22))).isFalse();
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 15021))).isFalse();
        assertThat(matches(m, from("10.0.0.1", "10.0.1.1", 8080))).isTrue();
    }

    // Malformed input

    @Test
    void malformedPoliciesAreRejectedWithTheirLocation() {
        assertThatThrownBy(() -> CompiledPolicy.compile(oneMatch(Action.ALLOW,
                match().addPrincipals(StringMatch.getDefaultInstance()))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("shop/p").hasMessageContaining("rules[0].clauses[0].matches[0].principals");
        assertThatThrownBy(() -> CompiledPolicy.compile(oneMatch(Action.ALLOW,
                match().addSourceIps(Address.newBuilder().setLength(8)))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("source_ips");
        assertThatThrownBy(() -> CompiledPolicy.compile(oneMatch(Action.ALLOW,
                match().addDestinationIps(cidr("10.0.0.0/8").toBuilder().setLength(33)))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/33");
        assertThatThrownBy(() -> CompiledPolicy.compile(oneMatch(Action.ALLOW,
                match().addNotSourceIps(cidr("::/0").toBuilder().setLength(129)))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/129");
        assertThatThrownBy(() -> CompiledPolicy.compile(oneMatch(Action.ALLOW,
                match().addDestinationPorts(65536))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("65536");
        assertThatThrownBy(() -> CompiledPolicy.compile(oneMatch(Action.ALLOW,
                match().addNotDestinationPorts(-1))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("4294967295");
        assertThatThrownBy(() -> CompiledPolicy.compile(Authorization.newBuilder().setName("x").setNamespace("y")
                .setActionValue(7).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("y/x: action");
        assertThatThrownBy(() -> CompiledPolicy.compile(Authorization.newBuilder().setName("x").setNamespace("y")
                .setScopeValue(9).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("y/x: scope");
    }

    @Test
    void accessors() {
        CompiledPolicy p = CompiledPolicy.compile(policy("shop", "deny-legacy", Scope.WORKLOAD_SELECTOR, Action.DENY)
                .setDryRun(true).build());
        assertThat(p.key()).isEqualTo("shop/deny-legacy");
        assertThat(p.namespace()).isEqualTo("shop");
        assertThat(p.name()).isEqualTo("deny-legacy");
        assertThat(p.scope()).isEqualTo(Scope.WORKLOAD_SELECTOR);
        assertThat(p.action()).isEqualTo(Action.DENY);
        assertThat(p.dryRun()).isTrue();
        assertThat(p.toString()).isEqualTo("shop/deny-legacy (WORKLOAD_SELECTOR DENY dry-run, 0 rules)");
    }
}
