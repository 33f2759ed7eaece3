package dev.qkv.algorithm;

import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * Which keys each query sees, in the form the algorithms use, and the one place where that is applied to scores
 * ({@link #apply}): query i sees key j when {@code j < end(i)} and, with an explicit matrix, {@code visible[i][j]}.
 * {@code dev.qkv.Mask} builds it for n queries and m keys. An additive {@link Bias} per query and key, when there is
 * one, is added to the scores of the keys a query sees in {@link #apply} too: every path (rows, tiles, weights, the
 * backward pass) goes through that one step. A key whose bias is −∞ is hidden, and {@code Mask} has already made it
 * invisible here.
 *
 * <p>A key a query does not see is never used for that query: its score is replaced by −∞ before the softmax, and
 * its value row is never multiplied (not even by 0, since 0 · NaN is NaN); {@link #runEnd} and
 * {@link #nextVisible} give the runs of keys a query sees. Immutable; the arrays are not copied.
 */
public final class Visibility {

    private final int[] ends;
    private final boolean[][] explicit;
    private final Bias bias;

    private Visibility(int[] ends, boolean[][] explicit, Bias bias) {
        this.ends = ends;
        this.explicit = explicit;
        this.bias = bias;
    }

    /**
     * Query i sees keys {@code [0, ends[i])}, and of those, when {@code explicit} is not null, the keys j with
     * {@code explicit[i][j]} ({@code explicit[0][j]} for every query when it has one row).
     */
    public static Visibility of(int[] ends, boolean[][] explicit) {
        return new Visibility(ends, explicit, null);
    }

    /** As {@link #of(int[], boolean[][])}, with {@code bias} (null for none) added to the scores of visible keys. */
    public static Visibility of(int[] ends, boolean[][] explicit, Bias bias) {
        return new Visibility(ends, explicit, bias);
    }

    /** Every one of n queries sees all m keys. */
    public static Visibility all(int n, int m) {
        int[] ends = new int[n];
        Arrays.fill(ends, m);
        return new Visibility(ends, null, null);
    }

    /** The number of queries. */
    public int queries() {
        return ends.length;
    }

    /** Query i sees no key at or past this one. */
    public int end(int i) {
        return ends[i];
    }

    /** Whether some query may see only some of the keys before its end. */
    public boolean hasExplicit() {
        return explicit != null;
    }

    /** Query i's row of the explicit matrix (true = visible), or null when there is none; not a copy. */
    public boolean[] explicitRow(int i) {
        return explicit == null ? null : row(i);
    }

    /** The bias added to the score of query i and key j: 0 without a {@link Bias}. */
    public float bias(int i, int j) {
        return bias == null ? 0f : bias.at(i, j);
    }

    /** Whether query i sees key j. */
    public boolean sees(int i, int j) {
        return j < ends[i] && (explicit == null || row(i)[j]);
    }

    /**
     * The step of every algorithm between scores and softmax: for query i and keys {@code [from, from + count)},
     * whose scores are {@code scores[at, at + count)}, replaces the score of each key the query does not see by −∞,
     * and adds the {@link Bias}, if any, to the others.
     */
    public void apply(int i, int from, int count, float[] scores, int at) {
        int seen = Math.clamp((long) ends[i] - from, 0, count);
        Arrays.fill(scores, at + seen, at + count, Float.NEGATIVE_INFINITY);
        if (explicit != null) {
            boolean[] visible = row(i);
            for (int j = 0; j < seen; j++) {
                if (!visible[from + j]) {
                    scores[at + j] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        if (bias != null) {
            bias.add(i, from, seen, scores, at); // −∞ + b stays −∞: b is never +∞ or NaN
        }
    }

    /**
     * Whether {@link #apply} would leave the scores of query i and keys {@code [from, from + count)} as they are: it
     * sees every one of them and there is no bias.
     */
    public boolean untouched(int i, int from, int count) {
        return explicit == null && bias == null && (long) from + count <= ends[i];
    }

    /** The first key in {@code [j, to)} query i sees, or {@code to} if it sees none of them. */
    public int nextVisible(int i, int j, int to) {
        int last = Math.min(to, ends[i]);
        if (explicit != null) {
            boolean[] visible = row(i);
            while (j < last && !visible[j]) {
                j++;
            }
        }
        return j < last ? j : to;
    }

    /** The end of the run of keys query i sees that starts at key j (which it sees), at most {@code to}. */
    public int runEnd(int i, int j, int to) {
        int last = Math.min(to, ends[i]);
        if (explicit == null) {
            return last;
        }
        boolean[] visible = row(i);
        while (j < last && visible[j]) {
            j++;
        }
        return j;
    }

    /**
     * Which keys some query sees: the only key and value rows the algorithms read. A predicate rather than an array
     * of m flags, which for m near 2³¹ would need gigabytes of heap.
     */
    public IntPredicate seen() {
        int last = Arrays.stream(ends).max().orElse(0);
        if (explicit == null) {
            return j -> j < last;
        }
        return j -> {
            for (int i = 0; i < ends.length; i++) {
                if (j < ends[i] && row(i)[j]) {
                    return true;
                }
            }
            return false;
        };
    }

    private boolean[] row(int i) {
        return explicit[explicit.length == 1 ? 0 : i];
    }
}
