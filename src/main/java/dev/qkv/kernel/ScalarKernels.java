package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The reference kernels: plain loops in float arithmetic that read like the formulas
 *
 * <pre>
 *   scores   sⱼ = a(q, kⱼ)
 *   softmax  αⱼ = exp(sⱼ − M) / Σₗ exp(sₗ − M),   M = maxₗ sₗ
 *   pool     out = Σⱼ αⱼ vⱼ
 * </pre>
 *
 * Sums run left to right in float. The vector kernels must agree with these within the bound stated in
 * the properties that compare them.
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
    public void accumulate(float[] weights, Tensor values, int from, int to, float[] acc) {
        MemorySegment v = values.segment();
        int dv = values.cols();
        for (int i = from; i < to; i++) {
            float w = weights[i - from];
            long row = values.rowOffset(i);
            for (int j = 0; j < dv; j++) {
                acc[j] += w * v.get(FLOAT, row + 4L * j);
            }
        }
    }

    /**
     * Online softmax, block by block: score the block, and if its maximum exceeds the running one, rescale
     * what was accumulated by {@code exp(old − new)}; then add {@code exp(sⱼ − max)} to the sum and
     * {@code exp(sⱼ − max)·vⱼ} to the accumulator.
     */
    @Override
    public void pool(Score score, Tensor queries, int query, Tensor keys, Tensor values, int from, int to,
            RowState state) {
        float[] block = state.block;
        // start + BLOCK would pass 2³¹ in the last block of 2³¹ − 1 keys
        for (int start = from, end; start < to; start = end) {
            end = start + Math.min(BLOCK, to - start);
            int count = end - start;
            scores(score, queries, query, keys, start, end, block);
            float blockMax = max(block, 0, count);
            if (blockMax == Float.NEGATIVE_INFINITY) {
                continue; // every weight in this block is exactly 0
            }
            if (blockMax > state.max) {
                float rescale = (float) Math.exp(state.max - blockMax);
                scale(state.acc, 0, state.acc.length, rescale);
                state.sum *= rescale;
                state.max = blockMax;
            }
            state.sum += expAndSum(block, 0, count, state.max);
            accumulate(block, values, start, end, state.acc);
        }
    }
}
