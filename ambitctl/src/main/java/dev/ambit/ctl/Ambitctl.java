package dev.ambit.ctl;

import static java.util.Objects.requireNonNull;

import dev.ambit.ctl.config.ConfigCommand;
import dev.ambit.ctl.install.InstallCommand;
import dev.ambit.ctl.install.PrecheckCommand;
import dev.ambit.ctl.install.UninstallCommand;
import dev.ambit.ctl.local.LocalCommand;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.ManifestException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code ambitctl}, the user's command line: {@code local} runs a whole mesh on this
 * machine out of network namespaces, {@code config} shows what a node agent holds.
 * Errors the user can fix print as one {@code error: ...} line and exit 1.
 */
@Command(name = "ambitctl", mixinStandardHelpOptions = true, version = "ambitctl 0.1.0",
        description = "Ambit's command line: a local mesh (local), a node agent's view (config).",
        subcommands = {LocalCommand.class, ConfigCommand.class, InstallCommand.class, UninstallCommand.class,
                PrecheckCommand.class, dev.ambit.ctl.proxyconfig.ProxyConfigCommand.class,
                dev.ambit.ctl.waypoint.WaypointCommand.class, dev.ambit.ctl.analyze.AnalyzeCommand.class,
                dev.ambit.ctl.dashboard.DashboardCommand.class,
                CommandLine.HelpCommand.class})
public final class Ambitctl {

    public static void main(String[] args) {
        System.exit(execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs one command line, printing to {@code out} and {@code err}; returns the exit code. */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        requireNonNull(out, "out");
        requireNonNull(err, "err");
        CommandLine cli = new CommandLine(new Ambitctl());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof LocalException || e instanceof ManifestException || e instanceof IllegalArgumentException
                    || e instanceof UncheckedIOException) {
                commandLine.getErr().println("error: " + e.getMessage());
            } else {
                commandLine.getErr().println("error: " + e);
                e.printStackTrace(commandLine.getErr());
            }
            commandLine.getErr().flush();
            return 1;
        });
        int code = cli.execute(args);
        out.flush();
        err.flush();
        return code;
    }
}
