package dev.ambit.it.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Capabilities;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A container of a rendered chart run as a process, as a kubelet would run it, minus the
 * image: the image's entry point ({@code java [jvm flags] -jar /app/<jar>}) with the jar from
 * the build, the container's {@code args} and {@code env} as rendered (downward-API fields
 * resolved), in the pod's network namespace, with exactly the container's capabilities
 * ({@code setpriv --bounding-set}). There is no mount namespace: each volume mount's
 * {@code mountPath} is a folder on this machine ({@link #mount}), and arguments naming a path
 * under a mount are rewritten to it, as are the flags whose defaults lie in one.
 */
public final class ChartContainer {

    private final Container container;
    private final Map<String, Path> volumes = new LinkedHashMap<>();
    private final Map<String, String> fields = new LinkedHashMap<>();
    private final Map<String, String> extraEnv = new LinkedHashMap<>();
    private final List<String> defaults = new ArrayList<>();
    private final List<String> jvm = new ArrayList<>();

    private ChartContainer(Container container) {
        this.container = container;
    }

    public static ChartContainer of(Container container) {
        return new ChartContainer(requireNonNull(container, "container"));
    }

    /** Volume {@code name} is folder {@code hostDir} here. */
    public ChartContainer volume(String name, Path hostDir) {
        volumes.put(name, hostDir);
        return this;
    }

    /** A downward-API field ({@code spec.nodeName}, {@code metadata.namespace}, ...) and its value. */
    public ChartContainer field(String path, String value) {
        fields.put(path, value);
        return this;
    }

    /** What the kubelet adds beyond the container's env (here: the in-cluster API configuration). */
    public ChartContainer env(String name, String value) {
        extraEnv.put(name, value);
        return this;
    }

    /**
     * A flag whose default is a path inside the container ({@code --token} with
     * {@code /var/run/secrets/tokens/istio-token}): passed explicitly, rewritten through the mounts.
     * Fails when no mount holds it (the chart forgot the volume).
     */
    public ChartContainer defaultPath(String flag, String containerPath) {
        defaults.add("--" + flag + "=" + mapped(containerPath, true));
        return this;
    }

    /** An argument after the rendered ones (a later flag overrides an earlier one). */
    public ChartContainer extraArg(String arg) {
        defaults.add(requireNonNull(arg, "arg"));
        return this;
    }

    /** The image's JVM flags (and the test's DNS: {@code -Djdk.net.hosts.file}). */
    public ChartContainer jvm(String... flags) {
        jvm.addAll(List.of(flags));
        return this;
    }

    /** Where {@code containerPath} is on this machine; itself when no mount holds it and not required. */
    public String mapped(String containerPath, boolean required) {
        List<VolumeMount> mounts = new ArrayList<>(container.getVolumeMounts());
        mounts.sort(Comparator.comparingInt((VolumeMount m) -> m.getMountPath().length()).reversed());
        for (VolumeMount m : mounts) {
            String mp = m.getMountPath();
            if (containerPath.equals(mp) || containerPath.startsWith(mp + "/")) {
                Path host = volumes.get(m.getName());
                if (host == null) {
                    throw new IllegalStateException("volume " + m.getName() + " of container " + container.getName()
                            + ": no folder given for it");
                }
                return host + containerPath.substring(mp.length());
            }
        }
        if (required) {
            throw new AssertionError("container " + container.getName() + ": no volume mount holds " + containerPath
                    + " (mounts: " + container.getVolumeMounts().stream().map(VolumeMount::getMountPath).toList() + ")");
        }
        return containerPath;
    }

    /** The rendered arguments with paths under mounts rewritten, plus the defaults' flags. */
    public List<String> args() {
        List<String> out = new ArrayList<>();
        for (String a : container.getArgs()) {
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0 && a.charAt(eq + 1) == '/') {
                out.add(a.substring(0, eq + 1) + mapped(a.substring(eq + 1), false));
            } else {
                out.add(a);
            }
        }
        out.addAll(defaults);
        return out;
    }

    /** The container's environment, downward-API fields resolved. */
    public Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        for (EnvVar e : container.getEnv() == null ? List.<EnvVar>of() : container.getEnv()) {
            if (e.getValueFrom() == null) {
                env.put(e.getName(), e.getValue() == null ? "" : e.getValue());
            } else if (e.getValueFrom().getFieldRef() != null) {
                String path = e.getValueFrom().getFieldRef().getFieldPath();
                String v = fields.get(path);
                if (v == null) {
                    throw new IllegalStateException("env " + e.getName() + ": field " + path + " not given");
                }
                env.put(e.getName(), v);
            } else {
                throw new IllegalStateException("env " + e.getName() + ": only values and fieldRefs are supported here");
            }
        }
        env.putAll(extraEnv);
        return env;
    }

    /** {@code setpriv} arguments giving the process exactly the container's capabilities (root keeps only those). */
    List<String> capabilities() {
        Capabilities caps = container.getSecurityContext() == null ? null
                : container.getSecurityContext().getCapabilities();
        if (container.getSecurityContext() != null && Boolean.TRUE.equals(container.getSecurityContext().getPrivileged())) {
            return List.of();
        }
        StringBuilder set = new StringBuilder();
        if (caps != null && caps.getDrop() != null && caps.getDrop().stream().anyMatch(d -> d.equalsIgnoreCase("ALL"))) {
            set.append("-all");
            for (String add : caps.getAdd() == null ? List.<String>of() : caps.getAdd()) {
                set.append(",+").append(add.toLowerCase(Locale.ROOT));
            }
        }
        List<String> out = new ArrayList<>(List.of("setpriv"));
        if (!set.isEmpty()) {
            out.add("--bounding-set=" + set);
        }
        if (container.getSecurityContext() != null
                && Boolean.FALSE.equals(container.getSecurityContext().getAllowPrivilegeEscalation())) {
            out.add("--no-new-privs");
        }
        out.add("--");
        return out.size() == 2 ? List.of() : out;
    }

    /** The readiness probe's HTTP URL for a pod at {@code address}. */
    public String readinessUrl(String address) {
        var get = container.getReadinessProbe().getHttpGet();
        return "http://" + address + ":" + get.getPort().getIntVal() + get.getPath();
    }

    /**
     * Starts {@code java -jar jar} with the container's arguments in network namespace
     * {@code netns}; output to {@code log}.
     */
    public Process start(Path java, Path jar, Path netns, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=" + netns, "--"));
        cmd.addAll(capabilities());
        cmd.add(java.toString());
        cmd.addAll(jvm);
        cmd.add("-jar");
        cmd.add(jar.toString());
        cmd.addAll(args());
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(environment());
        Files.createDirectories(log.getParent());
        Files.writeString(log, "# " + String.join(" ", cmd) + "\n# env " + environment() + "\n");
        pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        return pb.start();
    }

    /** SIGTERM, then SIGKILL after {@code graceSeconds}, as the kubelet stops a container. */
    static void stop(Process p, int graceSeconds) {
        if (p == null || !p.isAlive()) {
            return;
        }
        p.descendants().forEach(ProcessHandle::destroy);
        p.destroy();
        try {
            if (!p.waitFor(graceSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
    }
}
