package dev.qkv.algorithm;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An additive bias on the scores of n queries over m keys, {@code sᵢⱼ = a(qᵢ, kⱼ) + bᵢⱼ}: the entries of a float32
 * matrix of n or 1 rows and m or 1 columns (a dimension of 1 repeats over the queries or the keys, as NumPy
 * broadcasts), ALiBi's {@code −slope·|i + (m − n) − j|} (the query's distance to the key, with the diagonal
 * aligned bottom-right as {@code Mask.causal()} aligns it), or both, in which case {@code bᵢⱼ} is their float sum
 * (matrix entry first). The public API has checked that no entry is NaN or +∞; an entry of −∞ hides the key, and
 * {@code dev.qkv.Mask} has already made such keys invisible, so they are never read.
 *
 * <p>{@link Visibility#apply} adds it to the scores, in float, after the scaling of the scoring: the order of
 * PyTorch's {@code scaled_dot_product_attention} with a float {@code attn_mask}. Immutable; the matrix is not
 * copied.
 */
public final class Bias {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private final MemorySegment segment;
    private final Tensor values;
    private final boolean oneRow;
    private final boolean oneColumn;
    private final double slope;
    private final long diagonal;

    private Bias(Tensor values, double slope, long diagonal) {
        this.values = values;
        this.segment = values == null ? null : values.segment();
        this.oneRow = values != null && values.rows() == 1;
        this.oneColumn = values != null && values.cols() == 1;
        this.slope = slope;
        this.diagonal = diagonal;
    }

    /**
     * The bias of {@code values} (a float32 matrix of n or 1 rows and m or 1 columns, or null) plus, unless
     * {@code slope} is NaN, ALiBi's {@code −slope·|i + (m − n) − j|}; {@code diagonal} is m − n.
     */
    public static Bias of(Tensor values, double slope, int diagonal) {
        return new Bias(values, slope, diagonal);
    }

    /** {@code bᵢⱼ}. */
    public float at(int i, int j) {
        if (values == null) {
            return alibi(i, j);
        }
        float b = segment.get(FLOAT, values.rowOffset(oneRow ? 0 : i) + (oneColumn ? 0 : 4L * j));
        return Double.isNaN(slope) ? b : b + alibi(i, j);
    }

    private float alibi(int i, int j) {
        return (float) (-slope * Math.abs(i + diagonal - j));
    }

    /** Adds {@code bᵢⱼ} for keys {@code [from, from + count)} to {@code scores[at, at + count)}. */
    void add(int i, int from, int count, float[] scores, int at) {
        if (values != null && Double.isNaN(slope)) {
            long row = values.rowOffset(oneRow ? 0 : i);
            if (oneColumn) {
                float b = segment.get(FLOAT, row);
                for (int k = 0; k < count; k++) {
                    scores[at + k] += b;
                }
            } else {
                long start = row + 4L * from;
                for (int k = 0; k < count; k++) {
                    scores[at + k] += segment.get(FLOAT, start + 4L * k);
                }
            }
            return;
        }
        for (int k = 0; k < count; k++) {
            scores[at + k] += at(i, from + k);
        }
    }
}
