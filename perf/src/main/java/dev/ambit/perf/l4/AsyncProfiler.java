package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * async-profiler (from Maven Central, {@code tools.profiler:async-profiler}) attached to the
 * node agents over the measured runs with {@code jcmd JVMTI.agent_load}: CPU samples with
 * Java and native frames (BoringSSL, the kernel's socket calls), which JFR's execution
 * samples miss. Writes {@code <scenario>-agent-<node>.collapsed} (one stack per line and its sample
 * count, for flame graph tools or grep) and {@code .html} (a flame graph).
 */
final class AsyncProfiler {

    private final Path dir;
    private final Path library;
    private final List<Proc> agents;

    private AsyncProfiler(Path dir, Path library, List<Proc> agents) {
        this.dir = dir;
        this.library = library;
        this.agents = agents;
    }

    static AsyncProfiler start(Path dir, List<Scenario> scenarios) throws IOException {
        Files.createDirectories(dir);
        String arch = System.getProperty("os.arch").contains("aarch64") ? "linux-arm64" : "linux-x64";
        Path library = dir.resolve("libasyncProfiler.so");
        try (InputStream in = AsyncProfiler.class.getResourceAsStream("/" + arch + "/libasyncProfiler.so")) {
            if (in == null) {
                throw new IllegalStateException(arch + "/libasyncProfiler.so not on the classpath"
                        + " (tools.profiler:async-profiler)");
            }
            Files.copy(in, library, StandardCopyOption.REPLACE_EXISTING);
        }
        List<Proc> agents = new ArrayList<>();
        agents.addAll(Jfr.profiled(scenarios));
        AsyncProfiler p = new AsyncProfiler(dir, library, agents);
        for (Proc a : agents) {
            p.command(a, "start,event=cpu,interval=1ms,cstack=vm,threads");
        }
        return p;
    }

    void stop() {
        for (int i = 0; i < agents.size(); i++) {
            Path base = dir.resolve(agents.get(i).name());
            command(agents.get(i), "dump,collapsed,file=" + base + ".collapsed");
            command(agents.get(i), "stop,file=" + base + ".html");
            System.out.println("async-profiler CPU profile of " + agents.get(i).name() + ": " + base
                    + ".collapsed, .html");
        }
    }

    private void command(Proc p, String args) {
        // Quoted: jcmd would take "start,event=cpu" for a named argument "start,event".
        Host.Result r = Host.exec(60, Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(p.pid()), "JVMTI.agent_load", library.toString(), "\"" + args + "\"");
        if (!r.ok() || r.stdout().toLowerCase(java.util.Locale.ROOT).contains("error")) {
            throw new IllegalStateException("async-profiler " + args + " on " + p.name() + ": " + r.stdout()
                    + r.stderr());
        }
    }
}
