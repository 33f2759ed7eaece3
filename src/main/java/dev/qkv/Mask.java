package dev.qkv;

import dev.qkv.algorithm.Bias;
import dev.qkv.algorithm.Visibility;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * Which keys each query may attend to, and an additive bias on the scores. A masked key is never used: its score and its value are left out of
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
 *   <li>{@link #bias(Tensor)}: an additive float bias, {@code sᵢⱼ = a(qᵢ, kⱼ) + bᵢⱼ} — PyTorch's float
 *       {@code attn_mask}, ONNX Runtime's {@code attention_bias} — of shape (n, m), broadcast as NumPy does (a
 *       dimension of 1 repeats; (m,) or (1, m) is one row for every query); −∞ hides the key exactly as a boolean
 *       mask does (it is never read);
 *   <li>{@link #alibi(double...)}: ALiBi, {@code bᵢⱼ = −slope·|i + (m − n) − j|}, one slope per head
 *       ({@link #alibiSlopes(int)} gives the paper's), with the diagonal aligned as {@link #causal()} aligns it;
 *       with {@code causal()} this is the paper's decoder bias {@code slope·(j − i)} for n = m.
 * </ul>
 *
 * {@link #and(Mask)} combines masks: a key is visible when every part lets it through, and a bias adds to the
 * scores of the keys left. A bias tensor and ALiBi may be combined (their float sum, tensor entry first, is added);
 * two bias tensors or two sets of slopes may not. A bias is added after the scoring's scale, as in PyTorch's
 * {@code scaled_dot_product_attention}. Immutable; the arrays given are copied. A bias tensor is not copied (it can
 * be as large as B·H·n·m floats): every call that uses the mask reads it, checks it first (no NaN, no +∞, else
 * {@link IllegalArgumentException} naming the entry) and needs it alive and unchanged while it runs.
 *
 * <p>For {@link MultiHeadAttention}, a bias tensor may have rank up to 4 and broadcasts against the weights'
 * shape (…, n, m) as NumPy does, e.g. (B, H, n, m), (1, H, n, m), (B, 1, 1, m) (key padding) or (n, m) for queries
 * (B, H, n, d); and ALiBi has one slope per query head (or one for all). For {@link Attention} the bias must
 * broadcast to (n, m) and ALiBi have one slope.
 */
public final class Mask {

    private static final Mask NONE = new Mask(null, false, null, null, null);

    private final int[] validLengths;
    private final boolean causal;
    private final boolean[][] explicit;
    private final Tensor bias;
    private final double[] slopes;

    private Mask(int[] validLengths, boolean causal, boolean[][] explicit, Tensor bias, double[] slopes) {
        this.validLengths = validLengths;
        this.causal = causal;
        this.explicit = explicit;
        this.bias = bias;
        this.slopes = slopes;
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
                throw new IllegalArgumentException("valid length " + i + " is negative: " + lengths[i]);
            }
        }
        return new Mask(lengths.clone(), false, null, null, null);
    }

    /** Query i of n sees key j of m when {@code j ≤ i + (m − n)} (bottom-right aligned). */
    public static Mask causal() {
        return new Mask(null, true, null, null, null);
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
        return new Mask(null, false, copy, null, null);
    }

    /** Every query sees key j when {@code visible[j]}. */
    public static Mask explicit(boolean[] visible) {
        return new Mask(null, false, new boolean[][] {visible.clone()}, null, null);
    }

    /**
     * Every key visible, with {@code bias} added to the scores: float32, of rank 1 to 4, its last two dimensions n or
     * 1 and m or 1 (see the class comment for how it broadcasts); −∞ hides a key. Not copied: it is read, and its
     * entries checked, by every call that uses this mask.
     *
     * @throws IllegalArgumentException if the tensor is not float32
     * @throws IllegalStateException if its arena is closed
     */
    public static Mask bias(Tensor bias) {
        Objects.requireNonNull(bias, "bias");
        if (!bias.isAlive()) {
            throw new IllegalStateException("bias: the arena that owns this tensor is closed");
        }
        if (bias.elementType() != ElementType.F32) {
            throw new IllegalArgumentException("bias " + bias.shapeString() + " is " + bias.elementType().label()
                    + "; a bias must be float32");
        }
        return new Mask(null, false, null, bias, null);
    }

    /**
     * ALiBi: {@code bᵢⱼ = −slope·|i + (m − n) − j|} added to the scores of query i of n and key j of m, computed in
     * double and rounded to float; one slope per head of a {@link MultiHeadAttention} call, or one for every head.
     *
     * @throws IllegalArgumentException if there is no slope, or one is negative or not finite
     */
    public static Mask alibi(double... slopes) {
        if (slopes.length == 0) {
            throw new IllegalArgumentException("ALiBi needs at least one slope");
        }
        for (int h = 0; h < slopes.length; h++) {
            if (!(slopes[h] >= 0) || Double.isInfinite(slopes[h])) {
                throw new IllegalArgumentException("ALiBi slope " + h + " must be finite and >= 0, got " + slopes[h]);
            }
        }
        return new Mask(null, false, null, null, slopes.clone());
    }

    /**
     * The ALiBi paper's slopes for {@code heads} heads (Press et al. 2022, and its reference code): for a power of
     * two, the geometric sequence {@code 2^(−8(h+1)/heads)}; otherwise those of the largest power of two p below,
     * then every other slope of 2p, up to {@code heads} in all.
     *
     * @throws IllegalArgumentException if heads is less than 1
     */
    public static double[] alibiSlopes(int heads) {
        if (heads < 1) {
            throw new IllegalArgumentException("heads must be at least 1, got " + heads);
        }
        int p = Integer.highestOneBit(heads);
        double[] slopes = new double[heads];
        for (int h = 0; h < p; h++) {
            slopes[h] = Math.pow(2, -8.0 * (h + 1) / p);
        }
        for (int h = p; h < heads; h++) {
            slopes[h] = Math.pow(2, -8.0 * (2 * (h - p) + 1) / (2 * p));
        }
        return slopes;
    }

    /**
     * A mask that lets a key through when both this one and {@code other} do. Two explicit masks combine key by key
     * (one of a single row applying to every query of the other).
     *
     * @throws IllegalArgumentException if both have valid lengths, both a bias tensor, both ALiBi slopes, or both
     *     are explicit with different shapes (other than one row against n rows of the same width)
     */
    public Mask and(Mask other) {
        Objects.requireNonNull(other, "other");
        if (validLengths != null && other.validLengths != null) {
            throw new IllegalArgumentException("cannot combine two sets of valid lengths");
        }
        if (bias != null && other.bias != null) {
            throw new IllegalArgumentException("cannot combine two bias tensors: add them into one");
        }
        if (slopes != null && other.slopes != null) {
            throw new IllegalArgumentException("cannot combine two sets of ALiBi slopes");
        }
        return new Mask(validLengths != null ? validLengths : other.validLengths, causal || other.causal,
                explicit == null ? other.explicit : other.explicit == null ? explicit : both(explicit, other.explicit),
                bias != null ? bias : other.bias, slopes != null ? slopes : other.slopes);
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

    /** Whether every query sees every key, with no bias. */
    public boolean isNone() {
        return validLengths == null && !causal && explicit == null && bias == null && slopes == null;
    }

    /** The bias tensor as given, or null. */
    Tensor biasTensor() {
        return bias;
    }

    /** Checks that this mask fits n queries and m keys of one 2-D call (the bias's entries are checked later). */
    void check(int n, int m) {
        if (bias != null) {
            checkAlive();
            if (bias.batch() != 1 || bias.heads() != 1 || (bias.rows() != n && bias.rows() != 1)
                    || (bias.cols() != m && bias.cols() != 1)) {
                throw new IllegalArgumentException("bias has shape " + bias.shapeString() + ", which does not broadcast"
                        + " to (" + n + ", " + m + ") for " + n + " queries and " + m + " keys");
            }
        }
        if (slopes != null && slopes.length != 1) {
            throw new IllegalArgumentException("ALiBi has " + slopes.length + " slopes and one head takes one; "
                    + "MultiHeadAttention takes one per head");
        }
        if (validLengths != null && validLengths.length != n) {
            throw new IllegalArgumentException("valid lengths has " + validLengths.length + " entries for " + n
                    + " queries");
        }
        if (explicit != null) {
            int rows = explicit.length;
            int cols = rows == 0 ? 0 : explicit[0].length;
            if ((rows != n && rows != 1) || cols != m) {
                throw new IllegalArgumentException("mask has shape (" + rows + ", " + cols + "), expected (" + n + ", "
                        + m + ") or (1, " + m + ") for " + n + " queries and " + m + " keys");
            }
        }
    }

    /**
     * Checks this mask against the weights of a {@link MultiHeadAttention} call, of shape (n, m), (B, n, m) or
     * (B, H, n, m) for queries of rank {@code queryRank} 2, 3 or 4: the bias broadcasts to it and has no NaN or +∞;
     * ALiBi has one slope, or one per head.
     */
    void checkHeads(int queryRank, int batch, int heads, int n, int m) {
        if (bias != null) {
            checkAlive();
            int[] target = switch (queryRank) {
                case 2 -> new int[] {n, m};
                case 3 -> new int[] {batch, n, m};
                default -> new int[] {batch, heads, n, m};
            };
            int[] shape = bias.shape();
            for (int k = 1; k <= shape.length; k++) {
                int want = k <= target.length ? target[target.length - k] : 1;
                if (shape[shape.length - k] != want && shape[shape.length - k] != 1) {
                    throw new IllegalArgumentException("bias has shape " + bias.shapeString() + ", which does not"
                            + " broadcast to the weights' shape " + shapeString(target));
                }
            }
            checkEntries();
        }
        if (slopes != null && slopes.length != 1 && slopes.length != heads) {
            throw new IllegalArgumentException("ALiBi has " + slopes.length + " slopes for " + heads
                    + " heads: give one per head or one for all");
        }
    }

    /** The 2-D mask of batch b, head h of a {@link MultiHeadAttention} call, checked by {@link #checkHeads}. */
    Mask head(int b, int h, int queryRank) {
        if (bias == null && (slopes == null || slopes.length == 1)) {
            return this;
        }
        Tensor slice = null;
        if (bias != null) {
            Tensor four = bias.view(fourD(bias.shape(), queryRank));
            slice = four.slice(four.batch() == 1 ? 0 : b, four.heads() == 1 ? 0 : h);
        }
        double[] slope = slopes == null ? null : new double[] {slopes[slopes.length == 1 ? 0 : h]};
        return new Mask(validLengths, causal, explicit, slice, slope);
    }

    /** A bias shape aligned to weights of rank {@code queryRank} as NumPy aligns it, as (B, H, rows, cols). */
    private static int[] fourD(int[] shape, int queryRank) {
        int r = shape.length;
        int[] four = {1, 1, 1, shape[r - 1]};
        if (r >= 2) {
            four[2] = shape[r - 2];
        }
        if (r >= 3 && queryRank == 3) {
            four[0] = shape[r - 3];
        }
        if (r >= 3 && queryRank == 4) {
            four[1] = shape[r - 3];
        }
        if (r >= 4 && queryRank == 4) {
            four[0] = shape[r - 4];
        }
        return four;
    }

    private void checkAlive() {
        if (!bias.isAlive()) {
            throw new IllegalStateException("bias: the arena that owns this tensor is closed");
        }
    }

    /** Refuses a bias with a NaN or +∞, naming the first; returns whether some entry is −∞. */
    private boolean checkEntries() {
        boolean hides = false;
        float[] row = new float[bias.cols()];
        MemorySegment segment = bias.segment();
        for (int b = 0; b < bias.batch(); b++) {
            for (int h = 0; h < bias.heads(); h++) {
                for (int i = 0; i < bias.rows(); i++) {
                    long offset = bias.rank() <= 2 ? bias.rowOffset(i) : bias.offset(b, h, i);
                    MemorySegment.copy(segment, ValueLayout.JAVA_FLOAT_UNALIGNED, offset, row, 0, row.length);
                    for (int j = 0; j < row.length; j++) {
                        hides |= row[j] == Float.NEGATIVE_INFINITY;
                        if (Float.isNaN(row[j]) || row[j] == Float.POSITIVE_INFINITY) {
                            int[] at = switch (bias.rank()) {
                                case 1 -> new int[] {j};
                                case 2 -> new int[] {i, j};
                                case 3 -> new int[] {b, i, j};
                                default -> new int[] {b, h, i, j};
                            };
                            throw new IllegalArgumentException("bias " + bias.shapeString() + " has " + row[j]
                                    + " at " + shapeString(at) + "; a bias must be finite or -Infinity (hidden)");
                        }
                    }
                }
            }
        }
        return hides;
    }

    private static String shapeString(int[] shape) {
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return s.append(shape.length == 1 ? ",)" : ")").toString();
    }

    /**
     * This mask for n queries and m keys, as the algorithms apply it: query i sees keys before its end (valid length
     * and causal diagonal) that the explicit matrix lets through and whose bias is not −∞; the bias is added to the
     * scores of those. Checks the bias's entries first (a pass over them), as each call must: the tensor is not
     * the mask's own.
     *
     * @throws IllegalArgumentException if the bias has a NaN or +∞, naming it
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
        if (bias == null && slopes == null) {
            return Visibility.of(ends, explicit);
        }
        Tensor values = null;
        boolean[][] visible = explicit;
        if (bias != null) {
            values = bias.rank() <= 2 ? bias.asMatrix() : bias.slice(0, 0);
            if (checkEntries()) {
                visible = hideInfinite(values, ends, n, m);
            }
        }
        return Visibility.of(ends, visible, Bias.of(values, slopes == null ? Double.NaN : slopes[0], m - n));
    }

    /**
     * The explicit matrix with the keys of bias −∞ hidden too, for a bias that has some. A bias of one column hides
     * whole rows, by their ends, without a matrix; one of one row keeps a single row when the explicit matrix has one
     * (or none).
     */
    private boolean[][] hideInfinite(Tensor values, int[] ends, int n, int m) {
        int rows = values.rows();
        int cols = values.cols();
        MemorySegment segment = values.segment();
        float[] row = new float[cols];
        if (cols == 1 && m != 1) {
            for (int i = 0; i < n; i++) {
                if (values.get(rows == 1 ? 0 : i, 0) == Float.NEGATIVE_INFINITY) {
                    ends[i] = 0;
                }
            }
            return explicit;
        }
        int outRows = rows == 1 && (explicit == null || explicit.length == 1) ? 1 : n;
        boolean[][] visible = new boolean[outRows][m];
        for (int i = 0; i < outRows; i++) {
            int r = rows == 1 ? 0 : i;
            MemorySegment.copy(segment, ValueLayout.JAVA_FLOAT_UNALIGNED, values.rowOffset(r), row, 0, cols);
            boolean[] mask = explicit == null ? null : explicit[explicit.length == 1 ? 0 : i];
            for (int j = 0; j < m; j++) {
                visible[i][j] = (mask == null || mask[j]) && row[cols == 1 ? 0 : j] != Float.NEGATIVE_INFINITY;
            }
        }
        return visible;
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
            b.append("explicit ").append(explicit.length).append('x').append(explicit.length == 0 ? 0 : explicit[0].length)
                    .append(' ');
        }
        if (bias != null) {
            b.append("bias ").append(bias.shapeString()).append(' ');
        }
        if (slopes != null) {
            b.append("alibi=").append(Arrays.toString(slopes));
        }
        return b.toString().strip() + "]";
    }
}
