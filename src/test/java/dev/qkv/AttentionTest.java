package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AttentionTest {

    private static final Attention DOT = Attention.builder().scoring(Scoring.dot()).build();

    private Arena arena;

    @BeforeEach
    void openArena() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeArena() {
        arena.close();
    }

    // ---- worked examples

    /**
     * Two queries over three keys in d = 2 under dot scoring, against closed forms worked out by hand. The scores are
     * small integers, computed exactly; only exp (within u + 2⁻⁵²), the sums and the division round, which keeps
     * each weight within about 8u of the exact one and each output within about 13u·max|v| ≈ 5·10⁻⁶: the tolerances
     * are 10⁻⁶ and 10⁻⁵.
     */
    @Test
    void twoQueriesOverThreeKeysMatchTheFormulasWorkedByHand() {
        Tensor queries = Tensor.of(arena, new float[][] {{1, 0}, {0, 2}});
        Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}, {1, 1}});
        Tensor values = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}, {5, 6}});
        // Query 1 scores (1, 0, 1): weights (e, 1, e)/(2e + 1), output ((6e + 3), (8e + 4))/(2e + 1) = (3, 4).
        // Query 2 scores (0, 2, 2): weights (1, e², e²)/(1 + 2e²), output (1 + 8e², 2 + 10e²)/(1 + 2e²).
        double e = Math.E;
        double e2 = e * e;
        double[][] weights = {{e / (2 * e + 1), 1 / (2 * e + 1), e / (2 * e + 1)},
                {1 / (1 + 2 * e2), e2 / (1 + 2 * e2), e2 / (1 + 2 * e2)}};
        double[][] output = {{3, 4}, {(1 + 8 * e2) / (1 + 2 * e2), (2 + 10 * e2) / (1 + 2 * e2)}};

        assertClose(weights, DOT.weights(arena, queries, keys).toArray(), 1e-6);
        assertClose(output, DOT.pool(arena, queries, keys, values).toArray(), 1e-5);
    }

    /**
     * Nadaraya–Watson regression with the Gaussian kernel, σ = 1: inputs 0, 1, 2 with targets 0, 1, 4, at x = 1.
     * The scores −(x − xᵢ)²/2 are −½, 0, −½; with w = e^{−½} the estimate is (1 + 4w)/(1 + 2w). The tolerance is the
     * previous test's: scores exact, 13u·max|v| ≈ 3·10⁻⁶.
     */
    @Test
    void gaussianScoringIsNadarayaWatsonRegression() {
        Attention attention = Attention.builder().scoring(Scoring.gaussian(1)).build();
        Tensor x = Tensor.of(arena, new float[][] {{0}, {1}, {2}});
        Tensor y = Tensor.of(arena, new float[][] {{0}, {1}, {4}});
        double w = Math.exp(-0.5);

        float[] estimate = attention.pool(arena, Tensor.of(arena, new float[] {1}), x, y).toFlatArray();

        assertEquals((1 + 4 * w) / (1 + 2 * w), estimate[0], 1e-5);
    }

    /**
     * d2l's database: keys = values = the rows of the database, and a query equal to one row. Under the Gaussian
     * with σ = 0.05 every other row, at distance ≥ 1, scores ≤ −1/(2·0.05²) = −200, and e^{−200} is exactly 0 in
     * float: the query gets its row back, exactly.
     */
    @Test
    void aQueryMatchingOneKeyOfTheDatabaseGetsItsValue() {
        float[][] database = {{1, 2}, {3, -1}, {-2, 5}, {4, 4}, {0.5f, -3}};
        Attention attention = Attention.builder().scoring(Scoring.gaussian(0.05)).build();
        Tensor db = Tensor.of(arena, database);

        float[][] out = attention.pool(arena, db, db, db).toArray();

        assertArrayEquals(database, out);
    }

    // ---- shapes

    @Test
    void aOneDimensionalQueryGivesAOneDimensionalOutputAndWeights() {
        Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}, {1, 1}});
        Tensor values = Tensor.of(arena, new float[][] {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}});
        Tensor query = Tensor.of(arena, new float[] {0.5f, -1});

        Tensor out = DOT.pool(arena, query, keys, values);
        Tensor w = DOT.weights(arena, query, keys);

        assertArrayEquals(new int[] {3}, out.shape());
        assertArrayEquals(new int[] {3}, w.shape());
        Tensor asMatrix = Tensor.of(arena, new float[][] {{0.5f, -1}});
        assertArrayEquals(DOT.pool(arena, asMatrix, keys, values).toFlatArray(), out.toFlatArray());
        assertArrayEquals(DOT.weights(arena, asMatrix, keys).toFlatArray(), w.toFlatArray());
    }

    @Test
    void outputIsNByDvAndWeightsNByM() {
        Tensor out = DOT.pool(arena, Tensor.allocate(arena, 4, 3), Tensor.allocate(arena, 5, 3),
                Tensor.allocate(arena, 5, 7));
        Tensor w = DOT.weights(arena, Tensor.allocate(arena, 4, 3), Tensor.allocate(arena, 5, 3));

        assertArrayEquals(new int[] {4, 7}, out.shape());
        assertArrayEquals(new int[] {4, 5}, w.shape());
    }

    @Test
    void noKeysGiveOutputZeroAndNoWeights() {
        Tensor queries = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
        Tensor keys = Tensor.allocate(arena, 0, 2);
        Tensor values = Tensor.allocate(arena, 0, 3);

        Tensor out = DOT.pool(arena, queries, keys, values);
        Tensor w = DOT.weights(arena, queries, keys);

        assertArrayEquals(new float[2][3], out.toArray());
        assertArrayEquals(new int[] {2, 0}, w.shape());
    }

    @Test
    void aQueryWithValidLengthZeroGetsOutputZeroAndWeightsZero() {
        Tensor queries = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
        Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
        Tensor values = Tensor.of(arena, new float[][] {{5, 6}, {7, 8}});
        Mask mask = Mask.validLengths(0, 1);

        float[][] out = DOT.pool(arena, queries, keys, values, mask).toArray();
        float[][] w = DOT.weights(arena, queries, keys, mask).toArray();

        assertArrayEquals(new float[] {0, 0}, out[0]);
        assertArrayEquals(new float[] {5, 6}, out[1]);
        assertArrayEquals(new float[][] {{0, 0}, {1, 0}}, w);
    }

    @Test
    void poolWritesIntoAGivenOutputAndOnlyThere() {
        Tensor queries = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
        Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
        Tensor values = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
        Tensor wide = Tensor.allocate(arena, 2, 4);
        wide.fill(-7);

        DOT.pool(queries, keys, values, Mask.none(), wide.columns(1, 3));

        float[][] expected = DOT.pool(arena, queries, keys, values).toArray();
        for (int i = 0; i < 2; i++) {
            assertArrayEquals(new float[] {-7, expected[i][0], expected[i][1], -7}, wide.rowToArray(i));
        }
    }

    @Test
    void stridedViewsAsInputsGiveTheSameResultAsCopies() {
        float[][] k = {{1, 2, 3}, {-1, 0, 2}, {0.5f, 0.5f, -2}};
        float[][] v = {{1, 2}, {3, 4}, {5, 6}};
        Tensor wide = Tensor.allocate(arena, 3, 9);
        wide.columns(2, 5).copyFrom(k);
        wide.columns(6, 8).copyFrom(v);
        Tensor queries = Tensor.of(arena, new float[][] {{0.3f, -0.2f, 1}});

        float[][] viaViews = DOT.pool(arena, queries, wide.columns(2, 5), wide.columns(6, 8)).toArray();
        float[][] viaCopies = DOT.pool(arena, queries, Tensor.of(arena, k), Tensor.of(arena, v)).toArray();

        assertArrayEquals(viaCopies, viaViews);
    }

    @Test
    void theSameInputsGiveBitwiseTheSameOutput() {
        Tensor queries = Tensor.of(arena, 3, 5, ramp(15, 0.37f));
        Tensor keys = Tensor.of(arena, 300, 5, ramp(1500, 0.011f));
        Tensor values = Tensor.of(arena, 300, 2, ramp(600, 0.013f));
        Attention attention = Attention.scaledDot();

        float[] first = attention.pool(arena, queries, keys, values).toFlatArray();
        float[] second = attention.pool(arena, queries, keys, values).toFlatArray();

        assertArrayEquals(first, second);
    }

    // ---- scorings

    @Test
    void scoringFactorsAreTheFormulas() {
        assertEquals(1.0, Scoring.dot().factor(16));
        assertEquals(0.25, Scoring.scaledDot().factor(16));
        assertEquals(1 / Math.sqrt(7), Scoring.scaledDot().factor(7));
        assertEquals(1 / (2 * 1.5 * 1.5), Scoring.gaussian(1.5).factor(16));
        assertEquals(3.0, Scoring.scaledDot().withScale(3).factor(16));
        assertTrue(Scoring.gaussian(2).isGaussian());
        assertFalse(Scoring.dot().isGaussian());
    }

    @Test
    void scaledDotIsDotWithScaleOneOverRootD() {
        Tensor queries = Tensor.of(arena, 2, 3, ramp(6, 0.7f));
        Tensor keys = Tensor.of(arena, 4, 3, ramp(12, -0.3f));
        Tensor values = Tensor.of(arena, 4, 2, ramp(8, 0.5f));
        Attention scaled = Attention.scaledDot();
        Attention explicit = Attention.builder().scoring(Scoring.dot().withScale(1 / Math.sqrt(3))).build();

        assertArrayEquals(explicit.pool(arena, queries, keys, values).toFlatArray(),
                scaled.pool(arena, queries, keys, values).toFlatArray());
    }

    @Test
    void gaussianSigmaMustBeFiniteAndPositive() {
        for (double sigma : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Scoring.gaussian(sigma));
            assertTrue(e.getMessage().contains("sigma") && e.getMessage().contains(String.valueOf(sigma)),
                    e.getMessage());
        }
    }

    @Test
    void aGaussianSigmaWhoseFactorDoesNotFitAFloatIsRefusedWhenMade() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Scoring.gaussian(1e-20));

        assertTrue(e.getMessage().contains("sigma") && e.getMessage().contains("1.0E-20"), e.getMessage());
        assertEquals(1 / (2 * 4e-20 * 4e-20), Scoring.gaussian(4e-20).factor(1)); // just fits: 3.1·10³⁸
    }

    @Test
    void scaleMustBeFiniteAndFitAFloatAndBePositiveForTheGaussian() {
        assertThrows(IllegalArgumentException.class, () -> Scoring.dot().withScale(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Scoring.dot().withScale(1e39));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Scoring.gaussian(1).withScale(-2));
        assertTrue(e.getMessage().contains("-2.0"), e.getMessage());
    }

    // ---- bad input

    @Test
    void queriesAndKeysOfDifferentDimensionNameBothShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DOT.pool(arena, Tensor.allocate(arena, 2, 3), Tensor.allocate(arena, 4, 5),
                        Tensor.allocate(arena, 4, 1)));

        assertTrue(e.getMessage().contains("(2, 3)") && e.getMessage().contains("(4, 5)"), e.getMessage());
    }

    @Test
    void keysAndValuesOfDifferentLengthNameBothShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DOT.pool(arena, Tensor.allocate(arena, 2, 3), Tensor.allocate(arena, 4, 3),
                        Tensor.allocate(arena, 5, 2)));

        assertTrue(e.getMessage().contains("(4, 3)") && e.getMessage().contains("(5, 2)"), e.getMessage());
    }

    @Test
    void keysOrValuesThatAreNotMatricesAreRefusedNamingTheirShape() {
        IllegalArgumentException keys = assertThrows(IllegalArgumentException.class,
                () -> DOT.weights(arena, Tensor.allocate(arena, 3), Tensor.allocate(arena, 3)));
        IllegalArgumentException values = assertThrows(IllegalArgumentException.class,
                () -> DOT.pool(arena, Tensor.allocate(arena, 3), Tensor.allocate(arena, 1, 3),
                        Tensor.allocate(arena, 3)));

        assertTrue(keys.getMessage().contains("keys") && keys.getMessage().contains("(3,)"), keys.getMessage());
        assertTrue(values.getMessage().contains("values") && values.getMessage().contains("(3,)"),
                values.getMessage());
    }

    @Test
    void anOutputOfTheWrongShapeIsRefusedAndLeftUntouched() {
        Tensor out = Tensor.allocate(arena, 2, 3);
        out.fill(42);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DOT.pool(Tensor.allocate(arena, 2, 4), Tensor.allocate(arena, 5, 4),
                        Tensor.allocate(arena, 5, 2), Mask.none(), out));

        assertTrue(e.getMessage().contains("(2, 3)") && e.getMessage().contains("(2, 2)"), e.getMessage());
        assertArrayEquals(new float[][] {{42, 42, 42}, {42, 42, 42}}, out.toArray());
    }

    @Test
    void badInputLeavesTheOutputUntouched() {
        Tensor out = Tensor.allocate(arena, 2, 2);
        out.fill(42);

        assertThrows(IllegalArgumentException.class, () -> DOT.pool(Tensor.allocate(arena, 2, 4),
                Tensor.allocate(arena, 5, 4), Tensor.allocate(arena, 6, 2), Mask.none(), out));
        assertThrows(IllegalArgumentException.class, () -> DOT.pool(Tensor.allocate(arena, 2, 4),
                Tensor.allocate(arena, 5, 4), Tensor.allocate(arena, 5, 2), Mask.validLengths(1, 2, 3), out));

        assertArrayEquals(new float[][] {{42, 42}, {42, 42}}, out.toArray());
    }

    @Test
    void aTensorOfAClosedArenaIsAnIllegalStateExceptionNamingIt() {
        Tensor queries = Tensor.allocate(arena, 2, 3);
        Tensor values = Tensor.allocate(arena, 4, 2);
        Tensor keys;
        try (Arena closed = Arena.ofConfined()) {
            keys = Tensor.allocate(closed, 4, 3);
        }

        IllegalStateException pool = assertThrows(IllegalStateException.class,
                () -> DOT.pool(arena, queries, keys, values));
        IllegalStateException weights = assertThrows(IllegalStateException.class,
                () -> DOT.weights(arena, queries, keys));

        assertTrue(pool.getMessage().contains("keys"), pool.getMessage());
        assertTrue(weights.getMessage().contains("keys"), weights.getMessage());
    }

    @Test
    void anOutputOfAClosedArenaIsAnIllegalStateException() {
        Tensor out;
        try (Arena closed = Arena.ofConfined()) {
            out = Tensor.allocate(closed, 2, 2);
        }

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> DOT.pool(
                Tensor.allocate(arena, 2, 3), Tensor.allocate(arena, 4, 3), Tensor.allocate(arena, 4, 2), Mask.none(),
                out));

        assertTrue(e.getMessage().contains("output"), e.getMessage());
    }

    @Test
    void aNegativeValidLengthIsRefusedNamingItsIndex() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Mask.validLengths(3, -2, 1));

        assertEquals("the valid length of query 1 is -2; it must be 0 or more", e.getMessage());
    }

    @Test
    void validLengthsMustCountOnePerQuery() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DOT.weights(arena, Tensor.allocate(arena, 3, 2), Tensor.allocate(arena, 4, 2),
                        Mask.validLengths(1, 2)));

        assertEquals("valid lengths has 2 entries for 3 queries", e.getMessage());
    }

    @Test
    void validLengthsAreCopied() {
        int[] lengths = {1, 2};
        Mask mask = Mask.validLengths(lengths);
        lengths[0] = 0;

        float[][] w = DOT.weights(arena, Tensor.allocate(arena, 2, 1), Tensor.allocate(arena, 2, 1), mask).toArray();

        assertArrayEquals(new float[][] {{1, 0}, {0.5f, 0.5f}}, w);
    }

    @Test
    void checkFiniteNamesTheFirstNonFiniteValueAndItsIndex() {
        Attention checking = Attention.builder().scoring(Scoring.dot()).checkFinite(true).build();
        Tensor queries = Tensor.allocate(arena, 2, 2);
        Tensor keys = Tensor.allocate(arena, 3, 2);
        Tensor values = Tensor.allocate(arena, 3, 4);
        values.set(1, 2, Float.NaN);
        values.set(2, 0, Float.POSITIVE_INFINITY);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> checking.pool(arena, queries, keys, values));

        assertEquals("values (3, 4) has a non-finite value NaN at (1, 2)", e.getMessage());
    }

    @Test
    void checkFiniteNamesTheIndexOfAOneDimensionalQuery() {
        Attention checking = Attention.builder().checkFinite(true).build();
        Tensor query = Tensor.of(arena, new float[] {0, Float.NEGATIVE_INFINITY, 1});

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> checking.weights(arena, query, Tensor.allocate(arena, 2, 3)));

        assertEquals("queries (3,) has a non-finite value -Infinity at (1)", e.getMessage());
    }

    @Test
    void withoutCheckFiniteANaNPassesThrough() {
        Tensor values = Tensor.of(arena, new float[][] {{Float.NaN}, {1}});

        float[] out = DOT.pool(arena, Tensor.of(arena, new float[] {1}), Tensor.of(arena, new float[][] {{1}, {1}}),
                values).toFlatArray();

        assertTrue(Float.isNaN(out[0]));
    }

    private static void assertClose(double[][] expected, float[][] actual, double tolerance) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i].length, actual[i].length);
            for (int j = 0; j < expected[i].length; j++) {
                assertEquals(expected[i][j], actual[i][j], tolerance, "element (" + i + ", " + j + ")");
            }
        }
    }

    /** {@code x·step} for x = 0, 1, … folded into [−2, 2): varied, deterministic inputs. */
    private static float[] ramp(int length, float step) {
        float[] out = new float[length];
        for (int i = 0; i < length; i++) {
            out[i] = ((i * step) % 4 + 4) % 4 - 2;
        }
        return out;
    }
}
