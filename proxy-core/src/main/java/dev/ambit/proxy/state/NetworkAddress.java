package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import java.net.InetAddress;

/**
 * An IP address within a network. Istio qualifies addresses by network so that two
 * clusters on disjoint networks may reuse the same pod and service ranges; the empty
 * network is the default one.
 *
 * @param network the network name; empty for the default network
 * @param address the IP address
 */
public record NetworkAddress(String network, InetAddress address) {

    public NetworkAddress {
        requireNonNull(network, "network");
        requireNonNull(address, "address");
    }

    public static NetworkAddress of(String network, InetAddress address) {
        return new NetworkAddress(network, address);
    }

    @Override
    public String toString() {
        return network + "/" + address.getHostAddress();
    }
}
