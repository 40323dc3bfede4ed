package dev.ambit.proxy.authz;

import dev.ambit.api.security.StringMatch;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * OR of {@link StringMatch}es, compiled: exact values in a set, prefixes and suffixes in
 * arrays, presence as a flag. A {@code null} value (no identity) matches nothing, not even
 * presence.
 */
final class StringMatcher {

    private final Set<String> exact;
    private final String[] prefixes;
    private final String[] suffixes;
    private final boolean presence;

    private StringMatcher(Set<String> exact, String[] prefixes, String[] suffixes, boolean presence) {
        this.exact = exact;
        this.prefixes = prefixes;
        this.suffixes = suffixes;
        this.presence = presence;
    }

    /**
     * Returns {@code null} for an empty list: an empty field is not checked at all.
     *
     * @throws IllegalArgumentException if a match has no type set
     */
    static StringMatcher compile(List<StringMatch> matches, String field) {
        if (matches.isEmpty()) {
            return null;
        }
        Set<String> exact = new HashSet<>();
        List<String> prefixes = new ArrayList<>();
        List<String> suffixes = new ArrayList<>();
        boolean presence = false;
        for (StringMatch m : matches) {
            switch (m.getMatchTypeCase()) {
                case EXACT -> exact.add(m.getExact());
                case PREFIX -> prefixes.add(m.getPrefix());
                case SUFFIX -> suffixes.add(m.getSuffix());
                case PRESENCE -> presence = true;
                // An empty StringMatch is malformed; guessing either way could open or close
                // traffic, so the whole resource is rejected instead.
                case MATCHTYPE_NOT_SET -> throw new IllegalArgumentException(field + ": a match with no type");
            }
        }
        return new StringMatcher(Set.copyOf(exact), prefixes.toArray(String[]::new),
                                 suffixes.toArray(String[]::new), presence);
    }

    boolean matches(String value) {
        if (value == null) {
            return false;
        }
        if (presence || exact.contains(value)) {
            return true;
        }
        for (String p : prefixes) {
            if (value.startsWith(p)) {
                return true;
            }
        }
        for (String s : suffixes) {
            if (value.endsWith(s)) {
                return true;
            }
        }
        return false;
    }
}
