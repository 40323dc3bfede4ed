package dev.ambit.ctl.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterOptions;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.Manifests;
import dev.ambit.ctl.local.NetnsHttp;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl config workloads|services|policies|certs|all --node NODE}: what one node
 * agent of the local cluster holds, from its admin endpoint
 * ({@code GET 127.0.0.1:15000/config_dump} inside the node's namespace).
 */
@Command(name = "config", mixinStandardHelpOptions = true,
        description = {"Shows a node agent's view of the mesh, from its admin config dump.",
                "SECTION: workloads, services, policies, certs, or all (the whole dump, JSON)."})
public final class ConfigCommand implements Callable<Integer> {

    @Spec CommandSpec spec;
    @Mixin ClusterOptions cluster;

    @Parameters(index = "0", paramLabel = "SECTION", description = "workloads, services, policies, certs or all.")
    String section;

    @Option(names = "--node", required = true, paramLabel = "NODE", description = "The node whose agent to ask, e.g. node1.")
    String node;

    @Option(names = {"-o", "--output"}, description = "table (default) or json.")
    String output;

    @Override
    public Integer call() {
        ClusterInfo info = ClusterInfo.require(cluster.state());
        ClusterInfo.Node n = info.node(node).orElseThrow(() -> new LocalException("node " + node + " not found (nodes: "
                + info.nodeNames() + ")"));
        JsonNode dump = dump(n);
        boolean json = "json".equals(output);
        if (output != null && !json && !"table".equals(output)) {
            throw new IllegalArgumentException("-o " + output + " (expected: table or json)");
        }
        if (section.equals("all")) {
            spec.commandLine().getOut().print(Manifests.toJson(dump));
            return 0;
        }
        ConfigDumpPrinter.Section s = ConfigDumpPrinter.Section.parse(section);
        spec.commandLine().getOut().print(json ? ConfigDumpPrinter.json(dump, s) : ConfigDumpPrinter.table(dump, s));
        return 0;
    }

    /** The agent's config dump; fails naming the node and its log when the agent does not answer. */
    public static JsonNode dump(ClusterInfo.Node n) {
        NetnsHttp.Response r;
        try {
            r = NetnsHttp.get(n.netns(), "127.0.0.1", IstioPorts.ADMIN, "/config_dump", Duration.ofSeconds(10));
        } catch (IOException e) {
            throw new LocalException("node agent of " + n.name() + " does not answer on 127.0.0.1:" + IstioPorts.ADMIN + " in " + n.netns()
                    + ": " + e.getMessage() + " (is it running? ambitctl local status; ambitctl local logs " + n.name() + ")");
        }
        if (r.status() != 200) {
            throw new LocalException("node agent of " + n.name() + ": /config_dump answered " + r.status() + ": " + r.body());
        }
        try {
            return Manifests.JSON.readTree(r.body());
        } catch (IOException e) {
            throw new LocalException("node agent of " + n.name() + ": /config_dump is not JSON: " + e.getMessage());
        }
    }
}
