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
 * {@code args} as a local process (the image is ignored), its {@code env}, and the pod's
 * {@code restartPolicy}.
 *
 * @param containers in spec order; at least one
 * @param restartPolicy Always, OnFailure or Never
 * @param nodeName the node asked for, or "" to let ambitctl place the pod
 * @param serviceAccountName the pod's identity ("default" when not given)
 */
public record PodTemplate(List<Container> containers, String restartPolicy, String nodeName,
                          String serviceAccountName) {

    public static final Set<String> RESTART_POLICIES = Set.of("Always", "OnFailure", "Never");

    public PodTemplate {
        containers = List.copyOf(containers);
        requireNonNull(restartPolicy, "restartPolicy");
        requireNonNull(nodeName, "nodeName");
        requireNonNull(serviceAccountName, "serviceAccountName");
    }

    /** An environment variable: a literal {@code value}, or {@code fieldPath} of the pod (downward API). */
    public record EnvVar(String name, String value, String fieldPath) {}

    /** A named container port, for Services whose {@code targetPort} is a name. */
    public record Port(String name, int containerPort) {}

    /**
     * A container's {@code readinessProbe}, {@code httpGet} (a 2xx or 3xx answer passes, as
     * the kubelet's) or {@code tcpSocket} ({@code path} null), with the kubelet's defaults for
     * the timings it does not give.
     *
     * @param port a number, or a container port's name
     */
    public record Probe(String path, String port, int periodSeconds, int timeoutSeconds, int successThreshold,
                        int failureThreshold) {

        /** The port number for a container with {@code ports}; -1 when a named port is not there. */
        public int portNumber(List<Port> ports) {
            if (!port.isEmpty() && port.chars().allMatch(Character::isDigit)) {
                return Integer.parseInt(port);
            }
            return ports.stream().filter(p -> p.name().equals(port)).mapToInt(Port::containerPort).findFirst().orElse(-1);
        }
    }

    /**
     * One container: the process to run.
     *
     * @param readinessProbe null when it has none: then it is ready while its process runs
     */
    public record Container(String name, List<String> command, List<String> args, List<EnvVar> env,
                            String workingDir, List<Port> ports, Probe readinessProbe) {
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
                    probe(c.path("readinessProbe"), at + ".readinessProbe")));
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
        return new PodTemplate(containers, restart, KubeObject.text(spec.path("nodeName")), sa.isEmpty() ? "default" : sa);
    }

    /** A {@code readinessProbe}, or null when there is none; exec probes are refused (nothing to run them in). */
    private static Probe probe(JsonNode p, String where) {
        if (p.isMissingNode() || p.isNull()) {
            return null;
        }
        JsonNode http = p.path("httpGet");
        JsonNode tcp = p.path("tcpSocket");
        if (http.isMissingNode() == tcp.isMissingNode()) {
            throw new IllegalArgumentException(where + ": " + (http.isMissingNode() ? "no" : "both") + " httpGet and"
                    + " tcpSocket (expected: exactly one of them; ambitctl local runs no exec probes)");
        }
        JsonNode handler = http.isMissingNode() ? tcp : http;
        String port = KubeObject.text(handler.path("port"));
        if (port.isEmpty()) {
            throw new IllegalArgumentException(where + (http.isMissingNode() ? ".tcpSocket" : ".httpGet")
                    + ".port: missing (expected: a port number or a container port's name)");
        }
        String path = http.isMissingNode() ? null : KubeObject.text(http.path("path"));
        // The kubelet's defaults: every 10 s, 1 s timeout, 1 success, 3 failures.
        return new Probe(path == null || !path.isEmpty() ? path : "/", port,
                positive(p, "periodSeconds", 10, where), positive(p, "timeoutSeconds", 1, where),
                positive(p, "successThreshold", 1, where), positive(p, "failureThreshold", 3, where));
    }

    private static int positive(JsonNode probe, String field, int dflt, String where) {
        JsonNode n = probe.path(field);
        if (n.isMissingNode() || n.isNull()) {
            return dflt;
        }
        if (!n.canConvertToInt() || n.asInt() < 1) {
            throw new IllegalArgumentException(where + "." + field + ": " + n + " (expected: a whole number, at least 1)");
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
