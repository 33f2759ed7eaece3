package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.NeedsVectorModule;
import dev.qkv.algorithm.Pooling;
import dev.qkv.algorithm.Rows;
import dev.qkv.algorithm.Visibility;
import dev.qkv.algorithm.Workers;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The vector kernels agree with the scalar reference, at this JVM's vector width, within bounds computed from
 * the data (never a fixed epsilon), and give bitwise the same result for the same input.
 *
 * <p>The bounds rest on the standard rounding-error results for float arithmetic with unit roundoff
 * u = 2⁻²⁴ (Higham, <i>Accuracy and Stability of Numerical Algorithms</i>, ch. 3–4): a sum of n terms
 * evaluated by any summation tree of depth at most n (any order, with or without FMA) is within
 * γₙ·Σ|termᵢ| of the exact sum, γₙ = n·u / (1 − n·u). Each kernel is bounded against the exact result;
 * two kernels then agree within twice that.
 *
 * <p>Shapes cover d and m around and across every vector width (1, 15, 16, 17, 31, 33, 64, 100, 128, 129),
 * m = 0 and 1, several blocks of keys, and tensors that are column views with a row stride wider than
 * their rows. The vector kernels are this JVM's, at the width of {@link VectorKernels#SPECIES}: the
 * preferred one, or another for a whole JVM with {@code -Dqkv.vectorBits}.
 */
@NeedsVectorModule
class VectorKernelsProperties {

    private static final double U = 0x1p-24;
    private static final int TRIES = 150;
    private static final Kernels SCALAR = ScalarKernels.INSTANCE;

    /** γₙ = n·u / (1 − n·u): the relative error bound of a float sum of n terms. */
    private static double gamma(int n) {
        return n * U / (1 - n * U);
    }

    @Provide
    Arbitrary<Integer> dims() {
        return Arbitraries.oneOf(Arbitraries.of(1, 15, 16, 17, 31, 33, 64, 100, 128, 129, 200),
                Arbitraries.integers().between(1, 160));
    }

    @Provide
    Arbitrary<Integer> counts() {
        return Arbitraries.oneOf(Arbitraries.of(0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 255, 256, 257, 600),
                Arbitraries.integers().between(0, 700));
    }

