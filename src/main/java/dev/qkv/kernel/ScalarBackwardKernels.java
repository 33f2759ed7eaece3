package dev.qkv.kernel;

import java.util.Arrays;

/**
 * The reference backward micro-kernels: plain loops in float, sums in order, a product rounded before it is added
 * (never fused), as {@link ScalarKernels}. {@link VectorBackwardKernels} agrees with these within the bounds of the
 * gradient properties.
 */
public final class ScalarBackwardKernels implements BackwardKernels {

    /** The one instance; the class has no state. */
    public static final ScalarBackwardKernels INSTANCE = new ScalarBackwardKernels();

    /** 16 floats, one 512-bit vector, should C2 vectorise the inner loops. */
    private static final int WIDTH = 16;
    /** Rows of a tile: any number works for plain loops. */
    private static final int ROWS = 4;

    private ScalarBackwardKernels() {}

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int width() {
        return WIDTH;
    }

    @Override
    public int rows() {
        return ROWS;
    }

    /** Each score summed in order of t, as {@link ScalarKernels#dot} and {@link ScalarKernels#squaredDistance}. */
    @Override
    public void rawScores(boolean distance, float[] a, int aOff, int d, float[] bT, float[] s, int sOff) {
        for (int r = 0; r < ROWS; r++) {
            int row = sOff + r * BLOCK;
            Arrays.fill(s, row, row + BLOCK, 0f);
            for (int slab = 0; slab < BLOCK; slab += WIDTH) {
                int k = slab * d;
                for (int t = 0; t < d; t++, k += WIDTH) {
                    float x = a[aOff + r * d + t];
                    for (int j = 0; j < WIDTH; j++) {
                        if (distance) {
                            float diff = x - bT[k + j];
                            s[row + slab + j] += diff * diff;
                        } else {
                            s[row + slab + j] += x * bT[k + j];
                        }
                    }
                }
            }
            if (distance) {
                for (int j = 0; j < BLOCK; j++) {
                    s[row + j] = -s[row + j];
                }
            }
        }
    }

    @Override
    public int shift(float[] s, int from, int to, float lse) {
        int used = 0;
        for (int x = from; x < to; x++) {
            used += s[x] != Float.NEGATIVE_INFINITY ? 1 : 0;
            s[x] = Math.min(s[x] - lse, 0f);
        }
        return used;
    }

    @Override
    public int exponents(float[] raw, int at, int rows, float f, float[] lse, int lseOff, float[] p) {
        int used = 0;
        for (int r = 0; r < rows; r++) {
            float l = lse[lseOff + r];
            for (int x = at + r * BLOCK; x < at + (r + 1) * BLOCK; x++) {
                float s = f * raw[x];
                used += s != Float.NEGATIVE_INFINITY ? 1 : 0;
                p[x] = Math.min(s - l, 0f);
            }
        }
        return used;
    }

    @Override
    public double scoreGradients(float[] p, float[] dp, float[] raw, int at, int rows, float[] bigD, int dOff,
            float c, float[] ds) {
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            float d = bigD[dOff + r];
            for (int x = at + r * BLOCK; x < at + (r + 1) * BLOCK; x++) {
                if (p[x] == 0f) {
                    ds[x] = 0f;
                    continue;
                }
                float dS = p[x] * (dp[x] - d);
                sum += (double) dS * raw[x];
                ds[x] = c * dS;
            }
        }
        return sum;
    }

    @Override
    public void accumulate(float[] w, int wOff, int wRow, int wCol, int from, int to, float[] b, int slab,
            float[] acc, int aOff, int aRow, int cols) {
        for (int r = 0; r < ROWS; r++) {
            accumulateRow(w, wOff + r * wRow, wCol, from, to, b, slab, acc, aOff + r * aRow, cols);
        }
    }

    @Override
    public void accumulateRow(float[] w, int wOff, int wCol, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int cols) {
        for (int k = from; k < to; k++) {
            float x = w[wOff + k * wCol];
            for (int c = 0; c < cols; c += WIDTH) {
                int row = c / WIDTH * slab + k * WIDTH;
                for (int l = 0; l < WIDTH; l++) {
                    acc[aOff + c + l] += x * b[row + l];
                }
            }
        }
    }
}
