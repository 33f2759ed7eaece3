package dev.qkv;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/** The assertions the properties share. */
final class PropertyChecks {

    /** How often {@link #sameBits} takes a comparison again while the reference does not hold still. */
    private static final int ATTEMPTS = 10;

    /**
     * How many attempts in which some other differs from a steady reference {@link #sameBits} reports as a failure.
     * A single difference is not enough: another schedule can send one of the helper threads through a path the
     * reference has not taken (the tail of a shard the single thread never cuts), whose compiled code is not there
     * yet, so that call runs the Java fallback's bits once (seen in CI-style runs: a Gaussian few-queries call one ulp
     * off, never twice in a row). A race is not that polite: letting the shards of one query share one scratch block
     * on purpose (RowPooling, checked on 2026-12-02) failed threadsChangeNoBitOfFewQueries with a difference in 3
     * attempts out of 3, its output off in the first digit. (The merge order is no such test: shards merge in double,
     * and merging them as they finish changed no float bit in ThreadProperties' tries.)
     */
    private static final int SCHEDULE_ATTEMPTS = 3;

    private PropertyChecks() {}

    static void check(boolean ok, String format, Object... args) {
        if (!ok) {
            throw new AssertionError(String.format(format, args));
        }
    }

    static void checkWithin(float actual, double expected, double bound, String format, Object... args) {
        double error = Math.abs(actual - expected);
        if (!(error <= bound)) {
            throw new AssertionError(String.format(format, args) + ": " + actual + ", expected " + expected
                    + " within " + bound + ", off by " + error);
        }
    }

    /** {@link #checkWithin}, and −∞ exactly where the expected value is −∞ (a query that sees no key). */
    static void checkLogSumExp(float actual, double expected, double bound, String format, Object... args) {
        if (expected == Double.NEGATIVE_INFINITY) {
            if (actual != Float.NEGATIVE_INFINITY) {
                throw new AssertionError(String.format(format, args) + " of a query that sees no key is " + actual
                        + ", not -Infinity");
            }
        } else {
            checkWithin(actual, expected, bound, format, args);
        }
    }

    /**
     * Checks that each of {@code others} gives bitwise what {@code reference} gives ({@link Objects#deepEquals}: float
     * arrays compare by bits, NaN equal to NaN).
     *
     * <p>The vector kernels' results also depend on the JIT: {@code lanewise(EXP)} and {@code reduceLanes(ADD)} run
     * the Vector API's Java fallback (Math.exp per lane, the lanes summed in order) until C2 compiles them, and then
     * the SVML stub and C2's own order of the lanes, so the same call on the same input can differ in the last bit
     * while the code warms up (seen in one JVM: a 5 × 6 pooling repeated 20000 times changed bits at the 4582nd
     * call). No law checked here is about that, so the reference runs before and after the others; if its two results
     * differ, the JIT changed state in between and the whole comparison is taken again, up to {@value #ATTEMPTS}
     * times. A difference while the reference held still, seen in {@value #SCHEDULE_ATTEMPTS} attempts, is the law
     * failing (see {@link #SCHEDULE_ATTEMPTS}). (The scalar kernels' reference always holds still.)
     */
    static void sameBits(Supplier<?> reference, List<? extends Supplier<?>> others, String format, Object... args) {
        sameBits(false, reference, others, format, args);
    }

    /**
     * {@link #sameBits} for others whose inputs hold numbers the reference's do not, such as NaN in hidden keys: an
     * input the compiled code has not seen can send it back to the interpreter for that call, and so to the Java
     * fallback's bits, while the reference holds still (seen once in CI: every weight of the poisoned call one ulp
     * off). So a difference is taken again as well, and only one that persists through {@value #ATTEMPTS} attempts
     * is reported. The laws checked this way fail in every attempt when broken — a hidden NaN that is read gives
     * NaN each time — unlike a race between threads, which {@link #sameBits} must catch at its first sight.
     */
    static void sameBitsOnOtherInputs(Supplier<?> reference, List<? extends Supplier<?>> others, String format,
            Object... args) {
        sameBits(true, reference, others, format, args);
    }

    private static void sameBits(boolean retryDifferences, Supplier<?> reference, List<? extends Supplier<?>> others,
            String format, Object... args) {
        int differing = 0;
        for (int attempt = 1; ; attempt++) {
            Object before = reference.get();
            Object[] results = new Object[others.size()];
            for (int k = 0; k < results.length; k++) {
                results[k] = others.get(k).get();
            }
            Object after = reference.get();
            if (!Objects.deepEquals(before, after)) {
                check(attempt < ATTEMPTS, "%s: the reference gave different bits %d times in a row",
                        String.format(format, args), ATTEMPTS);
                continue;
            }
            int k = 0;
            while (k < results.length && Objects.deepEquals(before, results[k])) {
                k++;
            }
            if (k == results.length) {
                return;
            }
            differing++;
            if (differing == (retryDifferences ? ATTEMPTS : SCHEDULE_ATTEMPTS) || attempt == ATTEMPTS) {
                throw new AssertionError(String.format(format, args) + ", comparison " + k + ": "
                        + Arrays.deepToString(new Object[] {results[k]}) + ", not "
                        + Arrays.deepToString(new Object[] {before}) + " (in " + differing + " attempts)");
            }
        }
    }

    /**
     * The results of {@code computations}, all taken in one state of the JIT (see {@link #sameBits}): the lot is
     * computed twice, and again while the two rounds differ, up to {@value #ATTEMPTS} times. For laws that rely on
     * a kernel giving a key the same score in two calls, or in two places of one call.
     */
    static Object[] inOneJitState(List<? extends Supplier<?>> computations) {
        for (int attempt = 1; ; attempt++) {
            Object[] first = new Object[computations.size()];
            Object[] second = new Object[computations.size()];
            for (int k = 0; k < first.length; k++) {
                first[k] = computations.get(k).get();
            }
            for (int k = 0; k < second.length; k++) {
                second[k] = computations.get(k).get();
            }
            if (Objects.deepEquals(first, second)) {
                return first;
            }
            check(attempt < ATTEMPTS, "the same computations gave different bits %d times in a row", ATTEMPTS);
        }
    }

    /** {@link #sameBitsOnOtherInputs} with one other. */
    static void sameBitsOnOtherInputs(Supplier<?> reference, Supplier<?> other, String format, Object... args) {
        sameBitsOnOtherInputs(reference, List.of(other), format, args);
    }

    /** {@link #sameBits} with one other. */
    static void sameBits(Supplier<?> reference, Supplier<?> other, String format, Object... args) {
        sameBits(reference, List.of(other), format, args);
    }
}