    /**
     * {@code dot} and {@code squaredDistance} at arbitrary float offsets. The vector sum has depth at most
     * d/(4·lanes) + 2 + log₂(lanes) ≤ d + 6, the scalar one depth d, so each is within γ_{d+6}·Σ|termᵢ| of
     * the exact sum, where termᵢ = xᵢyᵢ for dot, and (xᵢ − yᵢ)² with the difference as both round it.
     */
    @Property(tries = TRIES)
    void dotAndSquaredDistanceMatchScalar(@ForAll("dims") int d, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            int xAt = random.nextInt(8);
            int yAt = random.nextInt(8);
            MemorySegment x = randomSegment(arena, random, xAt + d);
            MemorySegment y = randomSegment(arena, random, yAt + d);
            double products = 0;
            double squares = 0;
            for (int i = 0; i < d; i++) {
                float xi = x.getAtIndex(ValueLayout.JAVA_FLOAT, xAt + i);
                float yi = y.getAtIndex(ValueLayout.JAVA_FLOAT, yAt + i);
                products += Math.abs((double) xi * yi);
                float diff = xi - yi;
                squares += (double) diff * diff;
            }
            assertWithin(SCALAR.dot(x, 4L * xAt, y, 4L * yAt, d), vector.dot(x, 4L * xAt, y, 4L * yAt, d),
                    2 * gamma(d + 6) * products, "dot");
            assertWithin(SCALAR.squaredDistance(x, 4L * xAt, y, 4L * yAt, d),
                    vector.squaredDistance(x, 4L * xAt, y, 4L * yAt, d), 2 * gamma(d + 6) * squares, "squaredDistance");
        }
    }

    /**
     * Scores of one query against keys [from, to), both score kinds, four keys at a time ({@code scores}) and one at a
     * time ({@code streamScores}): each sum as in {@link #dotAndSquaredDistanceMatchScalar}, then one rounding for the
     * factor; γ_{d+8} covers both.
     */
    @Property(tries = TRIES)
    void scoresMatchScalar(@ForAll("dims") int d, @ForAll("counts") int m,
            @ForAll boolean gaussian, @ForAll boolean strided, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            Tensor queries = randomTensor(arena, random, 2, d, strided);
            Tensor keys = randomTensor(arena, random, m, d, strided);
            Score score = score(gaussian, d);
            int from = m == 0 ? 0 : random.nextInt(Math.min(m, 5));
            float[] expected = new float[m];
            float[] actual = new float[m];
            float[] streamed = new float[m];
            SCALAR.scores(score, queries, 1, keys, from, m, expected);
            vector.scores(score, queries, 1, keys, from, m, actual);
            vector.streamScores(score, queries, 1, keys, from, m, streamed);
            for (int j = from; j < m; j++) {
                double bound = 2 * gamma(d + 8) * score.factor() * termSum(score, queries, 1, keys, j);
                assertWithin(expected[j - from], actual[j - from], bound, "score of key " + j);
                assertWithin(expected[j - from], streamed[j - from], bound, "streamed score of key " + j);
            }
        }
    }

    /** max is exact in any order: the vector and scalar maxima are the same float. */
    @Property(tries = TRIES)
    void maxIsExact(@ForAll("counts") int m, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        float[] x = randomScores(new SplittableRandom(seed), m + 3);
        int from = Math.min(3, m);
        assertEquals(SCALAR.max(x, from, m + 3), vector.max(x, from, m + 3));
        assertEquals(Float.NEGATIVE_INFINITY, vector.max(x, from, from));
    }

    /**
     * {@code maxAbove} is exact where it must be: the block's maximum (the same float as {@code max}, for both kernels)
     * when the floor is −∞ or below it, −∞ for a block of −∞ only, and the floor itself otherwise. Floors are drawn
     * below, at and above the block's maximum, and blocks have −∞ entries (the masked keys), some all −∞.
     */
    @Property(tries = TRIES)
    void maxAboveIsTheMaximumWhereItMatters(@ForAll("counts") int m, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = randomScores(random, m + 3);
        int hidden = random.nextInt(4);
        for (int i = 0; i < x.length; i++) {
            if (hidden == 3 || hidden > 0 && random.nextInt(3) == 0) {
                x[i] = Float.NEGATIVE_INFINITY;
            }
        }
        int from = Math.min(3, m);
        float max = SCALAR.max(x, from, m + 3);
        float[] floors = {Float.NEGATIVE_INFINITY, -1e30f, max, Math.nextDown(max), Math.nextUp(max),
                (float) (60 * random.nextDouble() - 30), 1e30f};
        for (float floor : floors) {
            float expected = floor == Float.NEGATIVE_INFINITY || max > floor || max == Float.NEGATIVE_INFINITY ? max
                    : floor;
            assertEquals(expected, SCALAR.maxAbove(x, from, m + 3, floor), "scalar, floor " + floor);
            assertEquals(expected, vector.maxAbove(x, from, m + 3, floor), "vector, floor " + floor);
        }
        assertEquals(Float.NEGATIVE_INFINITY, vector.maxAbove(x, from, from, 1f));
    }

    /**
     * Each exp within 1 ulp of the exact e^x for the vector kernels (VectorKernelsExpTest) and 0.5 ulp
     * for the scalar rounding of Math.exp, so they agree within 1.5 ulp of the scalar one (ulps of a
     * subnormal are 2⁻¹⁴⁹). The sums of m positive terms each: γ_{m+6}·Σ eᵢ, plus the terms' own errors.
     */
    @Property(tries = TRIES)
    void expAndSumMatchesScalar(@ForAll("counts") int m, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        float[] x = randomScores(new SplittableRandom(seed), m);
        float shift = SCALAR.max(x, 0, m);
        float[] expected = x.clone();
        float[] actual = x.clone();
        float expectedSum = SCALAR.expAndSum(expected, 0, m, shift);
        float actualSum = vector.expAndSum(actual, 0, m, shift);
        double termErrors = 0;
        double sum = 0;
        for (int i = 0; i < m; i++) {
            double ulp = Math.ulp(expected[i]);
            assertWithin(expected[i], actual[i], 1.5 * ulp, "exp of score " + i);
            termErrors += 1.5 * ulp;
            sum += expected[i];
        }
        assertWithin(expectedSum, actualSum, 2 * gamma(m + 6) * sum + termErrors, "sum of exps");
    }

    /** scale is one multiplication per element, rounded the same way: bitwise equal. */
    @Property(tries = TRIES)
    void scaleIsExact(@ForAll("counts") int m, @ForAll float factor, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        float[] expected = randomScores(new SplittableRandom(seed), m);
        float[] actual = expected.clone();
        SCALAR.scale(expected, 0, m, factor);
        vector.scale(actual, 0, m, factor);
        assertArrayEquals(expected, actual);
    }

    /**
     * acc[j] + Σᵢ wᵢ·vᵢⱼ: both run through the rows in order (the vector kernel fuses each product into an
     * FMA), so each is a sum of m + 1 terms within γ_{m+1}·(|acc[j]| + Σ|wᵢ·vᵢⱼ|) of the exact one.
     */
    @Property(tries = TRIES)
    void accumulateMatchesScalar(@ForAll("dims") int dv, @ForAll("counts") int m,
            @ForAll boolean strided, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            Tensor values = randomTensor(arena, random, m, dv, strided);
            float[] weights = new float[m];
            for (int i = 0; i < m; i++) {
                weights[i] = (float) random.nextDouble();
            }
            float[] start = randomScores(random, dv);
            float[] expected = start.clone();
            float[] actual = start.clone();
            SCALAR.accumulate(weights, values, 0, m, expected);
            vector.accumulate(weights, values, 0, m, actual);
            for (int j = 0; j < dv; j++) {
                double magnitude = Math.abs(start[j]);
                for (int i = 0; i < m; i++) {
                    magnitude += Math.abs((double) weights[i] * values.get(i, j));
                }
                assertWithin(expected[j], actual[j], 2 * gamma(m + 1) * magnitude, "acc[" + j + "]");
            }
        }
    }

    /**
     * The fused pool against the scalar pool, both finished to acc / sum. Each against the exact out:
     * a score is off by at most δ (its bound above), so x = s − M by 2δ, plus u·|x| for the subtraction;
     * exp adds 2u relative (1 ulp); each weight wᵢ is thus off by a factor within e^±ε,
     * ε = 2δ + u·max|x| + 2u. The sums Σ wᵢvᵢⱼ and Σ wᵢ add γ_{m+8} each, each block's rescale 2u, and
     * weights that underflow to subnormals an absolute 2⁻¹⁴⁹ each. With αᵢ the exact softmax weights,
     * |out − exact| ≤ B = 2·(e^ε − 1 + γ_{m+8} + 2u·(blocks + 1))·Σ αᵢ|vᵢⱼ| + m·2⁻¹⁴⁹·max|v|, the factor
     * 2 for the numerator and the denominator; vector and scalar agree within 2B.
     */
    @Property(tries = TRIES)
    void poolMatchesScalar(@ForAll("dims") int d, @ForAll("counts") int m,
            @ForAll boolean gaussian, @ForAll boolean strided, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        SplittableRandom random = new SplittableRandom(seed);
        int dv = 1 + random.nextInt(140);
        try (Arena arena = Arena.ofConfined()) {
            Tensor queries = randomTensor(arena, random, 1, d, strided);
            Tensor keys = randomTensor(arena, random, m, d, strided);
            Tensor values = randomTensor(arena, random, m, dv, strided);
            Score score = score(gaussian, d);
            float[] expected = pool(SCALAR, score, queries, keys, values);
            float[] actual = pool(vector, score, queries, keys, values);
            if (m == 0) {
                assertArrayEquals(new float[dv], actual, "no keys: output 0");
                return;
            }
            double[] exact = new double[m];
            double delta = 0;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < m; i++) {
                exact[i] = exactScore(score, queries, keys, i);
                delta = Math.max(delta, gamma(d + 8) * score.factor() * termSum(score, queries, 0, keys, i));
                max = Math.max(max, exact[i]);
            }
            double total = 0;
            double spread = 0;
            for (int i = 0; i < m; i++) {
                spread = Math.max(spread, max - exact[i]);
                exact[i] = Math.exp(exact[i] - max);
                total += exact[i];
            }
            double epsilon = 2 * delta + U * (spread + 2 * delta) + 2 * U;
            int blocks = (m + Pooling.ROW_BLOCK - 1) / Pooling.ROW_BLOCK;
            double relative = Math.expm1(epsilon) + gamma(m + 8) + 2 * U * (blocks + 1);
            for (int j = 0; j < dv; j++) {
                double weighted = 0;
                double largest = 0;
                for (int i = 0; i < m; i++) {
                    weighted += exact[i] / total * Math.abs(values.get(i, j));
                    largest = Math.max(largest, Math.abs(values.get(i, j)));
                }
                double bound = 2 * relative * weighted + m * 0x1p-149 * largest;
                assertWithin(expected[j], actual[j], 2 * bound, "out[" + j + "]");
            }
        }
    }

    private static final int ATTEMPTS = 10;

    /**
     * The same input twice gives bitwise the same output, and so does a copy of it at another address, misaligned by
     * a float and with a wider row stride: no order depends on anything but the data. In one state of the JIT: until
     * C2 compiles the kernels, the Vector API's Java fallback rounds {@code lanewise(EXP)} and
     * {@code reduceLanes(ADD)} differently (see Attention's javadoc), so a pair of calls that straddles a compilation
     * differs; the pair is taken again, and only a difference in each of {@value #ATTEMPTS} pairs fails.
     */
    @Property(tries = TRIES / 3)
    void vectorIsDeterministic(@ForAll("dims") int d, @ForAll("counts") int m,
            @ForAll boolean gaussian, @ForAll long seed) {
        Kernels vector = VectorKernels.INSTANCE;
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            Tensor queries = randomTensor(arena, random, 1, d, false);
            Tensor keys = randomTensor(arena, random, m, d, false);
            Tensor values = randomTensor(arena, random, m, d, false);
            Tensor movedQueries = moved(arena, queries);
            Tensor movedKeys = moved(arena, keys);
            Tensor movedValues = moved(arena, values);
            Score score = score(gaussian, d);
            for (int attempt = 1; ; attempt++) {
                float[] first = pool(vector, score, queries, keys, values);
                float[] second = pool(vector, score, queries, keys, values);
                float[] other = pool(vector, score, movedQueries, movedKeys, movedValues);
                if (Arrays.equals(first, second) && Arrays.equals(first, other) || attempt == ATTEMPTS) {
                    assertArrayEquals(first, second);
                    assertArrayEquals(first, other);
                    return;
                }
            }
        }
    }

    /** A copy of {@code t} one float further into a new segment, rows three floats apart more than t's. */
    private static Tensor moved(Arena arena, Tensor t) {
        Tensor wide = Tensor.allocate(arena, t.rows(), t.cols() + 3);
        for (int i = 0; i < t.rows(); i++) {
            for (int j = 0; j < t.cols(); j++) {
                wide.set(i, j + 1, t.get(i, j));
            }
        }
        return wide.columns(1, 1 + t.cols());
    }

    /** One query pooled by the algorithm layer over these kernels, finished. */
    private static float[] pool(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values) {
        Rows rows = Pooling.pool(kernels, score, queries, keys, values, Visibility.all(1, keys.rows()), Workers.SERIAL);
        float[] out = new float[values.cols()];
        rows.finish(0, out);
        return out;
    }

    private static Score score(boolean gaussian, int d) {
        return gaussian ? Score.negativeSquaredDistance(0.5f / d) : Score.dot((float) (1 / Math.sqrt(d)));
    }

    /** Σ|qₖkₖ| for dot, Σ fl(qₖ − kₖ)² for the squared distance: what the rounding errors scale with. */
    private static double termSum(Score score, Tensor queries, int query, Tensor keys, int key) {
        double sum = 0;
        for (int k = 0; k < queries.cols(); k++) {
            float q = queries.get(query, k);
            float x = keys.get(key, k);
            if (score.kind() == Score.Kind.DOT) {
                sum += Math.abs((double) q * x);
            } else {
                float diff = q - x;
                sum += (double) diff * diff;
            }
        }
        return sum;
    }

    private static double exactScore(Score score, Tensor queries, Tensor keys, int key) {
        double sum = 0;
        for (int k = 0; k < queries.cols(); k++) {
            double q = queries.get(0, k);
            double x = keys.get(key, k);
            sum += score.kind() == Score.Kind.DOT ? q * x : -(q - x) * (q - x);
        }
        return score.factor() * sum;
    }

    private static void assertWithin(float expected, float actual, double bound, String what) {
        double error = Math.abs((double) expected - actual);
        assertTrue(error <= bound, () -> what + ": scalar " + expected + ", vector " + actual + ", differ by "
                + error + " > bound " + bound);
    }

    private static MemorySegment randomSegment(Arena arena, SplittableRandom random, int floats) {
        MemorySegment s = arena.allocate(4L * floats, 4);
        for (int i = 0; i < floats; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (4 * random.nextDouble() - 2));
        }
        return s;
    }

    /** rows × cols uniform in [−2, 2); when strided, a column view of a wider tensor. */
    private static Tensor randomTensor(Arena arena, SplittableRandom random, int rows, int cols, boolean strided) {
        int extra = strided ? 1 + random.nextInt(5) : 0;
        Tensor t = Tensor.allocate(arena, rows, cols + extra);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols + extra; j++) {
                t.set(i, j, (float) (4 * random.nextDouble() - 2));
            }
        }
        int at = extra == 0 ? 0 : random.nextInt(extra + 1);
        return t.columns(at, at + cols);
    }

    /** Scores spread over [−30, 30): their exps span normal floats down to about e⁻⁶⁰. */
    private static float[] randomScores(SplittableRandom random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (60 * random.nextDouble() - 30);
        }
        return x;
    }
}
