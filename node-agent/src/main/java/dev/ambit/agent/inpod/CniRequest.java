package dev.ambit.agent.inpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * The bodies of {@link CniServer}'s requests, parsed and checked: every failure is an
 * {@link IllegalArgumentException} naming the field and what was expected (answered 400).
 */
final class CniRequest {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Kubernetes UIDs are UUIDs; this also keeps the UID safe as a BPF pin folder's name. */
    private static final Pattern UID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,127}");
    /** RFC 1123 subdomain, as Kubernetes names and namespaces. */
    private static final Pattern NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
    /** A container runtime's sandbox id (containerd, CRI-O: 64 hex digits). */
    private static final Pattern CONTAINER_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,255}");
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    static final String UID_EXPECTED = "a pod UID: letters, digits, '-' or '_', up to 128";

    /**
     * Who an ADD is about: {@code uid} and {@code containerId} may be absent (null); the rest
     * of the body is kept for {@link #addresses} and {@link #cgroup}.
     */
    record Add(String namespace, String name, String uid, Path netns, String containerId, JsonNode body) {
        String key() {
            return namespace + "/" + name;
        }
    }

    /** Who a DEL is about: a UID, or a container id (the plugin may not know the UID); both may be absent. */
    record Del(String uid, String containerId, String namespace, String name) {}

    private CniRequest() {}

    static Add add(String body) {
        JsonNode n = parse(body);
        String namespace = field(n, "namespace", NAME, "a Kubernetes namespace name");
        String name = field(n, "name", NAME, "a Kubernetes pod name");
        String uid = n.has("uid") ? field(n, "uid", UID, UID_EXPECTED) : null;
        Path netns = absolutePath(n, "netns");
        String container = n.has("containerId") ? field(n, "containerId", CONTAINER_ID, "the sandbox's container id")
                : null;
        return new Add(namespace, name, uid, netns, container, n);
    }

    static Del del(String body) {
        JsonNode n = parse(body);
        String uid = n.has("uid") ? field(n, "uid", UID, UID_EXPECTED) : null;
        String container = n.has("containerId") ? field(n, "containerId", CONTAINER_ID, "the sandbox's container id")
                : null;
        if (uid == null && container == null) {
            throw new IllegalArgumentException("uid: missing (expected: " + UID_EXPECTED + ", or a containerId)");
        }
        String namespace = n.path("namespace").isTextual() ? n.get("namespace").asText() : null;
        String name = n.path("name").isTextual() ? n.get("name").asText() : null;
        return new Del(uid, container, namespace, name);
    }

    /**
     * The pod's addresses: {@code ips} (["10.244.1.7"]), else the IPv4 addresses of the CNI
     * {@code prevResult}'s {@code ips[].address} ("10.244.1.7/24") as the plugin forwards it.
     */
    static List<InetAddress> addresses(JsonNode n) {
        List<InetAddress> addresses = new ArrayList<>();
        if (!n.has("ips") && n.path("prevResult").isObject()) {
            JsonNode ips = n.get("prevResult").path("ips");
            for (JsonNode ip : ips) {
                String a = ip.path("address").asText("");
                String bare = a.contains("/") ? a.substring(0, a.indexOf('/')) : a;
                if (IPV4.matcher(bare).matches()) {
                    addresses.add(ipv4(ip.path("address").isTextual() ? JSON.getNodeFactory().textNode(bare) : ip));
                }
            }
            if (addresses.isEmpty()) {
                throw new IllegalArgumentException("prevResult.ips: " + ips + " (expected: an IPv4 address, such as"
                        + " {\"address\": \"10.244.1.7/24\"}, from the interface plugin; IPv6 is not captured yet)");
            }
            return List.copyOf(addresses);
        }
        JsonNode ips = n.path("ips");
        if (!ips.isArray() || ips.isEmpty()) {
            throw new IllegalArgumentException("ips: " + ips + " (expected: a non-empty array of the pod's addresses,"
                    + " or the CNI prevResult)");
        }
        for (JsonNode ip : ips) {
            addresses.add(ipv4(ip));
        }
        return List.copyOf(addresses);
    }

    /** The pod's cgroup: {@code cgroup}, else found from the UID by {@code byUid} (empty: not found). */
    static Path cgroup(JsonNode n, String uid, Function<String, Optional<Path>> byUid) {
        if (n.has("cgroup") || byUid == null) {
            return absolutePath(n, "cgroup");
        }
        return byUid.apply(uid).orElseThrow(() -> new IllegalStateException("no cgroup for pod uid " + uid
                + " under the cgroup root yet (the kubelet creates it before the sandbox)"));
    }

    private static JsonNode parse(String body) {
        try {
            JsonNode n = JSON.readTree(body);
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException("body: not a JSON object (expected: {\"uid\": ..., ...})");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("body: not JSON: " + e.getOriginalMessage());
        }
    }

    private static String field(JsonNode n, String field, Pattern pattern, String expected) {
        JsonNode v = n.path(field);
        if (!v.isTextual() || !pattern.matcher(v.asText()).matches()) {
            throw new IllegalArgumentException(field + ": " + (v.isMissingNode() ? "missing" : v.toString())
                    + " (expected: " + expected + ")");
        }
        return v.asText();
    }

    private static Path absolutePath(JsonNode n, String field) {
        JsonNode v = n.path(field);
        if (!v.isTextual() || !v.asText().startsWith("/") || v.asText().contains("\0")) {
            throw new IllegalArgumentException(field + ": " + (v.isMissingNode() ? "missing" : v.toString())
                    + " (expected: an absolute path)");
        }
        Path p = Path.of(v.asText()).normalize();
        if (!p.toString().equals(v.asText())) {
            throw new IllegalArgumentException(field + ": " + v + " (expected: a normalized absolute path, e.g. " + p
                    + ")");
        }
        return p;
    }

    private static InetAddress ipv4(JsonNode ip) {
        String s = ip.isTextual() ? ip.asText() : "";
        if (IPV4.matcher(s).matches()) {
            try {
                InetAddress a = InetAddress.getByName(s); // a literal: no lookup
                if (a.getHostAddress().equals(s)) {
                    return a;
                }
            } catch (UnknownHostException e) {
                // not an address: reported below
            }
        }
        throw new IllegalArgumentException("ips: " + ip + " (expected: IPv4 addresses such as \"10.244.1.7\";"
                + " IPv6 is not captured yet)");
    }
}
