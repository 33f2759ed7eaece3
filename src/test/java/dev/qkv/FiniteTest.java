package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Finite in, finite out: with finite inputs the output, weights and log-sum-exp are finite (the log-sum-exp is ±∞
 * only where its true value is beyond float), and where scores overflow float the softmax's limit is taken: keys
 * tied at the largest score share the weight, and under Gaussian scoring the nearest keys win.
 */
class FiniteTest {

    // ---- the cases of issue 9

    /** Q = K = 1e20 under dot scoring: every score is 4e40, past float; all keys tie, so the output is V's mean. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void hugeEqualQueriesAndKeysAverageTheValues(String kernels) {
        TestKernels.assumeAvailable(kernels);
        try (Arena arena = Arena.ofConfined()) {
            float[][] big = new float[3][4];
            for (float[] row : big) {
                java.util.Arrays.fill(row, 1e20f);
            }
            Tensor q = Tensor.of(arena, new float[][] {big[0], big[1]});
            Tensor k = Tensor.of(arena, big);
            Tensor v = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}, {5, 9}});
            Attention attention = Attention.builder().kernels(kernels).scoring(Scoring.dot()).build();
            Tensor out = Tensor.allocate(arena, 2, 2);
            Tensor lse = Tensor.allocate(arena, 2);
            attention.pool(q, k, v, Mask.none(), out, lse);
            float[][] w = attention.weights(arena, q, k).toArray();
            for (int i = 0; i < 2; i++) {
                assertEquals(3f, out.get(i, 0), 1e-6f);
                assertEquals(5f, out.get(i, 1), 1e-6f);
                assertEquals(Float.POSITIVE_INFINITY, lse.get(0, i), "the true log-sum-exp 4e40 + ln 3 is past float");
                for (int j = 0; j < 3; j++) {
                    assertEquals(1f / 3, w[i][j], 1e-7f);
                }
            }
        }
    }

    /**
     * Values near float's largest and equal scores: the float sum Σ wⱼ·vⱼ (before the division) passes 3.4e38 while
     * the max and the sum of weights stay finite, so only the accumulator tells the row to be recomputed. 40 queries
     * over 300 keys: the tiles with the vector kernels, rows with the scalar ones.
     */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void valuesWhoseSumOverflowsFloatStillAverage(String kernels) {
        TestKernels.assumeAvailable(kernels);
        try (Arena arena = Arena.ofConfined()) {
            int n = 40;
            int m = 300;
            Tensor q = Tensor.allocate(arena, n, 4);
            Tensor k = Tensor.allocate(arena, m, 4);
            Tensor v = Tensor.allocate(arena, m, 2);
            for (int j = 0; j < m; j++) {
                v.set(j, 0, j % 2 == 0 ? 3e38f : 2e38f);
                v.set(j, 1, 1f);
            }
            Attention attention = Attention.builder().kernels(kernels).scoring(Scoring.dot()).build();
            float[][] out = attention.pool(arena, q, k, v).toArray();
            for (int i = 0; i < n; i++) {
                assertEquals(2.5e38f, out[i][0], 2.5e38f * 1e-6f, "query " + i);
                assertEquals(1f, out[i][1], 1e-6f, "query " + i);
            }
        }
    }

    /** Gaussian keys at ±3e19: every squared distance overflows float, yet the nearest key (at 1e19) wins. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void theNearestKeyWinsWhenEveryDistanceOverflows(String kernels) {
        TestKernels.assumeAvailable(kernels);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, new float[][] {{0, 0}});
            Tensor k = Tensor.of(arena, new float[][] {{3e19f, 3e19f}, {-3e19f, 3e19f}, {1e19f, -1e19f}, {-3e19f, -3e19f}});
            Tensor v = Tensor.of(arena, new float[][] {{1}, {2}, {7}, {4}});
            Attention attention = Attention.builder().kernels(kernels).scoring(Scoring.gaussian(1)).build();
            Tensor out = Tensor.allocate(arena, 1, 1);
            Tensor lse = Tensor.allocate(arena, 1);
            attention.pool(q, k, v, Mask.none(), out, lse);
            assertEquals(7f, out.get(0, 0));
            // the score of the nearest key, −‖(1e19, −1e19)‖²/2 = −1e38, and the others' weights underflow to 0
            assertEquals(-1e38, lse.get(0, 0), 1e38 * 1e-6);
            assertEquals(1f, attention.weights(arena, q, k).toArray()[0][2]);
        }
    }

    /** Scale 3e38 (accepted): every output finite and equal to the limit computed in double. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void aScaleNearFloatsLargestGivesTheLimit(String kernels) {
        TestKernels.assumeAvailable(kernels);
        checkAgainstTheLimit(kernels, Scoring.dot().withScale(3e38), 1, 5, 3, 1, 1);
    }

    // ---- inputs scaled from 1 to 1e30, every kernel and path

    /**
     * Inputs are small integers times a power of two s from 1 to 2¹⁰⁰ ≈ 1.3e30, so every score is an integer times
     * s², exact in double and in float until it overflows (from s = 2⁶⁶ on, and for distances a little before):
     * ties are exact, and the limit is known. Paths: one to three queries (rows), 8 queries (rows), 24 under dot
     * scoring (tiles with the vector kernels, which pay off from about 16 queries here), 300 queries and one query over 9000 keys on two threads (groups and shards).
     */
    @ParameterizedTest
    @CsvSource({"scalar, dot, 2, 40, 1", "vector, dot, 2, 40, 1", "scalar, gaussian, 3, 40, 1",
            "vector, gaussian, 3, 40, 1", "vector, dot, 8, 40, 1", "scalar, dot, 8, 40, 1",
            "vector, dot, 24, 40, 1",
            "vector, dot, 300, 40, 2", "scalar, gaussian, 300, 40, 2", "vector, dot, 1, 9000, 2",
            "scalar, gaussian, 1, 9000, 2"})
    void scaledInputsGiveFiniteResultsAndTheLimit(String kernels, String scoring, int n, int m, int threads) {
        TestKernels.assumeAvailable(kernels);
        for (int e : new int[] {0, 33, 50, 66, 100}) {
            double s = Math.scalb(1.0, e);
            Scoring sc = scoring.equals("dot") ? Scoring.dot() : Scoring.gaussian(1);
            checkAgainstTheLimit(kernels, sc, s, n, m, threads, e);
        }
    }

