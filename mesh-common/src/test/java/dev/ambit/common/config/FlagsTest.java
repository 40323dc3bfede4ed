package dev.ambit.common.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FlagsTest {

    static final Set<String> KNOWN = Set.of("dir", "port", "ttl", "verbose", "n");

    @Test
    void readsBothSpellingsBooleansAndDefaults() {
        Flags f = Flags.parse(new String[] {"--dir", "/x", "--port=15012", "--verbose", "--ttl", "90s"}, KNOWN,
                Set.of("verbose"));
        assertThat(f.path("dir", null)).isEqualTo(Path.of("/x"));
        assertThat(f.port("port", 1)).isEqualTo(15012);
        assertThat(f.bool("verbose")).isTrue();
        assertThat(f.duration("ttl", "1s")).isEqualTo(Duration.ofSeconds(90));
        assertThat(f.integer("n", 7, 1, 10)).isEqualTo(7);
        assertThat(f.has("n")).isFalse();
        assertThat(f.string("n", "fallback")).isEqualTo("fallback");
    }

    @Test
    void durationsInEveryUnit() {
        assertThat(Flags.durationOf("d", "500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(Flags.durationOf("d", "10m")).isEqualTo(Duration.ofMinutes(10));
        assertThat(Flags.durationOf("d", "24h")).isEqualTo(Duration.ofHours(24));
        assertThat(Flags.durationOf("d", "PT2S")).isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void errorsNameTheFlagAndTheExpectation() {
        assertThatThrownBy(() -> Flags.parse(new String[] {"--prot", "1"}, KNOWN, Set.of()))
                .hasMessageStartingWith("--prot: unknown flag (expected one of: --dir, --n, --port");
        assertThatThrownBy(() -> Flags.parse(new String[] {"dir"}, KNOWN, Set.of()))
                .hasMessage("argument: dir (expected: --flag; see --help)");
        assertThatThrownBy(() -> Flags.parse(new String[] {"--dir"}, KNOWN, Set.of()))
                .hasMessage("--dir: missing value");
        Flags f = Flags.parse(new String[] {"--port", "70000", "--ttl", "5 days", "--n", "11", "--verbose=yes"},
                KNOWN, Set.of("verbose"));
        assertThatThrownBy(() -> f.port("port", 0)).hasMessage("--port: 70000 (expected: a port number 0-65535)");
        assertThatThrownBy(() -> f.duration("ttl", "1s"))
                .hasMessage("--ttl: 5 days (expected: a duration like 500ms, 30s, 10m, 24h)");
        assertThatThrownBy(() -> f.integer("n", 1, 1, 10)).hasMessage("--n: 11 (expected: a number 1-10)");
        assertThatThrownBy(() -> f.bool("verbose")).hasMessage("--verbose: yes (expected: true or false)");
    }
}
