package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@code ambitctl local} runs of a pod spec: each container's {@code command} and
 * {@code args} as a local process (the image is ignored), its {@code env} and probes, and the
 * pod's {@code restartPolicy}.
 *
 * @param containers in spec order; at least one
 * @param restartPolicy Always, OnFailure or Never
 * @param nodeName the node asked for, or "" to let ambitctl place the pod
 * @param serviceAccountName the pod's identity ("default" when not given)
 * @param hostname {@code spec.hostname}, or "" for the pod's name (Kubernetes' default)
 * @param terminationGracePeriodSeconds between SIGTERM and SIGKILL when a probe kills a container (30 by default)
 */
public record PodTemplate(List<Container> containers, String restartPolicy, String nodeName,
                          String serviceAccountName, String hostname, int terminationGracePeriodSeconds) {

    public static final Set<String> RESTART_POLICIES = Set.of("Always", "OnFailure", "Never");

    public PodTemplate {
        containers = List.copyOf(containers);
        requireNonNull(restartPolicy, "restartPolicy");
        requireNonNull(nodeName, "nodeName");
        requireNonNull(serviceAccountName, "serviceAccountName");
        requireNonNull(hostname, "hostname");
    }

    /**
     * The hostname of pod {@code podName}: {@code spec.hostname}, else the pod's name cut to
     * 63 characters without a trailing '-' or '.', as the kubelet sets it.
     */
    public String hostnameOf(String podName) {
        if (!hostname.isEmpty()) {
            return hostname;
        }
        String h = podName.length() > 63 ? podName.substring(0, 63) : podName;
        while (h.endsWith("-") || h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        return h;
    }

    /** An environment variable: a literal {@code value}, or {@code fieldPath} of the pod (downward API). */
    public record EnvVar(String name, String value, String fieldPath) {}

    /** A named container port, for Services whose {@code targetPort} is a name. */
    public record Port(String name, int containerPort) {}

    /**
     * A container's {@code startupProbe}, {@code readinessProbe} or {@code livenessProbe},
     * with the kubelet's defaults for the timings it does not give (no initial delay, every
     * 10 s, 1 s timeout, 1 success, 3 failures).
     *
     * @param handler what is checked
     */
    public record Probe(Handler handler, int initialDelaySeconds, int periodSeconds, int timeoutSeconds,
                        int successThreshold, int failureThreshold) {

        public Probe {
            requireNonNull(handler, "handler");
        }

        /** An {@code httpGet} probe of {@code path} ({@code tcpSocket} when {@code path} is null), no initial delay. */
        public Probe(String path, String port, int periodSeconds, int timeoutSeconds, int successThreshold,
                     int failureThreshold) {
            this(path == null ? new TcpSocket(port, "") : new HttpGet(path, port, "", List.of()), 0, periodSeconds,
                    timeoutSeconds, successThreshold, failureThreshold);
        }
    }

    /** What a probe checks: {@link HttpGet}, {@link TcpSocket} or {@link Exec}, as the kubelet runs them. */
    public sealed interface Handler permits HttpGet, TcpSocket, Exec {
    }

    /**
     * {@code httpGet}: a GET answered 200-399 passes.
     *
     * @param port a number, or a container port's name
     * @param host the address to call, "" for the pod's IP (the kubelet's default)
     */
    public record HttpGet(String path, String port, String host, List<Header> headers) implements Handler {
        public HttpGet {
            requireNonNull(path, "path");
            requireNonNull(port, "port");
            requireNonNull(host, "host");
            headers = List.copyOf(headers);
        }
    }

    /** One of {@code httpGet.httpHeaders}. */
    public record Header(String name, String value) {}

    /**
     * {@code tcpSocket}: an accepted connection passes.
     *
     * @param port a number, or a container port's name
     * @param host the address to call, "" for the pod's IP
     */
    public record TcpSocket(String port, String host) implements Handler {
        public TcpSocket {
            requireNonNull(port, "port");
            requireNonNull(host, "host");
        }
    }

    /** {@code exec}: {@code command} run inside the container (its namespaces, cgroup and environment) exits 0. */
    public record Exec(List<String> command) implements Handler {
        public Exec {
            command = List.copyOf(command);
        }
    }

    /** The number of {@code port} (a number or a name) for a container with {@code ports}; -1 when a named port is not there. */
    public static int portNumber(String port, List<Port> ports) {
        if (!port.isEmpty() && port.chars().allMatch(Character::isDigit)) {
            return Integer.parseInt(port);
        }
        return ports.stream().filter(p -> p.name().equals(port)).mapToInt(Port::containerPort).findFirst().orElse(-1);
    }

    /**
     * One container: the process to run.
     *
     * @param readinessProbe null when it has none: then it is ready while its process runs (and started)
     * @param livenessProbe null when it has none: then only its exit restarts it
     * @param startupProbe null when it has none: then it is started as soon as its process runs
     */
    public record Container(String name, List<String> command, List<String> args, List<EnvVar> env,
                            String workingDir, List<Port> ports, Probe readinessProbe, Probe livenessProbe,
                            Probe startupProbe) {
        public Container {
            command = List.copyOf(command);
            args = List.copyOf(args);
            env = List.copyOf(env);
            ports = List.copyOf(ports);
        }

        /**
         * The command line: {@code command} then {@code args} ({@code args} alone when there is no
         * {@code command}), with Kubernetes' {@code $(VAR)} references to {@code env} expanded
         * ({@code $$(VAR)} stays literal, unknown references stay as written).
         */
        public List<String> commandLine(Map<String, String> env) {
            List<String> out = new ArrayList<>();
            for (String s : command) {
                out.add(expand(s, env));
            }
            for (String s : args) {
                out.add(expand(s, env));
            }
            return out;
        }
    }

    /**
     * Parses {@code spec} (a Pod's spec or a Deployment's {@code spec.template.spec}).
     *
     * @param where names the spec in messages, e.g. {@code spec.template.spec}
     * @throws IllegalArgumentException naming the field and what was expected
     */
    public static PodTemplate parse(JsonNode spec, String where) {
        requireNonNull(spec, "spec");
        if (!spec.isObject()) {
            throw new IllegalArgumentException(where + ": missing (expected: containers with command or args)");
        }
        JsonNode cs = spec.path("containers");
        if (!cs.isArray() || cs.isEmpty()) {
            throw new IllegalArgumentException(where + ".containers: missing or empty (expected: at least one container)");
        }
        List<Container> containers = new ArrayList<>();
        Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < cs.size(); i++) {
            JsonNode c = cs.get(i);
            String at = where + ".containers[" + i + "]";
            String name = KubeObject.text(c.path("name"));
            if (name.isEmpty()) {
                throw new IllegalArgumentException(at + ".name: missing");
            }
            if (!names.add(name)) {
                throw new IllegalArgumentException(at + ".name: " + name + " is used twice (expected: unique names)");
            }
            List<String> command = strings(c.path("command"), at + ".command");
            List<String> args = strings(c.path("args"), at + ".args");
            if (command.isEmpty() && args.isEmpty()) {
                throw new IllegalArgumentException(at + " (" + name + "): no command or args (ambitctl local ignores"
                        + " images and runs command/args as a local process: add e.g. command: [sleep, \"3600\"])");
            }
            List<EnvVar> env = new ArrayList<>();
            JsonNode envs = c.path("env");
            for (int j = 0; j < envs.size(); j++) {
                JsonNode e = envs.get(j);
                String n = KubeObject.text(e.path("name"));
                if (n.isEmpty()) {
                    throw new IllegalArgumentException(at + ".env[" + j + "].name: missing");
                }
                String fieldPath = KubeObject.text(e.path("valueFrom").path("fieldRef").path("fieldPath"));
                env.add(new EnvVar(n, KubeObject.text(e.path("value")), fieldPath));
            }
            List<Port> ports = new ArrayList<>();
            for (JsonNode p : c.path("ports")) {
                ports.add(new Port(KubeObject.text(p.path("name")), p.path("containerPort").asInt(0)));
            }
            containers.add(new Container(name, command, args, env, KubeObject.text(c.path("workingDir")), ports,
                    probe(c.path("readinessProbe"), at + ".readinessProbe", false),
                    probe(c.path("livenessProbe"), at + ".livenessProbe", true),
                    probe(c.path("startupProbe"), at + ".startupProbe", true)));
        }
        String restart = KubeObject.text(spec.path("restartPolicy"));
        if (restart.isEmpty()) {
            restart = "Always";
        }
        if (!RESTART_POLICIES.contains(restart)) {
            throw new IllegalArgumentException(where + ".restartPolicy: " + restart
                    + " (expected: Always, OnFailure or Never)");
        }
        String sa = KubeObject.text(spec.path("serviceAccountName"));
        String hostname = KubeObject.text(spec.path("hostname"));
        if (!hostname.isEmpty() && !hostname.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
            throw new IllegalArgumentException(where + ".hostname: " + hostname
                    + " (expected: a DNS label, lower case letters, digits and '-', at most 63)");
        }
        return new PodTemplate(containers, restart, KubeObject.text(spec.path("nodeName")), sa.isEmpty() ? "default" : sa,
                hostname, atLeast(spec, "terminationGracePeriodSeconds", 30, 0, where));
    }

    /**
     * A probe, or null when there is none. Kubernetes' validation: exactly one handler, and a
     * liveness or startup probe's {@code successThreshold} must be 1 ({@code oneSuccess}).
     */
    private static Probe probe(JsonNode p, String where, boolean oneSuccess) {
        if (p.isMissingNode() || p.isNull()) {
            return null;
        }
        List<String> given = new ArrayList<>();
        for (String h : List.of("httpGet", "tcpSocket", "exec", "grpc")) {
            if (!p.path(h).isMissingNode() && !p.path(h).isNull()) {
                given.add(h);
            }
        }
        if (given.size() != 1) {
            throw new IllegalArgumentException(where + ": " + (given.isEmpty() ? "no handler" : "handlers " + given)
                    + " (expected: exactly one of httpGet, tcpSocket and exec)");
        }
        String kind = given.getFirst();
        JsonNode h = p.path(kind);
        Handler handler = switch (kind) {
            case "httpGet" -> {
                String scheme = KubeObject.text(h.path("scheme"));
                if (!scheme.isEmpty() && !scheme.equals("HTTP")) {
                    throw new IllegalArgumentException(where + ".httpGet.scheme: " + scheme
                            + " (expected: HTTP; ambitctl local runs no HTTPS probes)");
                }
                List<Header> headers = new ArrayList<>();
                JsonNode hs = h.path("httpHeaders");
                for (int i = 0; i < hs.size(); i++) {
                    String name = KubeObject.text(hs.get(i).path("name"));
                    if (name.isEmpty()) {
                        throw new IllegalArgumentException(where + ".httpGet.httpHeaders[" + i + "].name: missing");
                    }
                    headers.add(new Header(name, KubeObject.text(hs.get(i).path("value"))));
                }
                String path = KubeObject.text(h.path("path"));
                yield new HttpGet(path.isEmpty() ? "/" : path, port(h, where + ".httpGet"),
                        KubeObject.text(h.path("host")), headers);
            }
            case "tcpSocket" -> new TcpSocket(port(h, where + ".tcpSocket"), KubeObject.text(h.path("host")));
            case "exec" -> {
                List<String> command = strings(h.path("command"), where + ".exec.command");
                if (command.isEmpty()) {
                    throw new IllegalArgumentException(where + ".exec.command: missing or empty (expected: e.g."
                            + " [cat, /tmp/healthy])");
                }
                yield new Exec(command);
            }
            default -> throw new IllegalArgumentException(where + ".grpc: ambitctl local runs no gRPC probes"
                    + " (expected: httpGet, tcpSocket or exec)");
        };
        Probe probe = new Probe(handler, atLeast(p, "initialDelaySeconds", 0, 0, where),
                atLeast(p, "periodSeconds", 10, 1, where), atLeast(p, "timeoutSeconds", 1, 1, where),
                atLeast(p, "successThreshold", 1, 1, where), atLeast(p, "failureThreshold", 3, 1, where));
        if (oneSuccess && probe.successThreshold() != 1) {
            throw new IllegalArgumentException(where + ".successThreshold: " + probe.successThreshold()
                    + " (expected: 1 for liveness and startup probes)");
        }
        return probe;
    }

    private static String port(JsonNode handler, String where) {
        String port = KubeObject.text(handler.path("port"));
        if (port.isEmpty()) {
            throw new IllegalArgumentException(where + ".port: missing (expected: a port number or a container port's name)");
        }
        return port;
    }

    private static int atLeast(JsonNode object, String field, int dflt, int min, String where) {
        JsonNode n = object.path(field);
        if (n.isMissingNode() || n.isNull()) {
            return dflt;
        }
        if (!n.canConvertToInt() || n.asInt() < min) {
            throw new IllegalArgumentException(where + "." + field + ": " + n + " (expected: a whole number, at least "
                    + min + ")");
        }
        return n.asInt();
    }

    private static List<String> strings(JsonNode n, String where) {
        if (n.isMissingNode() || n.isNull()) {
            return List.of();
        }
        if (!n.isArray()) {
            throw new IllegalArgumentException(where + ": not a list (expected: e.g. [sh, -c, \"...\"])");
        }
        List<String> out = new ArrayList<>();
        n.forEach(x -> out.add(x.asText()));
        return out;
    }

    /**
     * A container's environment: its {@code env} in order (later references see earlier
     * values, as in Kubernetes), downward-API fields from {@code pod} (metadata.name,
     * metadata.namespace, status.podIP, spec.nodeName, spec.serviceAccountName, metadata.uid).
     */
    public static Map<String, String> environment(Container c, Map<String, String> podFields) {
        Map<String, String> env = new LinkedHashMap<>();
        for (EnvVar e : c.env()) {
            String v = e.fieldPath().isEmpty() ? expand(e.value(), env) : podFields.getOrDefault(e.fieldPath(), "");
            env.put(e.name(), v);
        }
        return env;
    }

    /** Kubernetes' {@code $(VAR)} expansion: {@code $$} escapes, unknown variables stay as written. */
    static String expand(String s, Map<String, String> env) {
        if (s.indexOf('$') < 0) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length());
        int i = 0;
        while (i < s.length()) {
            char ch = s.charAt(i);
            if (ch == '$' && i + 1 < s.length() && s.charAt(i + 1) == '$') {
                out.append('$');
                i += 2;
            } else if (ch == '$' && i + 1 < s.length() && s.charAt(i + 1) == '(') {
                int close = s.indexOf(')', i + 2);
                if (close < 0) {
                    out.append(s, i, s.length());
                    break;
                }
                String name = s.substring(i + 2, close);
                String v = env.get(name);
                out.append(v != null ? v : s.substring(i, close + 1));
                i = close + 1;
            } else {
                out.append(ch);
                i++;
            }
        }
        return out.toString();
    }
}
