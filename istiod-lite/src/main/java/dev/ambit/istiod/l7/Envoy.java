package dev.ambit.istiod.l7;

import com.google.protobuf.Duration;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatch;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchExact;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchPrefix;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchRegex;
import java.math.BigDecimal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Small conversions from Istio's and Gateway API's values to Envoy's messages, shared by the translators. */
final class Envoy {

    private static final Pattern DURATION = Pattern.compile("((\\d+(\\.\\d+)?)(h|ms|m|s|us|µs|ns))+");
    private static final Pattern DURATION_PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(h|ms|m|s|us|µs|ns)");

    private Envoy() {}

    /** An Istio StringMatch as Envoy's StringMatcher; {@code null} for an empty one (match presence). */
    static StringMatcher stringMatcher(StringMatch m, boolean ignoreCase) {
        if (m == null || m.getMatchType() == null) {
            return null;
        }
        StringMatcher.Builder b = StringMatcher.newBuilder();
        switch (m.getMatchType()) {
            case StringMatchExact e -> b.setExact(e.getExact());
            case StringMatchPrefix p -> b.setPrefix(p.getPrefix());
            case StringMatchRegex r -> b.setSafeRegex(regex(r.getRegex()));
            default -> {
                return null;
            }
        }
        if (ignoreCase) {
            b.setIgnoreCase(true);
        }
        return b.build();
    }

    static RegexMatcher regex(String regex) {
        return RegexMatcher.newBuilder().setRegex(regex).build();
    }

    /**
     * A percentage (0-100, fractions allowed) as Envoy's FractionalPercent: HUNDRED for whole
     * numbers, MILLION otherwise (Istio's conversion keeps six digits).
     */
    static FractionalPercent percent(double value) {
        if (value == Math.rint(value)) {
            return FractionalPercent.newBuilder().setNumerator((int) value)
                    .setDenominator(FractionalPercent.DenominatorType.HUNDRED).build();
        }
        return FractionalPercent.newBuilder().setNumerator((int) Math.round(value * 10_000))
                .setDenominator(FractionalPercent.DenominatorType.MILLION).build();
    }

    /** Whether {@code text} is a duration in Go's syntax ({@code 1.5s}, {@code 300ms}, {@code 1m30s}). */
    static boolean isDuration(String text) {
        return text != null && DURATION.matcher(text).matches();
    }

    /** A Go-style duration ({@code 1h2m3.5s}, {@code 250ms}) as a protobuf Duration; {@code null} if invalid. */
    static Duration duration(String text) {
        if (!isDuration(text)) {
            return null;
        }
        BigDecimal nanos = BigDecimal.ZERO;
        Matcher m = DURATION_PART.matcher(text);
        while (m.find()) {
            BigDecimal v = new BigDecimal(m.group(1));
            long unit = switch (m.group(2)) {
                case "h" -> 3_600_000_000_000L;
                case "m" -> 60_000_000_000L;
                case "s" -> 1_000_000_000L;
                case "ms" -> 1_000_000L;
                case "us", "µs" -> 1_000L;
                default -> 1L;
            };
            nanos = nanos.add(v.multiply(BigDecimal.valueOf(unit)));
        }
        long total = nanos.longValue();
        return Duration.newBuilder().setSeconds(total / 1_000_000_000L).setNanos((int) (total % 1_000_000_000L))
                .build();
    }

    static HeaderValueOption header(String name, String value, boolean overwrite) {
        return HeaderValueOption.newBuilder()
                .setHeader(HeaderValue.newBuilder().setKey(name).setValue(value))
                .setAppendAction(overwrite ? HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD
                        : HeaderValueOption.HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD)
                .build();
    }

    /** An HTTP redirect status as Envoy's enum; {@code null} when Envoy has none for it. */
    static RedirectAction.RedirectResponseCode redirectCode(long code) {
        return switch ((int) code) {
            case 301 -> RedirectAction.RedirectResponseCode.MOVED_PERMANENTLY;
            case 302 -> RedirectAction.RedirectResponseCode.FOUND;
            case 303 -> RedirectAction.RedirectResponseCode.SEE_OTHER;
            case 307 -> RedirectAction.RedirectResponseCode.TEMPORARY_REDIRECT;
            case 308 -> RedirectAction.RedirectResponseCode.PERMANENT_REDIRECT;
            default -> null;
        };
    }
}
