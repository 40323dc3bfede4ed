package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A JFR recording ({@code settings=profile}) of the node agents over the measured runs,
 * started and dumped with {@code jcmd}, so the warm-up and start-up stay out of it.
 * Open the files with {@code jfr print --events jdk.ExecutionSample}, {@code jfr summary}
 * or JDK Mission Control.
 */
final class Jfr {

    private final Path dir;
    private final List<Proc> agents;

    private Jfr(Path dir, List<Proc> agents) {
        this.dir = dir;
        this.agents = agents;
    }

    static Jfr start(Path dir, List<Scenario> scenarios) throws IOException {
        Files.createDirectories(dir);
        List<Proc> agents = new ArrayList<>();
        agents.addAll(profiled(scenarios));
        for (Proc p : agents) {
            jcmd(p, "JFR.start", "name=l4bench", "settings=profile");
        }
        return new Jfr(dir, agents);
    }

    /** The JVMs the profilers look at: both agents of Ambit's scenarios, and the waypoint. */
    static List<Proc> profiled(List<Scenario> scenarios) {
        List<Proc> jvms = new ArrayList<>();
        for (Scenario s : scenarios) {
            if (s instanceof AmbitL4 a) {
                jvms.add(a.agent(1));
                jvms.add(a.agent(2));
            } else if (s instanceof AmbitWaypoint w) {
                jvms.add(w.agent(1));
                jvms.add(w.l7Proxy());
                jvms.add(w.agent(2));
            } else if (s instanceof AmbitIngress i) {
                jvms.addAll(i.proxies());
            }
        }
        return jvms;
    }

    void stop() {
        for (int i = 0; i < agents.size(); i++) {
            Path file = dir.resolve(agents.get(i).name() + ".jfr");
            jcmd(agents.get(i), "JFR.stop", "name=l4bench", "filename=" + file);
            System.out.println("JFR recording of " + agents.get(i).name() + ": " + file);
        }
    }

    private static void jcmd(Proc p, String... command) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString());
        cmd.add(Long.toString(p.pid()));
        cmd.addAll(List.of(command));
        Host.Result r = Host.exec(60, cmd.toArray(String[]::new));
        if (!r.ok()) {
            throw new IllegalStateException("jcmd " + String.join(" ", command) + " on " + p.name() + " failed: "
                    + r.stdout() + r.stderr());
        }
    }
}
