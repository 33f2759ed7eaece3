package dev.qkv.algorithm;

import java.util.Arrays;

/**
 * The float working state of online softmax for a few query rows while one thread walks one shard of keys: per
 * row the running max, {@code sum = Σ exp(sᵢ − max)} and {@code acc = Σ exp(sᵢ − max)·vᵢ} (row r's acc at
 * {@code acc[r·dvPad, r·dvPad + dvPad)}, padded with zeros for the tile micro-kernels). Float, because the kernels
 * accumulate in float vectors; a shard's state is then merged into a double {@link Rows}. Not thread-safe.
 */
final class Running {

    final int rows;
    final int dvPad;
    final float[] max;
    final float[] sum;
    final float[] acc;

    Running(int rows, int dvPad) {
        this.rows = rows;
        this.dvPad = dvPad;
        this.max = new float[rows];
        this.sum = new float[rows];
        this.acc = new float[rows * dvPad];
        reset();
    }

    /** Forgets every key seen: max −∞, sum 0, acc 0. */
    void reset() {
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0f);
        Arrays.fill(acc, 0f);
    }
}
