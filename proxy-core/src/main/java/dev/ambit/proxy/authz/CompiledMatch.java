package dev.ambit.proxy.authz;

import dev.ambit.api.security.Match;
import dev.ambit.api.security.ServiceAccountMatch;
import java.util.Arrays;
import java.util.List;

/**
 * One {@link Match}: every non-empty field must hold (AND), each field is an OR of its
 * values, and a {@code not_} field holds when none of its values match. Empty fields are
 * {@code null} and skipped, so a match with no fields matches every connection.
 */
final class CompiledMatch {

    private final StringMatcher namespaces;
    private final StringMatcher notNamespaces;
    private final StringMatcher principals;
    private final StringMatcher notPrincipals;
    private final String[] serviceAccounts; // namespace, account, namespace, account, ...
    private final String[] notServiceAccounts;
    private final CidrSet sourceIps;
    private final CidrSet notSourceIps;
    private final CidrSet destinationIps;
    private final CidrSet notDestinationIps;
    private final int[] destinationPorts; // sorted, for binarySearch
    private final int[] notDestinationPorts;

    CompiledMatch(Match m) {
        namespaces = StringMatcher.compile(m.getNamespacesList(), "namespaces");
        notNamespaces = StringMatcher.compile(m.getNotNamespacesList(), "not_namespaces");
        principals = StringMatcher.compile(m.getPrincipalsList(), "principals");
        notPrincipals = StringMatcher.compile(m.getNotPrincipalsList(), "not_principals");
        serviceAccounts = serviceAccounts(m.getServiceAccountsList());
        notServiceAccounts = serviceAccounts(m.getNotServiceAccountsList());
        sourceIps = CidrSet.compile(m.getSourceIpsList(), "source_ips");
        notSourceIps = CidrSet.compile(m.getNotSourceIpsList(), "not_source_ips");
        destinationIps = CidrSet.compile(m.getDestinationIpsList(), "destination_ips");
        notDestinationIps = CidrSet.compile(m.getNotDestinationIpsList(), "not_destination_ips");
        destinationPorts = ports(m.getDestinationPortsList(), "destination_ports");
        notDestinationPorts = ports(m.getNotDestinationPortsList(), "not_destination_ports");
    }

    boolean matches(Evaluation e) {
        // Cheapest checks first: ports and addresses are plain arithmetic.
        if (destinationPorts != null && Arrays.binarySearch(destinationPorts, e.port) < 0) {
            return false;
        }
        if (notDestinationPorts != null && Arrays.binarySearch(notDestinationPorts, e.port) >= 0) {
            return false;
        }
        if (destinationIps != null && !destinationIps.contains(e.dstHi, e.dstLo)) {
            return false;
        }
        if (notDestinationIps != null && notDestinationIps.contains(e.dstHi, e.dstLo)) {
            return false;
        }
        if (sourceIps != null && !sourceIps.contains(e.srcHi, e.srcLo)) {
            return false;
        }
        if (notSourceIps != null && notSourceIps.contains(e.srcHi, e.srcLo)) {
            return false;
        }
        if (principals != null && !principals.matches(e.principal)) {
            return false;
        }
        if (notPrincipals != null && notPrincipals.matches(e.principal)) {
            return false;
        }
        if (namespaces != null && !namespaces.matches(e.namespace)) {
            return false;
        }
        if (notNamespaces != null && notNamespaces.matches(e.namespace)) {
            return false;
        }
        if (serviceAccounts != null && !containsAccount(serviceAccounts, e)) {
            return false;
        }
        return notServiceAccounts == null || !containsAccount(notServiceAccounts, e);
    }

    private static boolean containsAccount(String[] pairs, Evaluation e) {
        if (e.namespace == null || e.serviceAccount == null) {
            return false; // no identity: no service account to compare
        }
        for (int i = 0; i < pairs.length; i += 2) {
            if (pairs[i].equals(e.namespace) && pairs[i + 1].equals(e.serviceAccount)) {
                return true;
            }
        }
        return false;
    }

    private static String[] serviceAccounts(List<ServiceAccountMatch> accounts) {
        if (accounts.isEmpty()) {
            return null;
        }
        String[] pairs = new String[accounts.size() * 2];
        for (int i = 0; i < accounts.size(); i++) {
            pairs[2 * i] = accounts.get(i).getNamespace();
            pairs[2 * i + 1] = accounts.get(i).getServiceAccount();
        }
        return pairs;
    }

    private static int[] ports(List<Integer> ports, String field) {
        if (ports.isEmpty()) {
            return null;
        }
        int[] sorted = new int[ports.size()];
        for (int i = 0; i < sorted.length; i++) {
            int p = ports.get(i); // uint32: above 2^31 arrives negative
            if (p < 0 || p > 65535) {
                throw new IllegalArgumentException(field + ": " + Integer.toUnsignedString(p)
                        + " (expected: 0-65535)");
            }
            sorted[i] = p;
        }
        Arrays.sort(sorted);
        return sorted;
    }
}
