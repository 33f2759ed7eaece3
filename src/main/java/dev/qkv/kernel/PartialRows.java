package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.util.Arrays;

/**
 * The online-softmax state of many query rows over some set of keys: per row the largest score {@code max},
 * {@code sum = Σ exp(sᵢ − max)} and the unnormalised output {@code acc = Σ exp(sᵢ − max)·vᵢ}, stored flat
 * (row r's acc at {@code acc[r·dv, (r+1)·dv)}). A row that saw no key is empty: max −∞, sum 0, acc 0.
 * Not thread-safe; distinct rows may be written by distinct threads.
 */
public final class PartialRows {

    final int rows;
    final int dv;
    final float[] max;
    final float[] sum;
    final float[] acc;

    /** Empty state for {@code rows} rows of dimension {@code dv}. */
    public PartialRows(int rows, int dv) {
        if ((long) rows * dv > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a partial state of " + rows + " × " + dv + " does not fit in an array");
        }
        this.rows = rows;
        this.dv = dv;
        this.max = new float[rows];
        this.sum = new float[rows];
        this.acc = new float[rows * dv];
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
    }

    public int rows() {
        return rows;
    }

    public int dv() {
        return dv;
    }

    public float max(int row) {
        return max[row];
    }

    public float sum(int row) {
        return sum[row];
    }

    /** A copy of row r's unnormalised output. */
    public float[] acc(int row) {
        return Arrays.copyOfRange(acc, row * dv, (row + 1) * dv);
    }

    /** Sets row r's state; {@code acc} is copied. */
    public void set(int row, float max, float sum, float[] acc) {
        this.max[row] = max;
        this.sum[row] = sum;
        System.arraycopy(acc, 0, this.acc, row * dv, dv);
    }

    /** Sets row r from a single-row state. */
    public void set(int row, RowState state) {
        set(row, state.max, state.sum, state.acc);
    }

    /** Folds row {@code otherRow} of {@code other} into row {@code row} of this state. */
    public void merge(int row, PartialRows other, int otherRow) {
        merge(max, sum, acc, row, row * dv, other.max[otherRow], other.sum[otherRow], other.acc, otherRow * other.dv,
                dv);
    }

    /**
     * Folds the state (oMax, oSum, oAcc[oOff, oOff + dv)) into row {@code row} of (max, sum, acc[aOff, ...)):
     * both are brought to the larger max, {@code acc ← acc·e^(max−M) + oAcc·e^(oMax−M)}, likewise the sums.
     * An empty side leaves the other as it is, exactly. The one merge of qkv: partial rows, single rows and
     * the tiles all call it, so every path combines shards with the same arithmetic.
     */
    static void merge(float[] max, float[] sum, float[] acc, int row, int aOff, float oMax, float oSum, float[] oAcc,
            int oOff, int dv) {
        if (oSum == 0f) {
            return;
        }
        if (sum[row] == 0f) {
            max[row] = oMax;
            sum[row] = oSum;
            System.arraycopy(oAcc, oOff, acc, aOff, dv);
            return;
        }
        float newMax = Math.max(max[row], oMax);
        float mine = (float) Math.exp(max[row] - newMax);
        float theirs = (float) Math.exp(oMax - newMax);
        for (int c = 0; c < dv; c++) {
            acc[aOff + c] = acc[aOff + c] * mine + oAcc[oOff + c] * theirs;
        }
        sum[row] = sum[row] * mine + oSum * theirs;
        max[row] = newMax;
    }

    /** Writes row r's output {@code acc / sum} into row {@code outRow} of {@code out}, or zeros if it is empty. */
    public void finish(int row, Tensor out, int outRow) {
        float[] values = new float[dv];
        finish(acc, row * dv, sum[row], values, dv);
        out.asMatrix().copyRowFrom(outRow, values);
    }

    /** Row r's {@code log Σ exp(sᵢ) = max + log(sum)}, or −∞ if it is empty. */
    public float logSumExp(int row) {
        return logSumExp(max[row], sum[row]);
    }

    /**
     * {@code out[c] = acc[from + c] / sum} for c below dv, as a multiply by 1/sum, or zeros when {@code sum} is 0:
     * the one finishing arithmetic, shared with {@link RowState#finish}.
     */
    static void finish(float[] acc, int from, float sum, float[] out, int dv) {
        if (sum == 0f) {
            Arrays.fill(out, 0, dv, 0f);
            return;
        }
        float inverse = 1f / sum;
        for (int c = 0; c < dv; c++) {
            out[c] = acc[from + c] * inverse;
        }
    }

    /** {@code max + log(sum)}, or −∞ for an empty state (sum 0). */
    static float logSumExp(float max, float sum) {
        return sum == 0f ? Float.NEGATIVE_INFINITY : max + (float) Math.log(sum);
    }
}
