package dev.qkv.kernel;

/**
 * The micro-kernels of the backward pass ({@code dev.qkv.algorithm.Backward}), beside {@link Kernels}: a tile of
 * raw scores (for P and for dP = dO·Vᵀ), the steps from scores to the exponents of P and from P and dP to dS, and a
 * GEMM-shaped accumulate that serves dQ += dS·K, dK += dSᵀ·Q and dV += Pᵀ·dO. The same two implementations:
 * {@link ScalarBackwardKernels} (plain loops, the reference) and {@link VectorBackwardKernels} (the species of
 * {@link VectorKernels}); {@link #matching} gives the one that goes with a {@link Kernels}.
 *
 * <p>Operands are packed by the caller into {@code float[]} panels of slabs of {@link #width()} columns, as GEMM
 * libraries do: a transposed panel (Kᵀ, Vᵀ) holds {@link #BLOCK} keys × d, element (t, j) at
 * {@code (j / W)·d·W + t·W + j % W}; a row panel (K, Q, dO) holds some number R of rows × columns padded to a
 * multiple of W, element (k, c) at {@code (c / W)·slab + k·W + c % W} with {@code slab = R·W}. A micro-kernel
 * walks one slab front to back. Kernels trust their arguments; no masks, no threads. Stateless and thread-safe.
 */
public interface BackwardKernels {

    /** Keys per block: a multiple of every {@link #width()} and {@link #rows()}. */
    int BLOCK = 64;

    /** {@code "scalar"} or {@code "vector"}. */
    String name();

    /** W, the columns of a slab; {@link #BLOCK} is a multiple of it. */
    int width();

    /** R, the rows of a micro tile (4 or 8); {@link #BLOCK} is a multiple of it. */
    int rows();

    /**
     * A tile of raw scores: {@code s[sOff + r·BLOCK + j] = Σₜ a[aOff + r·d + t]·bT(t, j)} (or, with
     * {@code distance}, {@code −Σₜ (a[aOff + r·d + t] − bT(t, j))²}) for the R rows r and the
     * {@link #BLOCK} keys j of the transposed panel {@code bT}.
     */
    void rawScores(boolean distance, float[] a, int aOff, int d, float[] bT, float[] s, int sOff);

    /**
     * From masked scores to the exponents of the weights: {@code s[x] = min(s[x] − lse, 0)} for x in
     * {@code [from, to)} (−∞ stays −∞; the clamp because a float score may exceed the log-sum-exp ℓ by its rounding,
     * the exact one cannot), and returns how many of them are above −∞: the keys used.
     */
    int shift(float[] s, int from, int to, float lse);

    /**
     * {@link #shift} of the scaled scores of a tile whose queries see every key of the block, without
     * {@code Visibility.apply} in between (it would change nothing): for the {@code rows} rows r and the
     * {@link #BLOCK} keys x of each, {@code p[at + r·BLOCK + x] = min(f·raw[at + r·BLOCK + x] − lse[lseOff + r], 0)},
     * the product rounded before the difference (as a scaling pass and then {@link #shift}). Returns how many of the
     * scaled scores are above −∞: the keys used.
     */
    int exponents(float[] raw, int at, int rows, float f, float[] lse, int lseOff, float[] p);

    /**
     * From the weights P and dP = dO·v of {@code rows} rows of {@link #BLOCK} keys to dS: for x in
     * {@code [at, at + rows·BLOCK)}, row r = (x − at) / BLOCK, {@code ds[x] = c·(p[x]·(dp[x] − bigD[dOff + r]))}, and
     * exactly 0 where {@code p[x]} is 0, without reading dp or raw there (a hidden key's may be NaN). Returns
     * {@code Σ (double) (p·(dp − D))·raw} over the same x, the products of the float dS and raw score taken exactly
     * in double and summed in double.
     */
    double scoreGradients(float[] p, float[] dp, float[] raw, int at, int rows, float[] bigD, int dOff, float c,
            float[] ds);

    /**
     * {@code acc[aOff + r·aRow + col] += Σ_{k ∈ [from, to)} w[wOff + r·wRow + k·wCol] · b(k, col)} for the
     * R rows r and the columns {@code col < cols} (a multiple of W) of the row panel {@code b} whose
     * slabs are {@code slab} floats apart. Sums run in order of k.
     */
    void accumulate(float[] w, int wOff, int wRow, int wCol, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int aRow, int cols);

    /** {@link #accumulate} for one row: {@code acc[aOff + col] += Σ_{k ∈ [from, to)} w[wOff + k·wCol] · b(k, col)}. */
    void accumulateRow(float[] w, int wOff, int wCol, int from, int to, float[] b, int slab, float[] acc, int aOff,
            int cols);

    /** The backward kernels of the same kind as {@code kernels}: vector ones (same species) for vector kernels. */
    static BackwardKernels matching(Kernels kernels) {
        return kernels.name().equals("vector") ? Vectors.KERNELS : ScalarBackwardKernels.INSTANCE;
    }

    /** Names the vector class; loaded only when vector kernels, and so the module, are in use. */
    final class Vectors {
        static final BackwardKernels KERNELS = VectorBackwardKernels.INSTANCE;

        private Vectors() {}
    }
}
