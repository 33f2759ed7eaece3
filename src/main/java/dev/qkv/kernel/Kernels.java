package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The primitive kernels of attention pooling, behind one interface so the scalar reference
 * ({@link ScalarKernels}) and the Vector API implementation ({@link VectorKernels}) can be swapped and compared.
 * Primitives only: no threads, no masks, no whole algorithm; {@code dev.qkv.algorithm} composes them. Kernels
 * trust their arguments: shapes, ranges and open arenas are checked by the public API before a kernel runs.
 *
 * <p>Two families: row kernels over tensors and {@code float[]} blocks (one query against a block of keys), and
 * tile micro-kernels over packed panels ({@link #tileRows()} queries against a block of {@link #TILE_BLOCK} keys,
 * laid out as {@code dev.qkv.algorithm.KeyChunk} describes, {@link #tileWidth()} keys or columns per slab).
 *
 * <p>Every method is stateless and thread-safe; the caller owns the arrays it passes.
 */
public interface Kernels {

    /** Keys per block of a tile: a multiple of every {@link #tileWidth()}, small enough for K and V to stay in L1/L2. */
    int TILE_BLOCK = 128;

    /** {@code "scalar"} or {@code "vector"}. */
    String name();

    /** {@code Σᵢ x[i]·y[i]} over {@code length} floats starting at the given byte offsets. */
    float dot(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length);

    /** {@code Σᵢ (x[i] − y[i])²} over {@code length} floats starting at the given byte offsets. */
    float squaredDistance(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length);

    /** {@code scores[j] = score(queries[query], keys[from + j])} for {@code j < to − from}. */
    void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores);

    /**
     * {@link #scores} for keys that come from memory rather than from cache: the same scores, with the same bits, with
     * the keys read in the order they lie in memory. The algorithm layer chooses between the two by the bytes a call
     * reads. This default is {@link #scores}, which the scalar kernels already compute one key at a time.
     */
    default void streamScores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        scores(score, queries, query, keys, from, to, scores);
    }

    /** The largest of {@code x[from..to)}, or −∞ for an empty range. */
    float max(float[] x, int from, int to);

    /**
     * The largest of {@code x[from..to)} as far as online softmax needs it, against the running maximum {@code floor}:
     * with m the largest as {@link #max} computes it, m when {@code floor} is −∞ or m > floor, −∞ when every
     * {@code x[i]} is −∞, and otherwise {@code floor} or m (either, for a NaN among them: the caller rescales only for
     * a value above floor). Once the running maximum has settled most blocks stay below it, and this answers them with
     * a lane-wise compare instead of a horizontal maximum.
     */
    float maxAbove(float[] x, int from, int to, float floor);

    /**
     * Replaces each {@code x[i]} in {@code [from, to)} by {@code exp(x[i] − shift)} and returns their sum.
     * {@code shift} must be at least every {@code x[i]}, so exp is only taken of non-positive numbers.
     */
    float expAndSum(float[] x, int from, int to, float shift);

    /**
     * One block of online softmax for {@code rows} rows of scores, as {@code dev.qkv.algorithm.Softmax} states it:
     * row r holds {@code count} scores at {@code s[from + r·stride, …)}, and its running maximum, sum and acc are
     * {@code max[at + r]}, {@code sum[at + r]} and {@code acc[(at + r)·dvPad, (at + r + 1)·dvPad)}. For each row:
     * raise the maximum to the block's ({@link #maxAbove}), multiplying the sum and acc by exp(old − new) unless the
     * old one is −∞ (nothing seen: they are 0), then replace each score by {@code exp(sⱼ − max)} and add them to the
     * sum. A row whose scores are all −∞ gets weights 0 and keeps its state. Returns whether any row had a score above −∞ (its weights to be added).
     *
     * <p>This default is those steps row by row through the primitives above; the vector kernels fuse them.
     */
    default boolean fold(float[] s, int from, int count, int stride, int rows, float[] max, float[] sum,
            float[] acc, int at, int dvPad) {
        boolean any = false;
        for (int r = 0; r < rows; r++) {
            int lo = from + r * stride;
            if (!OnlineMax.raise(this, maxAbove(s, lo, lo + count, max[at + r]), max, sum, acc, at + r, dvPad)) {
                Arrays.fill(s, lo, lo + count, 0f);
                continue;
            }
            any = true;
            sum[at + r] += expAndSum(s, lo, lo + count, max[at + r]);
        }
        return any;
    }

    /** Multiplies each {@code x[i]} in {@code [from, to)} by {@code factor}. */
    void scale(float[] x, int from, int to, float factor);

    /** {@code acc[c] += Σᵢ weights[at + i] · values[from + i][c]} for {@code i < to − from}, {@code c < values.cols()}. */
    void accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc);

    /** {@link #accumulate(float[], int, Tensor, int, int, float[])} with the weights from index 0. */
    default void accumulate(float[] weights, Tensor values, int from, int to, float[] acc) {
        accumulate(weights, 0, values, from, to, acc);
    }

    /**
     * Whether many queries pool faster as tiles with these kernels than query by query: a choice by measured cost,
     * the algorithm layer asks before it packs keys for tiles.
     */
    boolean tilesPayOff();

    /** Keys (of Kᵀ) or columns (of V) per slab of a packed panel; {@link #TILE_BLOCK} is a multiple of it. */
    int tileWidth();

    /**
     * Query rows of a micro tile, fixed per JVM: the tile micro-kernels below compute this many rows at once. A
     * divisor of 96 (the algorithm layer groups queries by 96 rows).
     */
    int tileRows();

    /**
     * A tile of scores: {@code s[r·TILE_BLOCK + j] = factor · Σₜ q[qOff + r·d + t] · kᵀ[t][j]} for the
     * {@link #tileRows()} rows r and the {@link #TILE_BLOCK} keys j of a block whose packed keys start at
     * {@code kT[panel]}. The factor is applied to the finished qᵀk, as {@link Score} defines.
     */
    void tileScores(float[] q, int qOff, int d, float factor, float[] kT, int panel, float[] s);

    /**
     * P·V for a tile: {@code acc[aOff + r·dvPad + c] += Σ_{j ∈ [from, to)} p[r·TILE_BLOCK + j] · v[j0 + j][c]} for
     * the {@link #tileRows()} rows r and every column c below {@code dvPad} (a multiple of {@link #tileWidth()}),
     * from the block of packed values that starts at {@code v[j0·dvPad]}.
     */
    void tileAccumulate(float[] p, int from, int to, float[] v, int j0, float[] acc, int aOff, int dvPad);

    /** {@link #tileAccumulate} for one row: {@code acc[aOff + c] += Σ_{j ∈ [from, to)} p[pOff + j] · v[j0 + j][c]}. */
    void tileAccumulateRow(float[] p, int pOff, int from, int to, float[] v, int j0, float[] acc, int aOff,
            int dvPad);
}
