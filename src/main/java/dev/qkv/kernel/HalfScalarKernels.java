package dev.qkv.kernel;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The reference {@link ScalarKernels#scores} and {@link ScalarKernels#accumulate} for keys and values stored as
 * {@link ElementType#F16} ({@link Float#float16ToFloat}) or {@link ElementType#BF16} (the bits shifted into the
 * top half of a float32): each element is widened, exactly, as it is read, and then used in the same float
 * arithmetic in the same order as the float32 loops. So a half tensor scores and pools bitwise as its float32
 * widening ({@code Tensor.convertTo(arena, F32)}) would.
 */
final class HalfScalarKernels {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;

    private HalfScalarKernels() {}

    /** The half at {@code offset}, widened. */
    static float widen(boolean bf16, MemorySegment segment, long offset) {
        short bits = segment.get(HALF, offset);
        return bf16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat(bits);
    }

    /** {@link Kernels#scores} for half keys and float32 queries. */
    static void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        boolean bf16 = keys.elementType() == ElementType.BF16;
        MemorySegment q = queries.segment();
        MemorySegment k = keys.segment();
        long qOffset = queries.rowOffset(query);
        int d = queries.cols();
        for (int j = from; j < to; j++) {
            long kOffset = keys.rowOffset(j);
            float sum = 0f;
            for (int t = 0; t < d; t++) {
                float x = q.get(FLOAT, qOffset + 4L * t);
                float y = widen(bf16, k, kOffset + 2L * t);
                if (score.kind() == Score.Kind.DOT) {
                    sum += x * y;
                } else {
                    float diff = x - y;
                    sum += diff * diff;
                }
            }
            scores[j - from] = score.kind() == Score.Kind.DOT ? score.factor() * sum : -score.factor() * sum;
        }
    }

    /** {@link Kernels#accumulate} for half values. */
    static void accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        boolean bf16 = values.elementType() == ElementType.BF16;
        MemorySegment v = values.segment();
        int dv = values.cols();
        for (int i = from; i < to; i++) {
            float w = weights[at + i - from];
            long row = values.rowOffset(i);
            for (int j = 0; j < dv; j++) {
                acc[j] += w * widen(bf16, v, row + 2L * j);
            }
        }
    }
}
