package dev.ambit.perf;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * One measured run of one scenario. Errors add up what the client saw fail, the
 * connections the capture answered with a wrong or missing original destination, and
 * the connections that bypassed an intercepting capture and reached the server.
 *
 * @param note the first problem seen, if any, to show under the table
 */
public record RunResult(String scenario, int run, LoadResult load, long mismatches, long bypassed,
                        Optional<String> note) {

    public RunResult {
        requireNonNull(scenario, "scenario");
        requireNonNull(load, "load");
        requireNonNull(note, "note");
    }

    /** Every failed or wrongly handled connection of the run. */
    public long errors() {
        return load.errors() + mismatches + bypassed;
    }
}
