package dev.qkv.kernel;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The reference kernels: plain loops in float arithmetic, each one step of the formulas that
 * {@code dev.qkv.algorithm.Softmax} composes:
 *
 * <pre>
 *   scores   sⱼ = a(q, kⱼ)                        {@link #scores}, {@link #tileScores}
 *   softmax  αⱼ = exp(sⱼ − M) / Σₗ exp(sₗ − M)     {@link #max}, {@link #expAndSum}, {@link #scale}
 *   pool     out = Σⱼ αⱼ vⱼ                        {@link #accumulate}, {@link #tileAccumulate}
 * </pre>
 *
 * Sums run left to right in float; a product is rounded before it is added (never fused). The vector kernels
 * must agree with these within the bound stated in the properties that compare them.
 */
public final class ScalarKernels implements Kernels {

    /** The one instance; the class has no state. */
    public static final ScalarKernels INSTANCE = new ScalarKernels();

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private ScalarKernels() {}

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public float dot(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length) {
        float sum = 0f;
        for (int i = 0; i < length; i++) {
            sum += x.get(FLOAT, xOffset + 4L * i) * y.get(FLOAT, yOffset + 4L * i);
        }
        return sum;
    }

    @Override
    public float squaredDistance(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length) {
        float sum = 0f;
        for (int i = 0; i < length; i++) {
            float diff = x.get(FLOAT, xOffset + 4L * i) - y.get(FLOAT, yOffset + 4L * i);
            sum += diff * diff;
        }
        return sum;
    }

    @Override
    public void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        if (keys.elementType() != ElementType.F32) {
            HalfScalarKernels.scores(score, queries, query, keys, from, to, scores);
            return;
        }
        MemorySegment q = queries.segment();
        MemorySegment k = keys.segment();
        long qOffset = queries.rowOffset(query);
        int d = queries.cols();
        for (int j = from; j < to; j++) {
            scores[j - from] = switch (score.kind()) {
                case DOT -> score.factor() * dot(q, qOffset, k, keys.rowOffset(j), d);
                case NEGATIVE_SQUARED_DISTANCE -> -score.factor() * squaredDistance(q, qOffset, k, keys.rowOffset(j), d);
            };
        }
    }

    @Override
    public float max(float[] x, int from, int to) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = from; i < to; i++) {
            max = Math.max(max, x[i]);
        }
        return max;
    }

    @Override
    public float maxAbove(float[] x, int from, int to, float floor) {
        float max = max(x, from, to);
        return floor == Float.NEGATIVE_INFINITY || max > floor || max == Float.NEGATIVE_INFINITY ? max : floor;
    }

    @Override
    public float expAndSum(float[] x, int from, int to, float shift) {
        float sum = 0f;
        for (int i = from; i < to; i++) {
            x[i] = (float) Math.exp(x[i] - shift);
            sum += x[i];
        }
        return sum;
    }

    @Override
    public void scale(float[] x, int from, int to, float factor) {
        for (int i = from; i < to; i++) {
            x[i] *= factor;
        }
    }

    @Override
    public void accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        if (values.elementType() != ElementType.F32) {
            HalfScalarKernels.accumulate(weights, at, values, from, to, acc);
            return;
        }
        MemorySegment v = values.segment();
        int dv = values.cols();
        for (int i = from; i < to; i++) {
            float w = weights[at + i - from];
            long row = values.rowOffset(i);
            for (int j = 0; j < dv; j++) {
                acc[j] += w * v.get(FLOAT, row + 4L * j);
            }
        }
    }

    /**
     * No: these plain-loop tile micro-kernels are the reference the vector ones are checked against, not a fast
     * path. Pooling n = m = 1024, d = 128 with them took 1.4× as long as query by query with the row kernels
     * (416 against 289 ms, 582 against 423 ms, best of each JVM's calls, alternating JVMs on the shared machine).
     */
    @Override
    public boolean tilesPayOff() {
        return false;
    }

    /** Any width works for plain loops; 16 floats is one 512-bit vector, should C2 vectorise the inner loops. */
    @Override
    public int tileWidth() {
        return 16;
    }

    /** 4, as the vector kernels on 256-bit vectors: any count works for plain loops. */
    @Override
    public int tileRows() {
        return 4;
    }

    /**
     * Each score is {@code Σₜ q[t]·k[t]} summed in order of t, as {@link #dot}; the loop runs over the keys of a
     * slab innermost, so the sums of a slab are independent and contiguous.
     */
    @Override
    public void tileScores(float[] q, int qOff, int d, float factor, float[] kT, int panel, float[] s) {
        int width = tileWidth();
        Arrays.fill(s, 0, tileRows() * TILE_BLOCK, 0f);
        for (int r = 0; r < tileRows(); r++) {
            int row = r * TILE_BLOCK;
            for (int slab = 0; slab < TILE_BLOCK; slab += width) {
                int k = panel + slab * d; // slab / width slabs of d × width floats before this one
                for (int t = 0; t < d; t++, k += width) {
                    float x = q[qOff + r * d + t];
                    for (int j = 0; j < width; j++) {
                        s[row + slab + j] += x * kT[k + j];
                    }
                }
            }
            for (int j = 0; j < TILE_BLOCK; j++) {
                s[row + j] = factor * s[row + j];
            }
        }
    }

    @Override
    public void tileAccumulate(float[] p, int from, int to, float[] v, int j0, float[] acc, int aOff, int dvPad) {
        for (int r = 0; r < tileRows(); r++) {
            tileAccumulateRow(p, r * TILE_BLOCK, from, to, v, j0, acc, aOff + r * dvPad, dvPad);
        }
    }

    @Override
    public void tileAccumulateRow(float[] p, int pOff, int from, int to, float[] v, int j0, float[] acc, int aOff,
            int dvPad) {
        int width = tileWidth();
        for (int j = from; j < to; j++) {
            float w = p[pOff + j];
            // Columns [c, c + width) of value j0 + j: slab c / width of the block, its row j.
            for (int c = 0; c < dvPad; c += width) {
                int row = j0 * dvPad + c * TILE_BLOCK + j * width;
                for (int x = 0; x < width; x++) {
                    acc[aOff + c + x] += w * v[row + x];
                }
            }
        }
    }
}
