package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qkv.TestKernels;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Kernels#fold}, one block of online softmax for the rows of a tile (the vector kernels' own loop, with the
 * exp written out) and for one row of another length (the default's steps), against what each step must give:
 *
 * <ul>
 *   <li>the running maximum raised to the block's, exactly (a maximum is exact in any order);</li>
 *   <li>a raised row's sum and acc multiplied by {@code (float) Math.exp(old − new)}, exactly, and left alone when
 *       the old maximum was −∞ (nothing seen yet, so they are 0) or not raised;</li>
 *   <li>each weight within one float ulp of e^(s − max) (the bound of {@link VectorMath#exp} and of the SVML stub
 *       that {@code expAndSum} uses), computed in double from the same float difference;</li>
 *   <li>the sum raised by the weights' sum within {@code (count − 1)·2⁻²⁴} of it (count non-negative floats added in
 *       any order, each addition rounding once, relative error at most u per addition);</li>
 *   <li>a row of −∞ scores: weights 0 and state untouched.</li>
 * </ul>
 *
 * The vector runs see the kernels as C2 compiled them: {@code KernelWarmUp} warms them up before the suite and
 * reports {@code expRows} and {@code maxAbove} at tier 4 ({@code target/warm-up-*.txt}); the rounds here keep them hot.
 */
class FoldTest {

    private static final float ULP_BOUND = 1f;

    static List<Kernels> kernels() {
        return TestKernels.all();
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void aTileOfRows(Kernels kernels) {
        check(kernels, kernels.tileRows(), Kernels.TILE_BLOCK, 2000);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void oneRowOfAnotherLength(Kernels kernels) {
        check(kernels, 1, 100, 300);
        check(kernels, 3, 24, 30);
    }

    /**
     * The tile path's weights have the bits of {@link VectorMath#exp} of the same differences: its steps are written
     * out in {@code VectorKernels.expRows}, and this holds them to the ones {@link VectorMathTest} checks.
     */
    @Test
    void theTilesExpIsVectorMathsExp() {
        assumeTrue(KernelProvider.vectorModulePresent(), "this JVM runs without module jdk.incubator.vector");
        Kernels kernels = KernelProvider.named("vector");
        int rows = kernels.tileRows();
        int count = Kernels.TILE_BLOCK;
        SplittableRandom random = new SplittableRandom(7);
        for (int round = 0; round < 1000; round++) {
            float[] s = scores(random, rows, count);
            float[] max = new float[rows];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[] weights = s.clone();
            kernels.fold(weights, 0, count, count, rows, max, new float[rows], new float[rows * 16], 0, 16);
            for (int r = 0; r < rows; r++) {
                float[] diff = new float[count];
                for (int j = 0; j < count; j++) {
                    diff[j] = s[r * count + j] - max[r];
                }
                float[] expected = VectorMathBitsMain.exp(diff);
                if (max[r] == Float.NEGATIVE_INFINITY) {
                    Arrays.fill(expected, 0f);
                }
                assertArrayEquals(expected, Arrays.copyOfRange(weights, r * count, r * count + count),
                        "row " + r + ", round " + round);
            }
        }
    }

    /** A score of +∞ makes its row's maximum +∞ and its sum NaN, as {@code expAndSum} of ∞ − ∞ does on every path. */
    @ParameterizedTest
    @MethodSource("kernels")
    void anInfiniteScoreMakesTheSumNaN(Kernels kernels) {
        int rows = kernels.tileRows();
        int count = Kernels.TILE_BLOCK;
        for (int round = 0; round < 2000; round++) {
            float[] s = new float[rows * count];
            s[count + 5] = Float.POSITIVE_INFINITY; // row 1
            Arrays.fill(s, 2 * count, 3 * count, Float.NEGATIVE_INFINITY); // row 2: all −∞
            float[] max = new float[rows];
            Arrays.fill(max, 1f);
            float[] sum = new float[rows];
            Arrays.fill(sum, 2f);
            kernels.fold(s, 0, count, count, rows, max, sum, new float[rows * 16], 0, 16);
            assertEquals(Float.POSITIVE_INFINITY, max[1], "round " + round);
            assertTrue(Float.isNaN(sum[1]), "round " + round + ": sum " + sum[1]);
            assertTrue(Float.isNaN(s[count + 5]), "round " + round);
            assertEquals(2f, sum[2], "round " + round);
            assertEquals(1f, max[2], "round " + round);
            // row 0: count weights e⁻¹ (scores 0 under a maximum of 1), each within an ulp, added to 2 in count
            // roundings of at most u = 2⁻²⁴ of the running sum each
            double expected = 2 + count * Math.exp(-1);
            double bound = count * Math.ulp((float) Math.exp(-1)) + count * 0x1p-24 * expected;
            assertEquals(expected, sum[0], bound, "round " + round);
        }
    }

    private static void check(Kernels kernels, int rows, int count, int rounds) {
        int dvPad = 32;
        SplittableRandom random = new SplittableRandom(11);
        for (int round = 0; round < rounds; round++) {
            String where = kernels.name() + ", " + rows + " rows of " + count + ", round " + round;
            float[] s = scores(random, rows, count);
            float[] max = new float[rows];
            float[] sum = new float[rows];
            float[] acc = new float[rows * dvPad];
            for (int r = 0; r < rows; r++) {
                switch (random.nextInt(3)) {
                    case 0 -> max[r] = Float.NEGATIVE_INFINITY; // nothing seen yet: sum and acc 0
                    case 1 -> max[r] = (float) random.nextDouble(-2, 2); // often raised
                    default -> max[r] = 50f; // never raised
                }
                if (max[r] != Float.NEGATIVE_INFINITY) {
                    sum[r] = (float) random.nextDouble(1, 10);
                    for (int c = 0; c < dvPad; c++) {
                        acc[r * dvPad + c] = (float) random.nextDouble(-1, 1);
                    }
                }
            }
            float[] weights = s.clone();
            float[] newMax = max.clone();
            float[] newSum = sum.clone();
            float[] newAcc = acc.clone();
            boolean any = kernels.fold(weights, 0, count, count, rows, newMax, newSum, newAcc, 0, dvPad);
            boolean expectAny = false;
            for (int r = 0; r < rows; r++) {
                String row = where + ", row " + r;
                float blockMax = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < count; j++) {
                    blockMax = Math.max(blockMax, s[r * count + j]);
                }
                if (blockMax == Float.NEGATIVE_INFINITY) {
                    assertArrayEquals(new float[count], Arrays.copyOfRange(weights, r * count, r * count + count), row);
                    assertEquals(max[r], newMax[r], row);
                    assertEquals(sum[r], newSum[r], row);
                    assertArrayEquals(Arrays.copyOfRange(acc, r * dvPad, r * dvPad + dvPad),
                            Arrays.copyOfRange(newAcc, r * dvPad, r * dvPad + dvPad), row);
                    continue;
                }
                expectAny = true;
                float m = Math.max(max[r], blockMax);
                assertEquals(m, newMax[r], row + ": maximum");
                float rescale = blockMax > max[r] && max[r] != Float.NEGATIVE_INFINITY
                        ? (float) Math.exp(max[r] - blockMax) : 1f;
                for (int c = 0; c < dvPad; c++) {
                    assertEquals(acc[r * dvPad + c] * rescale, newAcc[r * dvPad + c], row + ", acc " + c);
                }
                double total = 0;
                for (int j = 0; j < count; j++) {
                    float w = weights[r * count + j];
                    double exact = StrictMath.exp(s[r * count + j] - m);
                    assertTrue(Math.abs(w - exact) <= ULP_BOUND * Math.ulp((float) exact),
                            row + ", key " + j + ": " + w + " against e^(s − max) = " + exact);
                    total += w;
                }
                double added = (double) newSum[r] - (double) (sum[r] * rescale);
                // the sum of count weights, rounded: within (count − 1)·u of total; the addition to the old sum
                // rounds once more, within u of the new sum
                double bound = (count - 1) * 0x1p-24 * total + 0x1p-24 * newSum[r];
                assertTrue(Math.abs(added - total) <= bound, row + ": sum raised by " + added + ", weights " + total);
            }
            assertEquals(expectAny, any, where);
        }
    }

    /** Scores with the spread of real attention (σ ≈ 3); about one row in six all −∞, one in ten with some −∞. */
    private static float[] scores(SplittableRandom random, int rows, int count) {
        float[] s = new float[rows * count];
        for (int r = 0; r < rows; r++) {
            int kind = random.nextInt(10);
            for (int j = 0; j < count; j++) {
                float x = (float) (3 * random.nextGaussian());
                if (kind < 2 || kind == 2 && random.nextInt(4) == 0) {
                    x = Float.NEGATIVE_INFINITY;
                }
                s[r * count + j] = x;
            }
        }
        return s;
    }
}
