package dev.qkv;

import dev.qkv.algorithm.Visibility;
import java.util.Arrays;
import java.util.Objects;

/**
 * Which keys each query may attend to. A masked key is never used: its score and its value are left out of
 * the sums, so a NaN there cannot reach the output (a key no query of a tile sees is not even loaded). A
 * query left with no key gets weights 0, output 0 and log-sum-exp −∞ — the convention of PyTorch's
 * scaled-dot-product attention and FlashAttention; d2l instead fills masked scores with −10⁶, which gives
 * such a query the plain average of the values.
 *
 * <ul>
 *   <li>{@link #none()}: every key;
 *   <li>{@link #validLengths(int...)}: d2l's {@code valid_lens}, query i sees keys {@code 0 ≤ j < lengths[i]};
 *       a length ≥ m keeps every key;
 *   <li>{@link #causal()}: query i sees key j when {@code j ≤ i + (m − n)}, aligned bottom-right like
 *       FlashAttention, so the last query sees every key; with n = m, query i sees keys 0…i;
 *   <li>{@link #explicit(boolean[][])}: an n × m matrix of {@code true} = visible, or one row of m for every
 *       query ({@link #explicit(boolean[])}).
 * </ul>
 *
 * {@link #and(Mask)} combines masks: a key is visible when every part lets it through. Immutable; the arrays
 * given are copied.
 */
public final class Mask {

    private static final Mask NONE = new Mask(null, false, null);

    private final int[] validLengths;
    private final boolean causal;
    private final boolean[][] explicit;

    private Mask(int[] validLengths, boolean causal, boolean[][] explicit) {
        this.validLengths = validLengths;
        this.causal = causal;
        this.explicit = explicit;
    }

    /** Every query sees every key. */
    public static Mask none() {
        return NONE;
    }

    /**
     * Query {@code i} sees keys {@code 0 ≤ j < lengths[i]}; one length per query.
     *
     * @throws IllegalArgumentException if a length is negative, naming its index
     */
    public static Mask validLengths(int... lengths) {
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0) {
                throw new IllegalArgumentException("the valid length of query " + i + " is " + lengths[i]
                        + "; it must be 0 or more");
            }
        }
        return new Mask(lengths.clone(), false, null);
    }

    /** Query i of n sees key j of m when {@code j ≤ i + (m − n)} (bottom-right aligned). */
    public static Mask causal() {
        return new Mask(null, true, null);
    }

    /**
     * Query i sees key j when {@code visible[i][j]}; n rows of m.
     *
     * @throws IllegalArgumentException if the rows differ in length
     */
    public static Mask explicit(boolean[][] visible) {
        boolean[][] copy = new boolean[visible.length][];
        for (int i = 0; i < visible.length; i++) {
            copy[i] = visible[i].clone();
            if (copy[i].length != copy[0].length) {
                throw new IllegalArgumentException("mask row " + i + " has " + copy[i].length + " entries, row 0 has "
                        + copy[0].length);
            }
        }
        return new Mask(null, false, copy);
    }

    /** Every query sees key j when {@code visible[j]}. */
    public static Mask explicit(boolean[] visible) {
        return new Mask(null, false, new boolean[][] {visible.clone()});
    }

    /**
     * A mask that lets a key through when both this one and {@code other} do. Two explicit masks combine key by key
     * (one of a single row applying to every query of the other).
     *
     * @throws IllegalArgumentException if both have valid lengths, or both are explicit with different shapes (other
     *     than one row against n rows of the same width)
     */
    public Mask and(Mask other) {
        Objects.requireNonNull(other, "other");
        if (validLengths != null && other.validLengths != null) {
            throw new IllegalArgumentException("cannot combine two sets of valid lengths");
        }
        return new Mask(validLengths != null ? validLengths : other.validLengths, causal || other.causal,
                explicit == null ? other.explicit : other.explicit == null ? explicit : both(explicit, other.explicit));
    }

    /** Key by key, a visible where both are; a single row applies to every row of the other. */
    private static boolean[][] both(boolean[][] a, boolean[][] b) {
        int cols = a.length == 0 ? 0 : a[0].length;
        int otherCols = b.length == 0 ? 0 : b[0].length;
        if (cols != otherCols || (a.length != b.length && a.length != 1 && b.length != 1)) {
            throw new IllegalArgumentException("cannot combine an explicit mask of shape (" + a.length + ", " + cols
                    + ") with one of shape (" + b.length + ", " + otherCols + ")");
        }
        int rows = Math.max(a.length, b.length);
        boolean[][] both = new boolean[rows][cols];
        for (int i = 0; i < rows; i++) {
            boolean[] x = a[a.length == 1 ? 0 : i];
            boolean[] y = b[b.length == 1 ? 0 : i];
            for (int j = 0; j < cols; j++) {
                both[i][j] = x[j] && y[j];
            }
        }
        return both;
    }

    /** Whether every query sees every key. */
    public boolean isNone() {
        return validLengths == null && !causal && explicit == null;
    }

    /** Checks that this mask fits n queries and m keys. */
    void check(int n, int m) {
        if (validLengths != null && validLengths.length != n) {
            throw new IllegalArgumentException("valid lengths has " + validLengths.length + " entries for " + n
                    + " queries");
        }
        if (explicit != null) {
            int rows = explicit.length;
            int cols = rows == 0 ? 0 : explicit[0].length;
            if ((rows != n && rows != 1) || cols != m) {
                String expected = n == 1 ? "(1, " + m + ")" : "(" + n + ", " + m + ") or (1, " + m + ")";
                throw new IllegalArgumentException("mask has shape (" + rows + ", " + cols + "), expected " + expected
                        + " for " + n + (n == 1 ? " query and " : " queries and ") + m + (m == 1 ? " key" : " keys"));
            }
        }
    }

    /**
     * This mask for n queries and m keys, as the algorithms apply it: query i sees keys before its end (valid length
     * and causal diagonal) that the explicit matrix lets through.
     */
    Visibility visibility(int n, int m) {
        int[] ends = new int[n];
        for (int i = 0; i < n; i++) {
            int end = validLengths == null ? m : Math.min(validLengths[i], m);
            if (causal) {
                end = (int) Math.clamp((long) i + 1 + m - n, 0, end);
            }
            ends[i] = end;
        }
        return Visibility.of(ends, explicit);
    }

    @Override
    public String toString() {
        if (isNone()) {
            return "Mask.none()";
        }
        StringBuilder b = new StringBuilder("Mask[");
        if (validLengths != null) {
            b.append("validLengths=").append(Arrays.toString(validLengths)).append(' ');
        }
        if (causal) {
            b.append("causal ");
        }
        if (explicit != null) {
            b.append("explicit ").append(explicit.length).append('x').append(explicit.length == 0 ? 0 : explicit[0].length);
        }
        return b.toString().strip() + "]";
    }
}
