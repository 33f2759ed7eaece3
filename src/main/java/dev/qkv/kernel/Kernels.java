package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The kernels of attention pooling, behind one interface so the scalar reference and the Vector API
 * implementation can be swapped and compared. Kernels trust their arguments: shapes, ranges and open arenas
 * are checked by the public API before a kernel runs.
 *
 * <p>Every method is stateless and thread-safe; the caller owns the arrays it passes.
 */
public interface Kernels {

    /**
     * Keys scored per block by {@link #pool}: big enough to amortise a rescale and the per-block calls, small
     * enough that the block's scores (1 KiB) stay in L1 and its key and value rows (128 KiB each at d = 128)
     * in L2 between the scoring pass and the value pass. The vector pool at m = 4096, d = 128 measured the
     * same for 128, 256, 512 and 1024 within run-to-run spread (about 105–115 µs best, 170–180 µs median).
     */
    int BLOCK = 256;

    /** {@code "scalar"} or {@code "vector"}. */
    String name();

    /** {@code Σᵢ x[i]·y[i]} over {@code length} floats starting at the given byte offsets. */
    float dot(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length);

    /** {@code Σᵢ (x[i] − y[i])²} over {@code length} floats starting at the given byte offsets. */
    float squaredDistance(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length);

    /** {@code scores[j] = score(queries[query], keys[from + j])} for {@code j < to − from}. */
    void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores);

    /** The largest of {@code x[from..to)}, or −∞ for an empty range. */
    float max(float[] x, int from, int to);

    /**
     * Replaces each {@code x[i]} in {@code [from, to)} by {@code exp(x[i] − shift)} and returns their sum.
     * {@code shift} must be at least every {@code x[i]}, so exp is only taken of non-positive numbers.
     */
    float expAndSum(float[] x, int from, int to, float shift);

    /** Multiplies each {@code x[i]} in {@code [from, to)} by {@code factor}. */
    void scale(float[] x, int from, int to, float factor);

    /** {@code acc[j] += Σᵢ weights[i] · values[from + i][j]} for {@code i < to − from}, {@code j < values.cols()}. */
    void accumulate(float[] weights, Tensor values, int from, int to, float[] acc);

    /**
     * One pass of online softmax: folds keys and values {@code [from, to)} into {@code state} for query
     * {@code query}, reading each key and value row once, block by block ({@link #BLOCK} keys).
     */
    void pool(Score score, Tensor queries, int query, Tensor keys, Tensor values, int from, int to, RowState state);

    /**
     * Pools many queries under scores {@code factor · qᵀk} with tiles of queries × blocks of keys, query row i
     * seeing keys {@code [0, ends[i])}, into {@code out}; returns false, doing nothing, for kernels without
     * tiles (the caller then goes row by row).
     */
    default boolean poolTiles(float factor, Tensor queries, Tensor keys, Tensor values, int[] ends, PartialRows out,
            Pooling.Parallel parallel) {
        return false;
    }
}
