package dev.qkv;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/** The assertions the properties share. */
final class PropertyChecks {

    /** How often {@link #sameBits} takes a comparison again while the reference does not hold still. */
    private static final int ATTEMPTS = 10;

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
     * arrays compare by bits, NaN equal to NaN), and that the reference, run before and after them, gives the same
     * bits both times.
     *
     * <p>No retry: the vector kernels take exp and lane sums through {@code VectorMath}, whose bits are the same in
     * the Vector API's Java fallback and in C2's code, so a JIT changing state between two calls changes no bit.
     * (Until they did, with {@code lanewise(EXP)} and {@code reduceLanes(ADD)}, this check had to take a comparison
     * again when the reference itself moved, and a thread-count property still failed now and then.)
     */
    static void sameBits(Supplier<?> reference, List<? extends Supplier<?>> others, String format, Object... args) {
        Object before = reference.get();
        Object[] results = new Object[others.size()];
        for (int k = 0; k < results.length; k++) {
            results[k] = others.get(k).get();
        }
        Object after = reference.get();
        check(Objects.deepEquals(before, after), "%s: the reference gave different bits on its second call",
                String.format(format, args));
        for (int k = 0; k < results.length; k++) {
            if (!Objects.deepEquals(before, results[k])) {
                throw new AssertionError(String.format(format, args) + ", comparison " + k + ": "
                        + Arrays.deepToString(new Object[] {results[k]}) + ", not "
                        + Arrays.deepToString(new Object[] {before}));
            }
        }
    }

    /** {@link #sameBits} for others whose inputs hold numbers the reference's do not, such as NaN in hidden keys. */
    static void sameBitsOnOtherInputs(Supplier<?> reference, List<? extends Supplier<?>> others, String format,
            Object... args) {
        sameBits(reference, others, format, args);
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
