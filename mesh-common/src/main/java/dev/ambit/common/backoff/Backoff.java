package dev.ambit.common.backoff;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A bounded exponential backoff with jitter: the delay before retry {@code n} (0 = the first
 * retry) is {@code initial × 2^n}, capped at {@code max}, of which up to a {@code jitter}
 * fraction is taken off at random. Random jitter keeps many clients that failed together
 * (agents after a control-plane restart, identities after a CA outage) from retrying in
 * lockstep; taking it off (never adding) keeps {@code max} a true bound.
 *
 * <p>Stateless and immutable: the caller counts its consecutive failures. Thread-safe.
 *
 * <pre>{@code
 * Backoff b = Backoff.of(Duration.ofMillis(100), Duration.ofSeconds(1)); // "equal jitter", 0.5
 * scheduler.schedule(this::retry, b.delay(failures++).toNanos(), NANOSECONDS);
 * }</pre>
 */
public final class Backoff {

    /** Half fixed, half random ("equal jitter"): never retries at once, never in lockstep. */
    public static final double EQUAL_JITTER = 0.5;

    private final Duration initial;
    private final Duration max;
    private final double jitter;

    private Backoff(Duration initial, Duration max, double jitter) {
        this.initial = initial;
        this.max = max;
        this.jitter = jitter;
    }

    /**
     * Doubling from {@code initial} up to {@code max}, with {@linkplain #EQUAL_JITTER equal jitter}.
     *
     * @throws IllegalArgumentException if {@code initial} is not positive or {@code max} is below it
     */
    public static Backoff of(Duration initial, Duration max) {
        requireNonNull(initial, "initial");
        requireNonNull(max, "max");
        if (initial.isNegative() || initial.isZero()) {
            throw new IllegalArgumentException("initial: " + initial + " (expected: > 0)");
        }
        if (max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("max: " + max + " (expected: >= initial " + initial + ")");
        }
        return new Backoff(initial, max, EQUAL_JITTER);
    }

    /**
     * This backoff with up to {@code fraction} of each delay taken off at random; 0 for none.
     *
     * @throws IllegalArgumentException if {@code fraction} is not in [0, 1)
     */
    public Backoff withJitter(double fraction) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("jitter: " + fraction + " (expected: >= 0 and < 1)");
        }
        return new Backoff(initial, max, fraction);
    }

    /** The delay of the first retry, before jitter. */
    public Duration initial() {
        return initial;
    }

    /** The cap of every delay. */
    public Duration max() {
        return max;
    }

    /** The fraction of a delay that may be taken off at random. */
    public double jitter() {
        return jitter;
    }

    /**
     * The delay before retry {@code attempt} (0-based: after the first failure, 0): within
     * {@code [step × (1 - jitter), step]} where {@code step = min(max, initial × 2^attempt)}.
     * Negative attempts count as 0; large ones never overflow.
     */
    public Duration delay(int attempt) {
        long step = step(attempt);
        if (jitter == 0) {
            return Duration.ofNanos(step);
        }
        long off = (long) (step * jitter * ThreadLocalRandom.current().nextDouble());
        return Duration.ofNanos(Math.max(1, step - off));
    }

    /** {@code min(max, initial × 2^attempt)} in nanoseconds, without jitter. */
    long step(int attempt) {
        long base = initial.toNanos();
        long cap = max.toNanos();
        int shift = Math.max(0, Math.min(attempt, 62));
        return base > (cap >> shift) ? cap : Math.min(cap, base << shift);
    }

    @Override
    public String toString() {
        return "Backoff(" + initial + " doubling up to " + max + ", jitter " + jitter + ")";
    }
}