    /**
     * Checks pool (output, log-sum-exp) and weights against softmax in double with the max subtracted, which is the
     * limit where float overflows. Bound: the scores here are exact, so the float path's error is exp's (within u
     * for the scalar kernels, a few u for the vector exp), the sum of at most 64 terms in a block and the merges
     * (about (m_block + log₂ m) u), and the final division and rounding: under 100 u ≈ 6e-6 relative for weights
     * and for outputs relative to max|v| = 3; the double path's error is below float's last bit. Tolerance 1e-5
     * (weights) and 3e-5 (outputs). The log-sum-exp is max + ln Σ: the max is exact, so its error is float's
     * rounding of the sum, 1e-5 relative to max(1, |lse|).
     */
    private static void checkAgainstTheLimit(String kernels, Scoring scoring, double s, int n, int m, int threads,
            long seed) {
        Random r = new Random(seed * 31 + n + m);
        int d = 4;
        int dv = 2;
        float[][] q = new float[n][d];
        float[][] k = new float[m][d];
        float[][] v = new float[m][dv];
        for (float[] row : q) {
            for (int t = 0; t < d; t++) {
                row[t] = (float) ((r.nextInt(5) - 2) * s);
            }
        }
        for (int j = 0; j < m; j++) {
            for (int t = 0; t < d; t++) {
                k[j][t] = (float) ((r.nextInt(5) - 2) * s);
            }
            for (int c = 0; c < dv; c++) {
                v[j][c] = r.nextInt(7) - 3;
            }
        }
        Attention attention = Attention.builder().kernels(kernels).scoring(scoring).threads(threads).build();
        try (Arena arena = Arena.ofShared()) {
            Tensor qt = Tensor.of(arena, q);
            Tensor kt = Tensor.of(arena, k);
            Tensor vt = Tensor.of(arena, v);
            Tensor out = Tensor.allocate(arena, n, dv);
            Tensor lse = Tensor.allocate(arena, n);
            attention.pool(qt, kt, vt, Mask.none(), out, lse);
            float[][] w = m <= 64 ? attention.weights(arena, qt, kt).toArray() : null;
            double factor = scoring.resolve(d).factor();
            boolean dot = scoring.resolve(d).kind() == dev.qkv.kernel.Score.Kind.DOT;
            for (int i = 0; i < n; i++) {
                double[] scores = new double[m];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < m; j++) {
                    double a = 0;
                    for (int t = 0; t < d; t++) {
                        a += dot ? (double) q[i][t] * k[j][t] : ((double) q[i][t] - k[j][t]) * ((double) q[i][t] - k[j][t]);
                    }
                    scores[j] = dot ? factor * a : -factor * a;
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                double[] acc = new double[dv];
                for (int j = 0; j < m; j++) {
                    double e = Math.exp(scores[j] - max);
                    sum += e;
                    for (int c = 0; c < dv; c++) {
                        acc[c] += e * v[j][c];
                    }
                }
                String where = scoring + " at scale " + s + ", query " + i;
                for (int c = 0; c < dv; c++) {
                    float o = out.get(i, c);
                    assertTrue(Float.isFinite(o), where + ": output " + o);
                    assertEquals(acc[c] / sum, o, 3e-5, where + ": output " + c);
                }
                double ref = max + Math.log(sum);
                float l = lse.get(0, i);
                if (Math.abs(ref) > Float.MAX_VALUE) {
                    assertEquals(ref > 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY, l, where + ": lse");
                } else {
                    assertEquals(ref, l, 1e-5 * Math.max(1, Math.abs(ref)), where + ": lse");
                }
                for (int j = 0; w != null && j < m; j++) {
                    assertTrue(Float.isFinite(w[i][j]), where + ": weight " + j + " " + w[i][j]);
                    assertEquals(Math.exp(scores[j] - max) / sum, w[i][j], 1e-5, where + ": weight " + j);
                }
            }
        }
    }

    @Test
    void aQueryThatSeesNoKeyIsStillEmpty() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, new float[][] {{1e20f}});
            Tensor k = Tensor.of(arena, new float[][] {{1e20f}});
            Tensor v = Tensor.of(arena, new float[][] {{5}});
            Tensor out = Tensor.allocate(arena, 1, 1);
            Tensor lse = Tensor.allocate(arena, 1);
            Attention.builder().scoring(Scoring.dot()).build().pool(q, k, v, Mask.validLengths(0), out, lse);
            assertEquals(0f, out.get(0, 0));
            assertEquals(Float.NEGATIVE_INFINITY, lse.get(0, 0));
        }
    }
}
