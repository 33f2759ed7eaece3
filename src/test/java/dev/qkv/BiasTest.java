package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The laws of an additive score bias ({@link Mask#bias}, {@link Mask#alibi}): −∞ is a boolean mask, bit for bit;
 * under dot scoring a per-key bias is one more feature of the keys; a per-query bias shifts the log-sum-exp and
 * leaves the weights; ALiBi is the bias tensor of its values; the multi-head call gives each (b, h) its slice. Sizes
 * take both paths: n = 40 queries run as tiles with the vector kernels, m = 300 keys span two row blocks.
 */
class BiasTest {

    private static final int N = 40;
    private static final int M = 300;
    private static final int D = 8;
    private static final int DV = 5;

    private static Attention attention(String kernels, Scoring scoring) {
        TestKernels.assumeAvailable(kernels);
        return Attention.builder().kernels(kernels).scoring(scoring).build();
    }

    /** Small integers: every score, and every score plus an integer bias, is exact in float. */
    private static Tensor integers(Arena arena, Random random, int rows, int cols, int bound) {
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextInt(2 * bound + 1) - bound;
        }
        return Tensor.of(arena, rows, cols, x);
    }

    private static Tensor uniform(Arena arena, Random random, int rows, int cols) {
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextFloat() * 4 - 2;
        }
        return Tensor.of(arena, rows, cols, x);
    }

    private record Result(float[] out, float[] lse, float[] weights) {}

    private static Result run(Attention a, Arena arena, Tensor q, Tensor k, Tensor v, Mask mask) {
        Tensor out = Tensor.allocate(arena, q.rows(), v.cols());
        Tensor lse = Tensor.allocate(arena, q.rows());
        a.pool(q, k, v, mask, out, lse);
        return new Result(out.toFlatArray(), lse.toFlatArray(), a.weights(arena, q, k, mask).toFlatArray());
    }

    private static void assertSameBits(Result expected, Result actual) {
        assertArrayEquals(expected.out, actual.out);
        assertArrayEquals(expected.lse, actual.lse);
        assertArrayEquals(expected.weights, actual.weights);
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void minusInfinityBiasIsTheBooleanMaskBitForBit(String kernels) {
        Random random = new Random(14);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = uniform(arena, random, N, D);
            Tensor k = uniform(arena, random, M, D);
            Tensor v = uniform(arena, random, M, DV);
            boolean[][] visible = new boolean[N][M];
            Tensor bias = Tensor.allocate(arena, N, M);
            for (int i = 0; i < N; i++) {
                for (int j = 0; j < M; j++) {
                    visible[i][j] = i != 3 && random.nextInt(3) != 0; // query 3 sees no key
                    if (!visible[i][j]) {
                        bias.set(i, j, Float.NEGATIVE_INFINITY);
                    }
                }
            }
            for (String scoring : List.of("scaled", "gaussian")) {
                Attention a = attention(kernels, scoring.equals("scaled") ? Scoring.scaledDot() : Scoring.gaussian(2));
                Result masked = run(a, arena, q, k, v, Mask.explicit(visible));
                Result biased = run(a, arena, q, k, v, Mask.bias(bias));
                assertSameBits(masked, biased);
                assertEquals(Float.NEGATIVE_INFINITY, biased.lse[3]);
                for (int c = 0; c < DV; c++) {
                    assertEquals(0f, biased.out[3 * DV + c]);
                }

                Tensor dOut = uniform(arena, random, N, DV);
                Gradients g1 = a.gradients(arena, q, k, v, Mask.explicit(visible), dOut);
                Gradients g2 = a.gradients(arena, q, k, v, Mask.bias(bias), dOut);
                assertArrayEquals(g1.queries().toFlatArray(), g2.queries().toFlatArray());
                assertArrayEquals(g1.keys().toFlatArray(), g2.keys().toFlatArray());
                assertArrayEquals(g1.values().toFlatArray(), g2.values().toFlatArray());
            }
        }
    }

    /** A key hidden by a −∞ bias is never read, as a masked key is not: NaN there cannot reach the output. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void aKeyHiddenByTheBiasIsNeverRead(String kernels) {
        Random random = new Random(15);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = uniform(arena, random, N, D);
            Tensor k = uniform(arena, random, M, D);
            Tensor v = uniform(arena, random, M, DV);
            Tensor bias = Tensor.allocate(arena, M); // one row: key padding, every query
            for (int j = 100; j < 164; j++) {
                bias.set(j, Float.NEGATIVE_INFINITY);
                k.set(j, 0, Float.NaN);
                v.set(j, 1, Float.NaN);
            }
            Attention a = attention(kernels, Scoring.scaledDot());
            Result r = run(a, arena, q, k, v, Mask.bias(bias).and(Mask.causal()));
            for (float x : r.out) {
                assertTrue(Float.isFinite(x));
            }
            Gradients g = a.gradients(arena, q, k, v, Mask.bias(bias), uniform(arena, random, N, DV));
            for (float x : g.queries().toFlatArray()) {
                assertTrue(Float.isFinite(x));
            }
        }
    }

    /**
     * Under dot scoring, a bias per key (one row, broadcast over the queries) is a feature: query [q, 1] against
     * key [k, b]. With small integers every score is exact, so the two calls agree bit for bit.
     */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void aKeyBiasUnderDotScoringIsOneMoreFeature(String kernels) {
        Random random = new Random(16);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = integers(arena, random, N, D, 2);
            Tensor k = integers(arena, random, M, D, 2);
            Tensor v = uniform(arena, random, M, DV);
            Tensor bias = integers(arena, random, 1, M, 6);
            Tensor q1 = Tensor.allocate(arena, N, D + 1);
            Tensor k1 = Tensor.allocate(arena, M, D + 1);
            for (int i = 0; i < N; i++) {
                for (int l = 0; l < D; l++) {
                    q1.set(i, l, q.get(i, l));
                }
                q1.set(i, D, 1);
            }
            for (int j = 0; j < M; j++) {
                for (int l = 0; l < D; l++) {
                    k1.set(j, l, k.get(j, l));
                }
                k1.set(j, D, bias.get(0, j));
            }
            Attention a = attention(kernels, Scoring.dot());
            assertSameBits(run(a, arena, q1, k1, v, Mask.causal()), run(a, arena, q, k, v,
                    Mask.bias(bias).and(Mask.causal())));
        }
    }

    /**
     * A bias per query (one column, broadcast over the keys) shifts every score of the query by the same amount:
     * the weights and output do not change, the log-sum-exp moves by it. Exact with small integers.
     */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void aQueryBiasShiftsTheLogSumExpOnly(String kernels) {
        Random random = new Random(17);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = integers(arena, random, N, D, 2);
            Tensor k = integers(arena, random, M, D, 2);
            Tensor v = uniform(arena, random, M, DV);
            Tensor shift = integers(arena, random, N, 1, 8);
            Attention a = attention(kernels, Scoring.dot());
            Result plain = run(a, arena, q, k, v, Mask.none());
            Result shifted = run(a, arena, q, k, v, Mask.bias(shift));
            assertArrayEquals(plain.out, shifted.out);
            assertArrayEquals(plain.weights, shifted.weights);
            for (int i = 0; i < N; i++) {
                // Both are M + log S in double, rounded to float once, with M exactly shift higher: each within
                // half an ulp of its exact value, so within the sum of those of each other's shifted value.
                double bound = (Math.ulp(plain.lse[i]) + Math.ulp(shifted.lse[i])) / 2;
                assertEquals((double) plain.lse[i] + shift.get(i, 0), shifted.lse[i], bound);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void alibiIsTheBiasOfItsValues(String kernels) {
        Random random = new Random(18);
        int n = 37;
        double slope = 0.0625 * 3;
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = uniform(arena, random, n, D);
            Tensor k = uniform(arena, random, M, D);
            Tensor v = uniform(arena, random, M, DV);
            Tensor extra = uniform(arena, random, n, M);
            Tensor alibi = Tensor.allocate(arena, n, M);
            Tensor sum = Tensor.allocate(arena, n, M);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < M; j++) {
                    float b = (float) (-slope * Math.abs(i + (M - n) - j));
                    alibi.set(i, j, b);
                    sum.set(i, j, extra.get(i, j) + b);
                }
            }
            Attention a = attention(kernels, Scoring.scaledDot());
            assertSameBits(run(a, arena, q, k, v, Mask.bias(alibi).and(Mask.causal())),
                    run(a, arena, q, k, v, Mask.causal().and(Mask.alibi(slope))));
            assertSameBits(run(a, arena, q, k, v, Mask.bias(sum)),
                    run(a, arena, q, k, v, Mask.alibi(slope).and(Mask.bias(extra))));
        }
    }

    @Test
    void alibiSlopesAreThePapers() {
        assertArrayEquals(new double[] {0.5, 0.25, 0.125, 0.0625, 1 / 32.0, 1 / 64.0, 1 / 128.0, 1 / 256.0},
                Mask.alibiSlopes(8));
        // 6 heads: the 4 of 4 heads, then slopes 0 and 2 of 8 heads
        assertArrayEquals(new double[] {0.25, 1 / 16.0, 1 / 64.0, 1 / 256.0, 0.5, 0.125}, Mask.alibiSlopes(6));
    }

    @Test
    void theSameBitsForAnyThreadCount() {
        Random random = new Random(19);
        try (Arena arena = Arena.ofShared()) {
            int n = 200;
            int m = 20000; // three shards of keys
            Tensor q = uniform(arena, random, n, D);
            Tensor k = uniform(arena, random, m, D);
            Tensor v = uniform(arena, random, m, DV);
            Tensor bias = uniform(arena, random, n, m);
            Mask mask = Mask.bias(bias).and(Mask.alibi(0.01));
            // Scalar: the vector kernels' bits settle once C2 has compiled them (see Attention's class comment).
            Attention one = Attention.builder().kernels("scalar").threads(1).build();
            Attention three = Attention.builder().kernels("scalar").threads(3).build();
            assertArrayEquals(one.pool(arena, q, k, v, mask).toFlatArray(),
                    three.pool(arena, q, k, v, mask).toFlatArray());
            Tensor dOut = uniform(arena, random, n, DV);
            assertArrayEquals(one.gradients(arena, q, k, v, mask, dOut).keys().toFlatArray(),
                    three.gradients(arena, q, k, v, mask, dOut).keys().toFlatArray());
        }
    }

    @Test
    void aBadBiasIsRefusedBeforeAnythingIsWritten() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 3, 2);
            Tensor k = Tensor.allocate(arena, 4, 2);
            Tensor v = Tensor.allocate(arena, 4, 1);
            Tensor out = Tensor.of(arena, new float[][] {{7}, {7}, {7}});
            Tensor bias = Tensor.allocate(arena, 3, 4);
            bias.set(2, 1, Float.NaN);
            IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                    () -> Attention.scaledDot().pool(q, k, v, Mask.bias(bias), out));
            assertEquals("bias (3, 4) has NaN at (2, 1); a bias must be finite or -Infinity (hidden)", nan.getMessage());
            bias.set(2, 1, Float.POSITIVE_INFINITY);
            assertThrows(IllegalArgumentException.class,
                    () -> Attention.scaledDot().pool(q, k, v, Mask.bias(bias), out));
            assertArrayEquals(new float[] {7, 7, 7}, out.toFlatArray());
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> Attention.scaledDot().pool(arena, q, k, v, Mask.bias(Tensor.allocate(arena, 2, 4))));
            assertEquals("bias has shape (2, 4), which does not broadcast to (3, 4) for 3 queries and 4 keys",
                    shape.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Mask.bias(bias).and(Mask.bias(bias)));
            assertThrows(IllegalArgumentException.class, () -> Mask.alibi(-1));
            assertThrows(IllegalArgumentException.class,
                    () -> Attention.scaledDot().pool(arena, q, k, v, Mask.alibi(0.5, 0.25)));
        }
    }

    /**
     * NumPy's alignment from the right: a bias of rank 3 is (B, n, m) against queries (B, n, d), and (H, n, m)
     * against queries (B, H, n, d).
     */
    @Test
    void aBiasOfRankThreeAlignsFromTheRight() {
        Random random = new Random(21);
        int n = 3;
        int m = 6;
        try (Arena arena = Arena.ofShared()) {
            Tensor bias = Tensor.allocate(arena, 2, n, m);
            for (int b = 0; b < 2; b++) {
                bias.slice(b, 0).copyFrom(uniform(arena, random, n, m));
            }
            Attention a = Attention.scaledDot();
            MultiHeadAttention multi = MultiHeadAttention.of(a);
            Tensor k = uniform(arena, random, m, D);
            Tensor v = uniform(arena, random, m, DV);

            Tensor q3 = Tensor.allocate(arena, 2, n, D);
            Tensor q4 = Tensor.allocate(arena, 3, 2, n, D);
            q3.slice(0, 0).copyFrom(uniform(arena, random, n, D));
            q3.slice(1, 0).copyFrom(uniform(arena, random, n, D));
            for (int b = 0; b < 3; b++) {
                for (int h = 0; h < 2; h++) {
                    q4.slice(b, h).copyFrom(q3.slice(h, 0));
                }
            }
            Tensor perBatch = multi.pool(arena, q3, k, v, List.of(Mask.bias(bias)));
            Tensor perHead = multi.pool(arena, q4, k, v, List.of(Mask.bias(bias)));
            for (int x = 0; x < 2; x++) {
                float[] expected = a.pool(arena, q3.slice(x, 0), k, v, Mask.bias(bias.slice(x, 0))).toFlatArray();
                assertArrayEquals(expected, perBatch.slice(x, 0).toFlatArray());
                for (int b = 0; b < 3; b++) {
                    assertArrayEquals(expected, perHead.slice(b, x).toFlatArray());
                }
            }
        }
    }

    /**
     * Batches and heads: a bias of (B, 1, n, m), ALiBi per head and grouped-query heads give each (b, h) the 2-D
     * call with the bias's slice and head h's slope, bit for bit.
     */
    @Test
    void eachHeadGetsItsSliceOfTheBias() {
        Random random = new Random(20);
        int batch = 2;
        int heads = 4;
        int n = 9;
        int m = 13;
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Tensor.allocate(arena, batch, heads, n, D);
            Tensor k = Tensor.allocate(arena, batch, 2, m, D);
            Tensor v = Tensor.allocate(arena, batch, 2, m, DV);
            Tensor bias = Tensor.allocate(arena, batch, 1, n, m);
            for (Tensor t : List.of(q, k, v, bias)) {
                for (int b = 0; b < t.batch(); b++) {
                    for (int h = 0; h < t.heads(); h++) {
                        t.slice(b, h).copyFrom(uniform(arena, random, t.rows(), t.cols()));
                    }
                }
            }
            bias.set(1, 0, 2, 5, Float.NEGATIVE_INFINITY);
            double[] slopes = Mask.alibiSlopes(heads);
            Mask mask = Mask.bias(bias).and(Mask.alibi(slopes)).and(Mask.causal());
            Attention a = Attention.builder().threads(3).build();
            Tensor out = MultiHeadAttention.of(a).pool(arena, q, k, v, List.of(mask));
            Tensor w = MultiHeadAttention.of(a).weights(arena, q, k, List.of(mask));
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < heads; h++) {
                    Mask head = Mask.bias(bias.slice(b, 0)).and(Mask.alibi(slopes[h])).and(Mask.causal());
                    assertArrayEquals(a.pool(arena, q.slice(b, h), k.slice(b, h / 2), v.slice(b, h / 2), head)
                            .toFlatArray(), out.slice(b, h).toFlatArray());
                    assertArrayEquals(a.weights(arena, q.slice(b, h), k.slice(b, h / 2), head).toFlatArray(),
                            w.slice(b, h).toFlatArray());
                }
            }
            assertEquals(0f, w.get(1, 3, 2, 5));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MultiHeadAttention.of(a)
                    .pool(arena, q, k, v, List.of(Mask.bias(Tensor.allocate(arena, batch, 3, n, m)))));
            assertEquals("mask: bias has shape (2, 3, 9, 13), which does not broadcast to the weights' shape "
                    + "(2, 4, 9, 13)", e.getMessage());
        }
    }
}
