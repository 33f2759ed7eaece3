package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import java.util.Arrays;

/**
 * The seed's formula, once. For a query q with scores {@code sⱼ = a(q, kⱼ)}:
 *
 * <pre>
 *   M    = maxⱼ sⱼ
 *   αⱼ   = exp(sⱼ − M) / Σₗ exp(sₗ − M)
 *   out  = Σⱼ αⱼ vⱼ
 * </pre>
 *
 * {@link #weights} is that softmax over a row of scores; {@link #fold} is the same computed block by block, the
 * online softmax of FlashAttention, which never holds a whole row of scores: keep a running M, a running sum and a
 * running {@code Σ exp(sⱼ − M)·vⱼ}, and when a block raises M, multiply what was summed so far by
 * {@code exp(M_old − M_new)}. Each step is a primitive kernel ({@link Kernels#fold} composes them, and the
 * vector kernels fuse a tile's rows there); with {@code ScalarKernels} this is the plain reference. Every path of
 * qkv (one query, many as tiles, the weights, Gaussian kernel regression) goes through these methods. Scores of keys a query does not see are −∞ ({@link Visibility#apply}) and get weight 0;
 * a query that sees no key gets weights 0 (and output 0), as in PyTorch and FlashAttention.
 */
public final class Softmax {

    private Softmax() {}

    /** Replaces {@code s[from, to)} by their softmax weights, max-subtracted; all 0 if every score is −∞. */
    public static void weights(Kernels kernels, float[] s, int from, int to) {
        float max = kernels.max(s, from, to);
        if (max == Float.NEGATIVE_INFINITY) {
            Arrays.fill(s, from, to, 0f);
            return;
        }
        float sum = kernels.expAndSum(s, from, to, max);
        kernels.scale(s, from, to, 1f / sum);
    }

    /**
     * One block of online softmax for row r of {@code state}: brings the running max up to the block's (rescaling
     * the row's sum and acc), replaces the scores {@code s[from, from + count)} by {@code exp(sⱼ − max)} and adds
     * them to the running sum. The caller then adds {@code Σ sⱼ·vⱼ} to the row's acc. Returns false, with the
     * scores set to 0, when every score of the block is −∞ (nothing to add).
     */
    static boolean fold(Kernels kernels, Running state, int r, float[] s, int from, int count) {
        return kernels.fold(s, from, count, count, 1, state.max, state.sum, state.acc, r, state.dvPad);
    }

    /**
     * {@link #fold} for the {@code rows} rows of a tile at once, rows {@code [r, r + rows)} of {@code state}, row
     * r + i's {@code count} scores at {@code s[i·count, …)}: the same steps, in one kernel call.
     */
    static void foldTile(Kernels kernels, Running state, int r, int rows, float[] s, int count) {
        kernels.fold(s, 0, count, count, rows, state.max, state.sum, state.acc, r, state.dvPad);
    }
}
