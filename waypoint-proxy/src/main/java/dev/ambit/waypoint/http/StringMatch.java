package dev.ambit.waypoint.http;

import com.google.re2j.Pattern;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * A compiled Envoy {@link StringMatcher} ({@code exact}, {@code prefix}, {@code suffix},
 * {@code contains}, {@code safe_regex} with {@code ignore_case}). Regular expressions are
 * RE2 in Envoy and here (RE2/J, as the validator checks them: java.util.regex refused some
 * patterns RE2 accepts and backtracks exponentially on others, found by HttpFuzzTest), matching
 * the whole value as RE2's full match does.
 */
public final class StringMatch implements Predicate<String> {

    private final Predicate<String> test;

    private StringMatch(Predicate<String> test) {
        this.test = test;
    }

    /** The compiled matcher; {@code IllegalArgumentException} for a matcher without a pattern. */
    public static StringMatch of(StringMatcher m) {
        boolean ic = m.getIgnoreCase();
        return switch (m.getMatchPatternCase()) {
            case EXACT -> exact(m.getExact(), ic);
            case PREFIX -> prefix(m.getPrefix(), ic);
            case SUFFIX -> suffix(m.getSuffix(), ic);
            case CONTAINS -> contains(m.getContains(), ic);
            case SAFE_REGEX -> regex(m.getSafeRegex().getRegex());
            default -> throw new IllegalArgumentException("string matcher: " + m.getMatchPatternCase()
                    + " (expected: exact, prefix, suffix, contains or safe_regex)");
        };
    }

    static StringMatch exact(String v, boolean ignoreCase) {
        return new StringMatch(ignoreCase ? s -> s.equalsIgnoreCase(v) : v::equals);
    }

    static StringMatch prefix(String v, boolean ignoreCase) {
        return new StringMatch(ignoreCase ? s -> s.regionMatches(true, 0, v, 0, v.length()) : s -> s.startsWith(v));
    }

    static StringMatch suffix(String v, boolean ignoreCase) {
        return new StringMatch(ignoreCase
                ? s -> s.length() >= v.length() && s.regionMatches(true, s.length() - v.length(), v, 0, v.length())
                : s -> s.endsWith(v));
    }

    static StringMatch contains(String v, boolean ignoreCase) {
        String lower = v.toLowerCase(Locale.ROOT);
        return new StringMatch(ignoreCase ? s -> s.toLowerCase(Locale.ROOT).contains(lower) : s -> s.contains(v));
    }

    static StringMatch regex(String regex) {
        Pattern p = Pattern.compile(regex);
        return new StringMatch(s -> p.matcher(s).matches());
    }

    @Override
    public boolean test(String s) {
        return s != null && test.test(s);
    }
}
