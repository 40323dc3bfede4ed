package dev.ambit.agent.redirect;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import java.net.Inet4Address;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * What enrollment needs to know about one pod.
 *
 * @param uid the pod's UID; names its pins, so it must be a plain token
 * @param cgroup the pod's cgroup folder on the cgroup v2 hierarchy
 * @param netns the pod's network namespace file ({@code /proc/PID/ns/net} or {@code /run/netns/NAME})
 * @param addresses the pod's IPv4 addresses
 * @param inboundListenerFd the agent's listener on the inbound port inside the pod's namespace
 */
public record PodRedirection(String uid, Path cgroup, Path netns, List<Inet4Address> addresses,
                             int inboundListenerFd) {

    private static final Pattern UID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
    static final int MAX_ADDRESSES = 8;

    public PodRedirection {
        requireNonNull(uid, "uid");
        requireNonNull(cgroup, "cgroup");
        requireNonNull(netns, "netns");
        addresses = List.copyOf(requireNonNull(addresses, "addresses"));
        if (!UID.matcher(uid).matches()) {
            throw new IllegalArgumentException("uid: " + uid
                    + " (expected: 1-63 letters, digits, '.', '_' or '-', like a Kubernetes pod UID)");
        }
        if (addresses.isEmpty() || addresses.size() > MAX_ADDRESSES) {
            throw new IllegalArgumentException("addresses: " + addresses.size() + " for pod " + uid
                    + " (expected: 1-" + MAX_ADDRESSES + ")");
        }
        Checks.notNegative(inboundListenerFd, "inboundListenerFd");
    }
}
