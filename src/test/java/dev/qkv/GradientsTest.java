package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GradientsTest {

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    private final Tensor queries = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
    private final Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}, {1, 1}});
    private final Tensor values = Tensor.of(arena, new float[][] {{1}, {2}, {3}});

    @Test
    void askingForNoGradientIsRefused() {
        Attention attention = Attention.scaledDot();
        Tensor out = Tensor.allocate(arena, 2, 1);
        Tensor lse = Tensor.allocate(arena, 2);
        attention.pool(queries, keys, values, Mask.none(), out, lse);
        Tensor gradOut = Tensor.of(arena, new float[][] {{1}, {1}});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> attention.gradients(queries,
                keys, values, Mask.none(), gradOut, out, lse, null, null, null));
        assertTrue(e.getMessage().contains("no gradient asked for"), e.getMessage());
    }

    @Test
    void aGradientOfTheWrongShapeIsNamed() {
        Tensor gradOut = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Attention.scaledDot().gradients(arena, queries, keys, values, Mask.none(), gradOut));
        assertTrue(e.getMessage().contains("gradient of the output has shape (2, 2), expected (2, 1)"), e.getMessage());
    }

    @Test
    void onlyTheGradientsAskedForAreWritten() {
        Attention attention = Attention.scaledDot();
        Tensor out = Tensor.allocate(arena, 2, 1);
        Tensor lse = Tensor.allocate(arena, 2);
        attention.pool(queries, keys, values, Mask.none(), out, lse);
        Tensor dv = Tensor.allocate(arena, 3, 1);
        Gradients g = attention.gradients(queries, keys, values, Mask.none(), Tensor.of(arena, new float[][] {{1}, {1}}),
                out, lse, null, null, dv);
        assertNull(g.queries());
        assertNull(g.keys());
        // dV = Pᵀ·dO with dO = 1: each key's weights summed over the two queries, so the three sum to 2. Each weight
        // is within about 8u relatively (exp, the sum of 3, the division, the score), each column sum adds u, and
        // the sum here 2 roundings: 2·(8u + u) + 2·2u = 22u in all, below 32u.
        float[] column = dv.toFlatArray();
        assertEquals(2, column[0] + column[1] + column[2], 32 * 0x1p-24);
        assertTrue(Double.isNaN(g.sigma()), "σ's gradient is only taken for a Gaussian");
    }

    /**
     * A key whose score is −∞ without a mask (here the key (−∞, 0), every query's first coordinate positive) gets
     * weight 0 and is not used, as a hidden key is not: its dK and dV are exactly 0 and its infinity reaches no dQ
     * (0 · −∞ would be NaN). 70 queries over 128 keys: the tiled backward pass, whose blocks of keys every query sees
     * go through the whole group at once unless, as here, some key of the block is not used.
     */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void aKeyScoredMinusInfinityIsNotUsed(String kernels) {
        TestKernels.assumeAvailable(kernels);
        int n = 70;
        int m = 128;
        int hidden = 75;
        Random random = new Random(11);
        float[][] q = new float[n][2];
        for (float[] row : q) {
            row[0] = 0.5f + random.nextFloat();
            row[1] = random.nextFloat() - 0.5f;
        }
        float[][] k = new float[m][2];
        for (float[] row : k) {
            row[0] = random.nextFloat() - 0.5f;
            row[1] = random.nextFloat() - 0.5f;
        }
        k[hidden] = new float[] {Float.NEGATIVE_INFINITY, 0};
        float[][] v = new float[m][3];
        float[][] dOut = new float[n][3];
        for (float[][] x : new float[][][] {v, dOut}) {
            for (float[] row : x) {
                for (int c = 0; c < row.length; c++) {
                    row[c] = random.nextFloat() - 0.5f;
                }
            }
        }
        Attention attention = Attention.builder().kernels(kernels).scoring(Scoring.dot()).build();
        Gradients g = attention.gradients(arena, Tensor.of(arena, q), Tensor.of(arena, k), Tensor.of(arena, v),
                Mask.none(), Tensor.of(arena, dOut));
        assertArrayEquals(new float[2], g.keys().toArray()[hidden]);
        assertArrayEquals(new float[3], g.values().toArray()[hidden]);
        for (float[] row : g.queries().toArray()) {
            for (float x : row) {
                assertTrue(Float.isFinite(x), () -> "dQ " + Arrays.toString(row));
            }
        }
    }

    /** The README's example runs as printed, and its two ways give the same dV for the same mask. */
    @Test
    void theReadmeExampleRuns() {
        Attention attention = Attention.builder().scoring(Scoring.scaledDot()).build();
        Tensor gradOut = Tensor.of(arena, new float[][] {{1}, {0}});
        Gradients g = attention.gradients(arena, queries, keys, values, Mask.causal(), gradOut);
        assertEquals(2, g.queries().rows());
        assertEquals(3, g.keys().rows());
        Tensor out = Tensor.allocate(arena, 2, 1);
        Tensor lse = Tensor.allocate(arena, 2);
        attention.pool(queries, keys, values, Mask.none(), out, lse);
        Tensor dValues = Tensor.allocate(arena, 3, 1);
        attention.gradients(queries, keys, values, Mask.none(), gradOut, out, lse, null, null, dValues);
        assertArrayEquals(attention.gradients(arena, queries, keys, values, Mask.none(), gradOut).values()
                .toFlatArray(), dValues.toFlatArray());
    }

    /**
     * Epanechikov regression of q = 0 over keys 0.25 and −0.5 (σ = 1), values 1 and 3, dO = 1: near q = 0,
     * L(q) = (0.75 + q + 3(0.5 − q))/1.25, so ∂L/∂q = −1.6; ∂Kⱼ/∂σ = uⱼ/σ = 0.25 and 0.5, so
     * ∂L/∂σ = (1.75·1.25 − 2.25·0.75)/1.25² = 0.32. Computed in double by a dozen roundings of numbers below 4, far
     * within 1e-14; the float ∂L/∂q rounds to −1.6f.
     */
    @Test
    void epanechikovGradientsAreTheHandDerivedOnes() {
        Gradients g = new KernelRegression(SmoothingKernel.EPANECHIKOV, 1).gradients(arena, Tensor.of(arena,
                new float[] {0}), Tensor.of(arena, new float[][] {{0.25f}, {-0.5f}}), Tensor.of(arena,
                new float[][] {{1}, {3}}), Tensor.of(arena, new float[] {1}));
        assertEquals(-1.6f, g.queries().get(0));
        assertEquals(0.32, g.sigma(), 1e-14);
    }

    @Test
    void boxcarAndConstantKernelsHaveZeroGradients() {
        for (SmoothingKernel kernel : new SmoothingKernel[] {SmoothingKernel.BOXCAR, SmoothingKernel.CONSTANT}) {
            Gradients g = new KernelRegression(kernel, 1).gradients(arena, queries, keys, values,
                    Tensor.of(arena, new float[][] {{1}, {-2}}));
            for (float x : g.queries().toFlatArray()) {
                assertEquals(0f, x, kernel.toString());
            }
            assertEquals(0, g.sigma(), kernel.toString());
        }
    }
}
