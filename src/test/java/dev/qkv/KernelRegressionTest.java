package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class KernelRegressionTest {

    /** float's unit roundoff. */
    private static final double U = 0x1p-24;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    /** Query 0 against keys at distances 0, 0.5, 1.5 and 2 on a line. */
    private float[] weightsOnALine(SmoothingKernel kernel, double sigma) {
        Tensor query = Tensor.of(arena, new float[] {0f});
        Tensor keys = Tensor.of(arena, new float[][] {{0f}, {0.5f}, {1.5f}, {-2f}});
        return new KernelRegression(kernel, sigma).weights(arena, query, keys).toFlatArray();
    }

    @Test
    void gaussianWeightsAreTheNormalisedKernelValues() {
        // exp(−u²/2) at u = 0, 0.5, 1.5, 2 is 1, 0.8824969, 0.3246525, 0.1353353; their sum is 2.3424847.
        assertArrayEquals(new float[] {0.42689714f, 0.37673540f, 0.13859321f, 0.05777425f},
                weightsOnALine(SmoothingKernel.GAUSSIAN, 1), 1e-7f);
    }

    @Test
    void boxcarWeighsTheKeysCloserThanSigmaEqually() {
        assertArrayEquals(new float[] {0.5f, 0.5f, 0f, 0f}, weightsOnALine(SmoothingKernel.BOXCAR, 1), 1e-7f);
        // σ = 2: u = 0, 0.25, 0.75 and 1, and a key at exactly σ is out.
        assertArrayEquals(new float[] {1 / 3f, 1 / 3f, 1 / 3f, 0f}, weightsOnALine(SmoothingKernel.BOXCAR, 2), 1e-7f);
    }

    @Test
    void constantKernelAveragesTheValues() {
        assertArrayEquals(new float[] {0.25f, 0.25f, 0.25f, 0.25f}, weightsOnALine(SmoothingKernel.CONSTANT, 0.1), 0f);
        Tensor queries = Tensor.of(arena, new float[][] {{-7f}, {0.3f}});
        Tensor keys = Tensor.of(arena, new float[][] {{0f}, {0.5f}, {1.5f}, {-2f}});
        Tensor values = Tensor.of(arena, new float[][] {{1, 10}, {2, 20}, {3, 30}, {6, 60}});
        Tensor out = new KernelRegression(SmoothingKernel.CONSTANT, 1).pool(arena, queries, keys, values);
        assertArrayEquals(new float[] {3, 30, 3, 30}, out.toFlatArray(), 0f);
    }

    @Test
    void epanechikovWeightsFallLinearlyToZeroAtSigma() {
        // σ = 1: K = 1, 0.5, 0, 0; σ = 2: K = 1, 0.75, 0.25, 0.
        assertArrayEquals(new float[] {2 / 3f, 1 / 3f, 0f, 0f}, weightsOnALine(SmoothingKernel.EPANECHIKOV, 1), 1e-7f);
        assertArrayEquals(new float[] {0.5f, 0.375f, 0.125f, 0f}, weightsOnALine(SmoothingKernel.EPANECHIKOV, 2), 1e-7f);
    }

    @Test
    void distancesAreEuclideanInAnyDimension() {
        Tensor query = Tensor.of(arena, new float[] {0f, 0f});
        Tensor keys = Tensor.of(arena, new float[][] {{3f, 4f}, {0.6f, 0.8f}, {-3f, 0f}});
        // σ = 5: u = 1, 0.2, 0.6, so K = 0, 0.8, 0.4 (Epanechikov) and 0, 1, 1 (boxcar).
        assertArrayEquals(new float[] {0f, 2 / 3f, 1 / 3f},
                new KernelRegression(SmoothingKernel.EPANECHIKOV, 5).weights(arena, query, keys).toFlatArray(), 1e-6f);
        assertArrayEquals(new float[] {0f, 0.5f, 0.5f},
                new KernelRegression(SmoothingKernel.BOXCAR, 5).weights(arena, query, keys).toFlatArray(), 0f);
    }

    @Test
    void aQueryWithNoKernelWeightGetsWeightsZeroAndOutputZero() {
        Tensor queries = Tensor.of(arena, new float[][] {{10f}, {0.25f}});
        Tensor keys = Tensor.of(arena, new float[][] {{0f}, {1f}});
        Tensor values = Tensor.of(arena, new float[][] {{5f}, {7f}});
        for (SmoothingKernel kernel : new SmoothingKernel[] {SmoothingKernel.BOXCAR, SmoothingKernel.EPANECHIKOV}) {
            KernelRegression regression = new KernelRegression(kernel, 1);
            float[][] weights = regression.weights(arena, queries, keys).toArray();
            float[][] out = regression.pool(arena, queries, keys, values).toArray();
            assertArrayEquals(new float[] {0f, 0f}, weights[0], 0f, kernel.name());
            assertArrayEquals(new float[] {0f}, out[0], 0f, kernel.name());
            assertTrue(out[1][0] > 5f && out[1][0] < 7f, kernel.name() + ": the other query still pools");
        }
        Tensor noKeys = Tensor.allocate(arena, 0, 1);
        Tensor noValues = Tensor.allocate(arena, 0, 3);
        for (SmoothingKernel kernel : SmoothingKernel.values()) {
            KernelRegression regression = new KernelRegression(kernel, 1);
            assertArrayEquals(new int[] {2, 0}, regression.weights(arena, queries, noKeys).shape(), kernel.name());
            assertArrayEquals(new float[6], regression.pool(arena, queries, noKeys, noValues).toFlatArray(), 0f,
                    kernel.name());
        }
    }

    @Test
    void aFarQueryGetsTheNearestValueUnderTheGaussianInsteadOfUnderflowing() {
        Tensor query = Tensor.of(arena, new float[] {1000f});
        Tensor keys = Tensor.of(arena, new float[][] {{0f}, {1f}, {2f}});
        Tensor values = Tensor.of(arena, new float[][] {{1f}, {2f}, {3f}});
        KernelRegression regression = new KernelRegression(SmoothingKernel.GAUSSIAN, 1);
        assertArrayEquals(new float[] {0f, 0f, 1f}, regression.weights(arena, query, keys).toFlatArray(), 0f);
        assertArrayEquals(new float[] {3f}, regression.pool(arena, query, keys, values).toFlatArray(), 0f);
    }

    /**
     * The Gaussian form against {@code Attention} with {@code Scoring.gaussian(σ)} and the scalar kernels, whose
     * squared distances are the same floats. What differs is the float softmax: with S the largest |score|,
     * each exponent {@code sⱼ − max} is off by at most 5·S·u (the factor 1/(2σ²), the product and the
     * difference each round once), so each exp by (5·S + 1)·u relative; a weight is a ratio of such terms
     * (twice that), the sum of m of them adds (m − 1)·u and the reciprocal and product 2·u, and rounding our
     * double weight to float one u more. So {@code |Δwⱼ| ≤ (10·S + m + 4)·u·wⱼ}, and an output, whose sum
     * adds m·u more of {@code Σ wⱼ|vⱼ|}, {@code |Δout| ≤ (10·S + 2·m + 5)·u·Σ wⱼ|vⱼ|}; one more u in each for
     * second-order terms, and 2⁻¹⁴⁸ for the subnormals exp(−96) lands on.
     */
    @Test
    void gaussianKernelIsSoftmaxPoolingWithGaussianScoring() {
        Random random = new Random(42);
        int n = 5;
        int m = 17;
        int d = 3;
        int dv = 2;
        Tensor queries = uniform(random, n, d, 2);
        Tensor keys = uniform(random, m, d, 2);
        Tensor values = uniform(random, m, dv, 2);
        for (double sigma : new double[] {0.5, 1, 3}) {
            KernelRegression regression = new KernelRegression(SmoothingKernel.GAUSSIAN, sigma);
            Attention attention = Attention.builder().scoring(Scoring.gaussian(sigma)).kernels("scalar").build();
            float[][] w = regression.weights(arena, queries, keys).toArray();
            float[][] softmax = attention.weights(arena, queries, keys).toArray();
            float[][] out = regression.pool(arena, queries, keys, values).toArray();
            float[][] pooled = attention.pool(arena, queries, keys, values).toArray();
            for (int i = 0; i < n; i++) {
                double largest = 0;
                for (int j = 0; j < m; j++) {
                    double squared = 0;
                    for (int c = 0; c < d; c++) {
                        double diff = queries.get(i, c) - keys.get(j, c);
                        squared += diff * diff;
                    }
                    largest = Math.max(largest, squared / (2 * sigma * sigma));
                }
                for (int j = 0; j < m; j++) {
                    double bound = (10 * largest + m + 5) * U * w[i][j] + 0x1p-148;
                    assertEquals(w[i][j], softmax[i][j], bound, "sigma " + sigma + ", weight (" + i + ", " + j + ")");
                }
                for (int c = 0; c < dv; c++) {
                    double weighted = 0;
                    for (int j = 0; j < m; j++) {
                        weighted += w[i][j] * Math.abs(values.get(j, c));
                    }
                    double bound = (10 * largest + 2 * m + 6) * U * weighted + 0x1p-148;
                    assertEquals(out[i][c], pooled[i][c], bound, "sigma " + sigma + ", output (" + i + ", " + c + ")");
                }
            }
        }
    }

    @Test
    void aSingleQueryGivesAWeightVectorAndAnOutputVector() {
        Tensor query = Tensor.of(arena, new float[] {0.5f, 0.5f});
        Tensor keys = Tensor.of(arena, new float[][] {{0f, 0f}, {1f, 1f}, {0.5f, 0.4f}});
        Tensor values = Tensor.of(arena, new float[][] {{1f, 2f}, {3f, 4f}, {5f, 6f}});
        KernelRegression regression = new KernelRegression(SmoothingKernel.GAUSSIAN, 1);
        assertArrayEquals(new int[] {3}, regression.weights(arena, query, keys).shape());
        assertArrayEquals(new int[] {2}, regression.pool(arena, query, keys, values).shape());
    }

    @Test
    void badArgumentsAreRefusedByName() {
        for (double sigma : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new KernelRegression(SmoothingKernel.BOXCAR, sigma));
            assertTrue(e.getMessage().contains("sigma"), e.getMessage());
        }
        KernelRegression regression = new KernelRegression(SmoothingKernel.GAUSSIAN, 1);
        Tensor queries = Tensor.allocate(arena, 2, 3);
        Tensor keys = Tensor.allocate(arena, 4, 3);
        Tensor values = Tensor.allocate(arena, 4, 2);
        assertRefused("(2, 3)", "(4, 2)", () -> regression.weights(arena, queries, values));
        assertRefused("(4, 3)", "(3, 2)", () -> regression.pool(arena, queries, keys, Tensor.allocate(arena, 3, 2)));
        Tensor nan = Tensor.allocate(arena, 4, 3);
        nan.set(1, 2, Float.NaN);
        assertRefused("NaN", "(1, 2)", () -> regression.pool(arena, queries, nan, values));
        Tensor closed;
        try (Arena other = Arena.ofConfined()) {
            closed = Tensor.allocate(other, 4, 2);
        }
        Tensor dead = closed;
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> regression.pool(arena, queries, keys, dead));
        assertTrue(e.getMessage().startsWith("values"), e.getMessage());
    }

    private static void assertRefused(String first, String second, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains(first) && e.getMessage().contains(second), e.getMessage());
    }

    private Tensor uniform(Random random, int rows, int cols, float halfWidth) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t.set(i, j, (2 * random.nextFloat() - 1) * halfWidth);
            }
        }
        return t;
    }
}
