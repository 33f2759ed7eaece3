package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qkv.TestKernels;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The kernels on float16 and bfloat16 keys and values ({@link HalfScalarKernels}, {@link HalfVectorKernels}, reached
 * through {@link Kernels#scores}, {@link Kernels#streamScores} and {@link Kernels#accumulate}): every one of the 65536
 * bit patterns widens to the float {@link Float#float16ToFloat} (or {@code bits << 16}) gives, and scores and
 * accumulations are bitwise those of the float32 widening of the same tensor, at the dimensions that take each path
 * of the kernels (full vectors, masked tails, the last four keys scored again, fewer than four keys, row strides longer
 * than a row).
 */
class HalfKernelsTest {

    static Object[][] kernelsAndTypes() {
        return TestKernels.all().stream()
                .flatMap(k -> java.util.stream.Stream.of(new Object[] {k, ElementType.F16}, new Object[] {k,
                        ElementType.BF16}))
                .toArray(Object[][]::new);
    }

    /**
     * One row of every bit pattern, accumulated with weight 1 onto −0: {@code fma(x, 1, −0) = x} for every x, −0
     * included, so acc holds each widened value. NaNs compare as NaN (FMA may quiet a signalling NaN's payload). A row
     * of 65536 values is whole vectors at every width; 65536 + 7 ends in a masked vector.
     */
    @ParameterizedTest
    @MethodSource("kernelsAndTypes")
    void everyBitPatternWidensExactly(Kernels kernels, ElementType type) {
        everyBitPatternWidensExactly(kernels, type, 65536);
        everyBitPatternWidensExactly(kernels, type, 65536 + 7);
    }

    private static void everyBitPatternWidensExactly(Kernels kernels, ElementType type, int n) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bits = arena.allocate(2L * n, 64);
            for (int i = 0; i < n; i++) {
                bits.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) i);
            }
            Tensor values = Tensor.wrap(bits, type, new int[] {1, n}, new long[] {n, 1});
            float[] acc = new float[n];
            Arrays.fill(acc, -0f);
            kernels.accumulate(new float[] {1f}, values, 0, 1, acc);
            for (int i = 0; i < n; i++) {
                short h = (short) i;
                float expected = type == ElementType.F16 ? Float.float16ToFloat(h) : Float.intBitsToFloat(h << 16);
                if (Float.isNaN(expected)) {
                    assertEquals(true, Float.isNaN(acc[i]), "pattern " + Integer.toHexString(h & 0xFFFF));
                } else {
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(acc[i]),
                            "pattern " + Integer.toHexString(h & 0xFFFF));
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernelsAndTypes")
    void halfKeysAndValuesGiveTheBitsOfTheirWidening(Kernels kernels, ElementType type) {
        SplittableRandom random = new SplittableRandom(13);
        int[] dims = {1, 3, 4, 7, 8, 15, 16, 17, 33, 64, 100, 128, 129};
        int[] ms = {0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 257};
        try (Arena arena = Arena.ofConfined()) {
            for (int d : dims) {
                for (int m : ms) {
                    int padding = random.nextInt(3); // a view of the first d columns of a wider matrix
                    Tensor wide = Tensor.allocate(arena, m, d + padding);
                    Tensor widev = Tensor.allocate(arena, m, d + padding);
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < d + padding; j++) {
                            wide.set(i, j, (float) random.nextGaussian(0, 3));
                            widev.set(i, j, (float) random.nextGaussian(0, 3));
                        }
                    }
                    Tensor keys = wide.convertTo(arena, type).columns(0, d);
                    Tensor values = widev.convertTo(arena, type).columns(0, d);
                    Tensor keys32 = keys.convertTo(arena, ElementType.F32);
                    Tensor values32 = values.convertTo(arena, ElementType.F32);
                    Tensor query = Tensor.allocate(arena, 1, d);
                    for (int j = 0; j < d; j++) {
                        query.set(0, j, (float) random.nextGaussian());
                    }
                    float[] weights = new float[m];
                    for (int i = 0; i < m; i++) {
                        weights[i] = (float) random.nextDouble();
                    }
                    for (Score score : new Score[] {Score.dot(0.3f), Score.negativeSquaredDistance(0.7f)}) {
                        // From the first call: every score kernel sums lanes in one fixed order in every tier
                        // (VectorKernels.laneSum), the block path through the float32 kernel, the streamed one in
                        // kernels of its own.
                        String what = score.kind() + ", d = " + d + ", m = " + m + ", " + type;
                        float[] expected = new float[m];
                        float[] half = new float[m];
                        float[] streamed = new float[m];
                        kernels.scores(score, query, 0, keys32, 0, m, expected);
                        kernels.scores(score, query, 0, keys, 0, m, half);
                        kernels.streamScores(score, query, 0, keys, 0, m, streamed);
                        assertArrayEquals(expected, half, "scores, " + what);
                        assertArrayEquals(expected, streamed, "streamScores, " + what);
                        if (m > 1) { // keys from the second on: pairs that start at an odd row, an odd count
                            float[] later = new float[m - 1];
                            float[] streamedLater = new float[m - 1];
                            kernels.scores(score, query, 0, keys32, 1, m, later);
                            kernels.streamScores(score, query, 0, keys, 1, m, streamedLater);
                            assertArrayEquals(later, streamedLater, "streamScores from key 1, " + what);
                        }
                    }
                    float[] acc32 = new float[d];
                    float[] acc = new float[d];
                    kernels.accumulate(weights, values32, 0, m, acc32);
                    kernels.accumulate(weights, values, 0, m, acc);
                    assertArrayEquals(acc32, acc, "accumulate, d = " + d + ", m = " + m + ", " + type);
                    if (m > 1) { // rows from the second on, with weights from the first: at and from differ
                        float[] later32 = new float[d];
                        float[] later = new float[d];
                        kernels.accumulate(weights, 0, values32, 1, m, later32);
                        kernels.accumulate(weights, 0, values, 1, m, later);
                        assertArrayEquals(later32, later, "accumulate from row 1, d = " + d + ", m = " + m + ", " + type);
                    }
                }
            }
        }
    }
}
