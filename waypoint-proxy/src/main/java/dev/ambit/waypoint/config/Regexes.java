package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import com.google.re2j.Pattern;
import com.google.re2j.PatternSyntaxException;

/**
 * Envoy's {@code safe_regex} is RE2 (linear time, no backreferences or lookaround), so the
 * waypoint compiles and matches them with RE2/J: a pattern Envoy would refuse is refused here
 * too, and a pattern cannot make a request take exponential time. Istio's regex matches are
 * whole-string matches ({@link Pattern#matches}).
 */
public final class Regexes {

    private Regexes() {}

    /** Compiles {@code regex} as RE2. */
    public static Pattern compile(String regex) {
        requireNonNull(regex, "regex");
        return Pattern.compile(regex);
    }

    /** Why {@code regex} is not valid RE2, or null when it is. */
    static String check(String regex) {
        try {
            compile(regex);
            return null;
        } catch (PatternSyntaxException e) {
            return e.getDescription();
        }
    }
}
