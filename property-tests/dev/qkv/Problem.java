package dev.qkv;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * Queries (n × d), keys (m × d) and values (m × dv) under a scoring and a mask, with which keys each query sees
 * worked out here from the rules {@link Mask} documents, not by asking the mask. Entries are uniform in [−4, 4],
 * drawn from a seed, so that large problems cost little to generate; jqwik shrinks the shapes and the seed.
 */
record Problem(Scoring scoring, MaskKind maskKind, float[][] queries, float[][] keys, float[][] values, int dv,
        int[] lengths, boolean[][] explicit) {

    /** Which masks, and combinations of masks, a problem is under. */
    enum MaskKind {
        NONE, VALID_LENGTHS, CAUSAL, EXPLICIT, EXPLICIT_ROW, CAUSAL_AND_VALID_LENGTHS, EXPLICIT_AND_CAUSAL,
        EXPLICIT_ROW_AND_VALID_LENGTHS;

        boolean lengths() {
            return this == VALID_LENGTHS || this == CAUSAL_AND_VALID_LENGTHS || this == EXPLICIT_ROW_AND_VALID_LENGTHS;
        }

        boolean causal() {
            return this == CAUSAL || this == CAUSAL_AND_VALID_LENGTHS || this == EXPLICIT_AND_CAUSAL;
        }

        boolean explicit() {
            return this == EXPLICIT || this == EXPLICIT_ROW || this == EXPLICIT_AND_CAUSAL
                    || this == EXPLICIT_ROW_AND_VALID_LENGTHS;
        }

        boolean oneRow() {
            return this == EXPLICIT_ROW || this == EXPLICIT_ROW_AND_VALID_LENGTHS;
        }
    }

    /** Vector widths in floats are 4, 8 and 16: dimensions on either side of one and two of them, and any other. */
    static Arbitrary<Integer> dims(int max) {
        return Arbitraries.oneOf(Arbitraries.of(1, 7, 8, 9, 15, 16, 17, 33).filter(x -> x <= max),
                Arbitraries.integers().between(1, max));
    }

    static Arbitrary<Scoring> scorings() {
        return Arbitraries.oneOf(Arbitraries.just(Scoring.dot()), Arbitraries.just(Scoring.scaledDot()),
                Arbitraries.doubles().between(0.5, 4).map(Scoring::gaussian));
    }

    /** Problems of the given shapes under the given masks, with any scoring. */
    static Arbitrary<Problem> problems(Arbitrary<Integer> ns, Arbitrary<Integer> ms, Arbitrary<Integer> ds,
            Arbitrary<Integer> dvs, Arbitrary<MaskKind> masks) {
        return problems(scorings(), ns, ms, ds, dvs, masks);
    }

    /** Problems of the given scorings and shapes under the given masks. */
    static Arbitrary<Problem> problems(Arbitrary<Scoring> scorings, Arbitrary<Integer> ns, Arbitrary<Integer> ms,
            Arbitrary<Integer> ds, Arbitrary<Integer> dvs, Arbitrary<MaskKind> masks) {
        return Combinators.combine(scorings, masks, ns, ms, ds, dvs, Arbitraries.longs())
                .as((scoring, mask, n, m, d, dv, seed) -> of(scoring, mask, n, m, d, dv, seed));
    }

    /**
     * A problem drawn from {@code seed}. Valid lengths lie in 0..m + 2; an explicit mask lets each key through with a
     * probability of 0, 0.1, 0.5, 0.9 or 1, and sometimes hides a whole row or a whole column.
     */
    static Problem of(Scoring scoring, MaskKind maskKind, int n, int m, int d, int dv, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[][] q = matrix(random, n, d);
        float[][] k = matrix(random, m, d);
        float[][] v = matrix(random, m, dv);
        int[] lengths = null;
        if (maskKind.lengths()) {
            lengths = new int[n];
            for (int i = 0; i < n; i++) {
                lengths[i] = random.nextInt(m + 3);
            }
        }
        boolean[][] explicit = null;
        if (maskKind.explicit()) {
            double p = new double[] {0, 0.1, 0.5, 0.9, 1}[random.nextInt(5)];
            explicit = new boolean[maskKind.oneRow() ? 1 : n][m];
            for (boolean[] row : explicit) {
                for (int j = 0; j < m; j++) {
                    row[j] = random.nextDouble() < p;
                }
            }
            if (random.nextBoolean()) {
                Arrays.fill(explicit[random.nextInt(explicit.length)], false);
            }
            if (m > 0 && random.nextBoolean()) {
                int column = random.nextInt(m);
                for (boolean[] row : explicit) {
                    row[column] = false;
                }
            }
        }
        return new Problem(scoring, maskKind, q, k, v, dv, lengths, explicit);
    }

    private static float[][] matrix(SplittableRandom random, int rows, int cols) {
        float[][] x = new float[rows][cols];
        for (float[] row : x) {
            for (int j = 0; j < cols; j++) {
                row[j] = (float) (8 * random.nextDouble() - 4);
            }
        }
        return x;
    }

    int n() {
        return queries.length;
    }

    int m() {
        return keys.length;
    }

    int d() {
        return queries.length == 0 ? 0 : queries[0].length;
    }

    /** Whether query i sees key j: every mask of the problem lets it through. */
    boolean sees(int i, int j) {
        int n = n();
        int m = m();
        return (lengths == null || j < lengths[i])
                && (!maskKind.causal() || j <= i + (m - n))
                && (explicit == null || explicit[explicit.length == 1 ? 0 : i][j]);
    }

    /** Query i's row of {@link #sees}. */
    boolean[] sees(int i) {
        boolean[] row = new boolean[m()];
        for (int j = 0; j < row.length; j++) {
            row[j] = sees(i, j);
        }
        return row;
    }

    /** Whether some query sees key j. */
    boolean seenByAny(int j) {
        for (int i = 0; i < n(); i++) {
            if (sees(i, j)) {
                return true;
            }
        }
        return false;
    }

    /** The mask, built with the public API. */
    Mask mask() {
        Mask mask = Mask.none();
        if (lengths != null) {
            mask = mask.and(Mask.validLengths(lengths));
        }
        if (maskKind.causal()) {
            mask = mask.and(Mask.causal());
        }
        if (explicit != null) {
            mask = maskKind.oneRow() ? mask.and(Mask.explicit(explicit[0])) : mask.and(Mask.explicit(explicit));
        }
        return mask;
    }

    /**
     * The mask for keys {@code [from, to)} alone, as {@link Attention#partial} indexes them: lengths and the causal
     * diagonal become lengths counted from {@code from}, an explicit mask keeps its columns {@code [from, to)}.
     */
    Mask mask(int from, int to) {
        int n = n();
        int m = m();
        Mask mask = Mask.none();
        if (lengths != null || maskKind.causal()) {
            int[] ends = new int[n];
            for (int i = 0; i < n; i++) {
                long end = lengths == null ? m : Math.min(lengths[i], m);
                if (maskKind.causal()) {
                    end = Math.min(end, (long) i + 1 + m - n);
                }
                ends[i] = Math.clamp(end - from, 0, to - from);
            }
            mask = Mask.validLengths(ends);
        }
        if (explicit != null) {
            boolean[][] columns = new boolean[explicit.length][];
            for (int i = 0; i < explicit.length; i++) {
                columns[i] = Arrays.copyOfRange(explicit[i], from, to);
            }
            mask = mask.and(maskKind.oneRow() ? Mask.explicit(columns[0]) : Mask.explicit(columns));
        }
        return mask;
    }

    Float64Reference reference(int i) {
        return Float64Reference.of(scoring, queries[i], keys, values, dv, sees(i));
    }

    /** How one call over keys {@code [from, to)} pools query i's keys. */
    Float64Reference.Passes passes(int i, int from, int to) {
        return Float64Reference.Passes.of(sees(i), from, to);
    }

    /** The same problem with every entry of the keys and values j for which {@code hidden} holds replaced. */
    Problem poisoned(IntPredicate hidden, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] poisons = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        float[][] k = keys.clone();
        float[][] v = values.clone();
        for (int j = 0; j < m(); j++) {
            if (hidden.test(j)) {
                k[j] = k[j].clone();
                v[j] = v[j].clone();
                for (int l = 0; l < k[j].length; l++) {
                    k[j][l] = poisons[random.nextInt(3)];
                }
                for (int l = 0; l < v[j].length; l++) {
                    v[j][l] = poisons[random.nextInt(3)];
                }
            }
        }
        return new Problem(scoring, maskKind, queries, k, v, dv, lengths, explicit);
    }

    /**
     * The same problem with query r left no key: its row of the explicit mask hidden (the shared row, for every
     * query), else its valid length 0, else valid lengths added, 0 for r and m for the others.
     */
    Problem blinded(int r) {
        int[] l = lengths == null ? null : lengths.clone();
        boolean[][] e = null;
        MaskKind kind = maskKind;
        if (explicit != null) {
            e = new boolean[explicit.length][];
            for (int i = 0; i < e.length; i++) {
                e[i] = explicit[i].clone();
            }
            Arrays.fill(e[e.length == 1 ? 0 : r], false);
        } else {
            if (l == null) {
                l = new int[n()];
                Arrays.fill(l, m());
                kind = maskKind.causal() ? MaskKind.CAUSAL_AND_VALID_LENGTHS : MaskKind.VALID_LENGTHS;
            }
            l[r] = 0;
        }
        return new Problem(scoring, kind, queries, keys, values, dv, l, e);
    }

    Tensor queries(Arena arena) {
        return tensor(arena, queries, d());
    }

    Tensor keys(Arena arena) {
        return tensor(arena, keys, d());
    }

    Tensor values(Arena arena) {
        return tensor(arena, values, dv);
    }

    private static Tensor tensor(Arena arena, float[][] rows, int cols) {
        Tensor t = Tensor.allocate(arena, rows.length, cols);
        t.copyFrom(rows);
        return t;
    }

    @Override
    public String toString() {
        return "Problem[" + scoring + ", " + maskKind + ", n = " + n() + ", m = " + m() + ", d = " + d() + ", dv = "
                + dv + (lengths == null ? "" : ", lengths " + Arrays.toString(lengths))
                + (n() * m() <= 400 ? ", queries " + Arrays.deepToString(queries) + ", keys "
                        + Arrays.deepToString(keys) + ", values " + Arrays.deepToString(values)
                        + (explicit == null ? "" : ", explicit " + Arrays.deepToString(explicit)) : "")
                + "]";
    }
}
