package dev.ambit.ctl.analyze;

import dev.ambit.istiod.config.ConfigError;

/**
 * Inputs istiod-lite's decoder and validators reject (the same rules as its config sources and
 * its admission webhook): IST0106, the object named when it could be read that far.
 */
final class SchemaAnalyzer implements Analyzer {

    @Override
    public void analyze(Analysis a) {
        for (ConfigError e : a.rejected()) {
            a.report(MessageType.SCHEMA_VALIDATION_ERROR, e.object(), e.origin(), e.field(),
                    "Schema validation error: " + e.reason(),
                    "correct the field; until then istiod-lite does not apply this object (a security object fails"
                            + " closed in its scope, another kind keeps its last good version).");
        }
    }
}
