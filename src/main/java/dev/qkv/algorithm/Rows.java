package dev.qkv.algorithm;

import java.util.Arrays;

/**
 * The partial state of softmax pooling for n queries over some set of keys, in double: per query the largest
 * score {@code max}, {@code sum = Σ exp(sᵢ − max)} and the unnormalised output {@code acc = Σ exp(sᵢ − max)·vᵢ}
 * (query i's acc at {@code acc[i·dv, (i+1)·dv)}). A query that saw no key is empty: max −∞, sum 0, acc 0.
 *
 * <p>The one representation of a result: every algorithm merges its shards into one, and the public
 * {@code dev.qkv.Partial} wraps one. Double, so that merging the float states of many shards (threads, processes,
 * machines) adds no rounding a float result would notice: each merge rounds to 2⁻⁵³, and the output is rounded to
 * float once, at {@link #finish}. Not thread-safe; distinct queries may be written by distinct threads.
 */
public final class Rows {

    private final int n;
    private final int dv;
    private final double[] max;
    private final double[] sum;
    private final double[] acc;

    /**
     * Empty state for n queries and values of dimension dv.
     *
     * @throws IllegalArgumentException if n · dv does not fit in an array
     */
    public Rows(int n, int dv) {
        if ((long) n * dv > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a partial state of " + n + " × " + dv + " does not fit in an array");
        }
        this.n = n;
        this.dv = dv;
        this.max = new double[n];
        this.sum = new double[n];
        this.acc = new double[n * dv];
        Arrays.fill(max, Double.NEGATIVE_INFINITY);
    }

    public int queries() {
        return n;
    }

    public int valueDim() {
        return dv;
    }

    public double max(int i) {
        return max[i];
    }

    public double sum(int i) {
        return sum[i];
    }

    /** A copy of query i's unnormalised output. */
    public double[] acc(int i) {
        return Arrays.copyOfRange(acc, i * dv, (i + 1) * dv);
    }

    /** Whether query i's max, sum and every element of its acc are finite; reads them in place, copies nothing. */
    boolean finite(int i) {
        if (!Double.isFinite(sum[i]) || !Double.isFinite(max[i])) {
            return false;
        }
        for (int c = i * dv; c < (i + 1) * dv; c++) {
            if (!Double.isFinite(acc[c])) {
                return false;
            }
        }
        return true;
    }

    /** Sets query i's state; {@code acc} (dv values) is copied. */
    public void set(int i, double max, double sum, double[] acc) {
        this.max[i] = max;
        this.sum[i] = sum;
        System.arraycopy(acc, 0, this.acc, i * dv, dv);
    }

    /** Folds query j of {@code other} into query i of this state. */
    public void merge(int i, Rows other, int j) {
        double oSum = other.sum[j];
        if (oSum == 0) {
            return;
        }
        int a = i * dv;
        int o = j * other.dv;
        if (sum[i] == 0) {
            max[i] = other.max[j];
            sum[i] = oSum;
            System.arraycopy(other.acc, o, acc, a, dv);
            return;
        }
        double newMax = Math.max(max[i], other.max[j]);
        double mine = Math.exp(max[i] - newMax);
        double theirs = Math.exp(other.max[j] - newMax);
        for (int c = 0; c < dv; c++) {
            acc[a + c] = acc[a + c] * mine + other.acc[o + c] * theirs;
        }
        sum[i] = sum[i] * mine + oSum * theirs;
        max[i] = newMax;
    }

    /**
     * Folds row r of a float working state into query i: both are brought to the larger max,
     * {@code acc ← acc·e^(max−M) + oAcc·e^(oMax−M)}, likewise the sums. An empty side leaves the other as it is.
     * The one merge of qkv: shards of rows, tiles, threads and {@code Partial.merge} all come here.
     */
    void merge(int i, Running state, int r) {
        float oSum = state.sum[r];
        if (oSum == 0f) {
            return;
        }
        int a = i * dv;
        int o = r * state.dvPad;
        if (sum[i] == 0) {
            max[i] = state.max[r];
            sum[i] = oSum;
            for (int c = 0; c < dv; c++) {
                acc[a + c] = state.acc[o + c];
            }
            return;
        }
        double newMax = Math.max(max[i], state.max[r]);
        double mine = Math.exp(max[i] - newMax);
        double theirs = Math.exp(state.max[r] - newMax);
        for (int c = 0; c < dv; c++) {
            acc[a + c] = acc[a + c] * mine + state.acc[o + c] * theirs;
        }
        sum[i] = sum[i] * mine + oSum * theirs;
        max[i] = newMax;
    }

    /** Writes query i's output {@code acc / sum}, rounded to float once, into {@code out}; zeros if it is empty. */
    public void finish(int i, float[] out) {
        double s = sum[i];
        for (int c = 0; c < dv; c++) {
            out[c] = s == 0 ? 0f : (float) (acc[i * dv + c] / s);
        }
    }

    /** Query i's {@code log Σ exp(sⱼ) = max + log(sum)}, or −∞ if it saw no key. */
    public double logSumExp(int i) {
        return sum[i] == 0 ? Double.NEGATIVE_INFINITY : max[i] + Math.log(sum[i]);
    }
}
