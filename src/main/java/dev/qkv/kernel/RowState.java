package dev.qkv.kernel;

import java.util.Arrays;

/**
 * The online-softmax state of one query over the keys seen so far: the running maximum score {@code max},
 * the running sum {@code sum = Σ exp(sᵢ − max)} and the unnormalised output {@code acc = Σ exp(sᵢ − max)·vᵢ}.
 * Keys can be added block by block in any grouping; {@link #finish} divides by the sum.
 *
 * <p>Before any key (or when every score seen was −∞) the state is empty: max −∞, sum 0, acc 0. Not
 * thread-safe: one state per query per thread. It also owns the scratch block the kernels score into.
 */
public final class RowState {

    float max;
    float sum;
    final float[] acc;
    final float[] block;

    /** A state for values of dimension {@code dv}, with a scratch block of {@link Kernels#BLOCK} scores. */
    public RowState(int dv) {
        this.acc = new float[dv];
        this.block = new float[Kernels.BLOCK];
        reset();
    }

    /** Forgets every key seen: max −∞, sum 0, acc 0. */
    public void reset() {
        max = Float.NEGATIVE_INFINITY;
        sum = 0f;
        Arrays.fill(acc, 0f);
    }

    /** {@code Σ exp(sᵢ − max)} over the keys seen. */
    public float sum() {
        return sum;
    }

    /** Writes {@code acc / sum} into {@code out}, or zeros when the state is empty. */
    public void finish(float[] out) {
        PartialRows.finish(acc, 0, sum, out, acc.length);
    }
}
