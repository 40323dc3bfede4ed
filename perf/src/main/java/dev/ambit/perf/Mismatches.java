package dev.ambit.perf;

import java.util.Optional;

/**
 * Connections of one run whose original destination was missing or wrong, and the
 * first of them for the report.
 */
record Mismatches(long count, Optional<String> first) {

    static final Mismatches NONE = new Mismatches(0, Optional.empty());
}
