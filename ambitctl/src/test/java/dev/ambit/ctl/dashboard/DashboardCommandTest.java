package dev.ambit.ctl.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.ctl.Ambitctl;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** {@code ambitctl dashboard}'s Kubernetes flags: bad values are refused naming the flag, before anything starts. */
class DashboardCommandTest {

    private static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new String[] {String.valueOf(code), out.toString(), err.toString()};
    }

    @Test
    void badKubernetesFlagsAreRefusedNamingTheFlag() {
        String[] access = run("dashboard", "--kubernetes", "--no-open", "--port=0", "--agent-access=direct");
        assertThat(access[0]).isEqualTo("1");
        assertThat(access[2]).contains("error: --agent-access: direct (expected: pod-ip, api-proxy or auto)");
        String[] selector = run("dashboard", "--kubernetes", "--no-open", "--port=0", "--agent-selector=app");
        assertThat(selector[0]).isEqualTo("1");
        assertThat(selector[2]).contains("error: --agent-selector: app (expected: label=value[,label=value...])");
        String[] port = run("dashboard", "--kubernetes", "--no-open", "--agent-port=70000");
        assertThat(port[0]).isEqualTo("1");
        assertThat(port[2]).contains("error: --agent-port: 70000 (expected: 1-65535)");
    }

    @Test
    void helpNamesTheKubernetesMode() {
        String[] help = run("dashboard", "--help");
        assertThat(help[0]).isEqualTo("0");
        assertThat(help[1]).contains("--kubernetes", "--agent-namespace", "--agent-selector", "--agent-port",
                "--agent-access", "--context");
    }
}
