package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The hosts files of pods and nodes ({@code /etc/netns/<ns>/hosts}, which {@code ip netns exec}
 * bind-mounts over /etc/hosts): each names itself and every Service with a VIP, the local
 * cluster's DNS. Rewritten only when their content changes. Single-threaded (the controller's loop).
 */
final class HostsFiles {

    private final Function<String, Path> etcOf;
    private final Consumer<String> log;
    private final Map<Path, String> written = new HashMap<>();

    /**
     * @param etcOf a network namespace's {@code /etc} folder ({@link Topology#etcNetns} but in tests)
     * @param log where a file that cannot be written is reported
     */
    HostsFiles(Function<String, Path> etcOf, Consumer<String> log) {
        this.etcOf = requireNonNull(etcOf, "etcOf");
        this.log = requireNonNull(log, "log");
    }

    /** Every pod's and node's hosts file, naming {@code services}. */
    void writeAll(Collection<RunningPod> pods, List<ClusterInfo.Node> nodes, Map<String, ServiceView> services) {
        List<HostsFile.ServiceName> names = serviceNames(services);
        for (RunningPod p : pods) {
            writePod(p, names);
        }
        for (ClusterInfo.Node n : nodes) {
            writeInPlace(etcOf.apply(n.netns()).resolve("hosts"), HostsFile.hosts(null, n.name(), n.address(), names));
        }
    }

    /** {@code p}'s hosts file, naming {@code services}. */
    void writePod(RunningPod p, List<HostsFile.ServiceName> services) {
        writeInPlace(etcOf.apply(p.netns).resolve("hosts"), HostsFile.hosts(p.namespace, p.name, p.ip, services));
    }

    /** Forgets what was written for namespace {@code netns} (its pod is gone; a new one writes anew). */
    void forget(String netns) {
        Path etc = etcOf.apply(netns);
        written.keySet().removeIf(path -> path.startsWith(etc));
    }

    /** The names hosts files give: every Service with a VIP (headless ones have none). */
    static List<HostsFile.ServiceName> serviceNames(Map<String, ServiceView> services) {
        return services.values().stream().filter(s -> !s.vip().equals("None"))
                .map(s -> new HostsFile.ServiceName(s.object().namespace(), s.object().name(), s.vip())).toList();
    }

    /**
     * Rewrites {@code file} in place (truncate and write: same inode), so processes that
     * have it bind-mounted as /etc/hosts see the new content.
     */
    private void writeInPlace(Path file, String content) {
        if (content.equals(written.get(file))) {
            return;
        }
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, content, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            written.put(file, content);
        } catch (IOException e) {
            log.accept("cannot write " + file + ": " + e.getMessage());
        }
    }
}
