package dev.ambit.ctl.analyze;

/** One check over the whole configuration, reporting through {@link Analysis#report}. */
@FunctionalInterface
interface Analyzer {
    void analyze(Analysis analysis);
}
