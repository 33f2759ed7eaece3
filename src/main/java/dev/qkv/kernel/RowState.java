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

    /** The largest score seen, or −∞ if none. */
    public float max() {
        return max;
    }

    /** {@code Σ exp(sᵢ − max)} over the keys seen. */
    public float sum() {
        return sum;
    }

    /** The unnormalised output {@code Σ exp(sᵢ − max)·vᵢ}; the array itself, not a copy. */
    public float[] acc() {
        return acc;
    }

    /** Sets the whole state, e.g. from a stored partial; {@code acc} is copied. */
    public void set(float max, float sum, float[] acc) {
        if (acc.length != this.acc.length) {
            throw new IllegalArgumentException("acc has " + acc.length + " values, the state holds " + this.acc.length);
        }
        this.max = max;
        this.sum = sum;
        System.arraycopy(acc, 0, this.acc, 0, acc.length);
    }

    /** Whether no key with a finite score has been seen (the output is then 0 and log-sum-exp −∞). */
    public boolean isEmpty() {
        return sum == 0f;
    }

    /** Writes {@code acc / sum} into {@code out}, or zeros when the state is empty. */
    public void finish(float[] out) {
        PartialRows.finish(acc, 0, sum, out, acc.length);
    }

    /** {@code log Σ exp(sᵢ) = max + log(sum)}, or −∞ when the state is empty. */
    public float logSumExp() {
        return PartialRows.logSumExp(max, sum);
    }
}
