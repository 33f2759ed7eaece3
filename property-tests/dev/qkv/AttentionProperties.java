package dev.qkv;

import static dev.qkv.ErrorBounds.TINY;
import static dev.qkv.ErrorBounds.U64;
import static dev.qkv.ErrorBounds.gamma;
import static dev.qkv.PropertyChecks.check;
import static dev.qkv.PropertyChecks.checkLogSumExp;
import static dev.qkv.PropertyChecks.checkWithin;
import static dev.qkv.PropertyChecks.inOneJitState;
import static dev.qkv.PropertyChecks.sameBits;
import static dev.qkv.PropertyChecks.sameBitsOnOtherInputs;

import dev.qkv.algorithm.Pooling;
import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.math.BigDecimal;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.FloatRange;
import net.jqwik.api.constraints.IntRange;

/**
 * The laws of attention pooling, checked for every implementation of {@link Kernels} that {@link #kernels()}
 * provides. Each bound is derived where it is used, in the terms of {@link ErrorBounds}; the general one, against a
 * float64 reference, in {@link Float64Reference}.
 *
 * <p>Where a law holds bitwise or with a bound tighter than the general one, it relies on two things every kernel
 * must give: a key's score depends on the query and the key alone (not on where the key stands or how many keys
 * there are), and exp(0) = 1 exactly. The vector kernels give that only within one state of the JIT (their sums of
 * lanes and their exp change in the last bit when C2 compiles them), so such laws take their results through
 * {@link PropertyChecks#sameBits} or {@link PropertyChecks#inOneJitState}.
 */
class AttentionProperties {

    /** Values, and query and key entries, lie in [−RANGE, RANGE]. */
    private static final float RANGE = 4f;

    /** The kernels every law is checked for. */
    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    /**
     * Weights are ≥ 0, 0 for the keys a query does not see, and the L a query sees sum to 1 within
     * γ_{L+1} + L·TINY: S = Σeⱼ puts at most L − 1 roundings on each term, fl(1/S) and fl(eⱼ·(1/S)) one each, so
     * Σwⱼ lies between (1 − u)²/(1 + u)^{L−1} and (1 + u)²/(1 − u)^{L−1}, within γ_{L+1} of 1, whatever the eⱼ;
     * a weight below 2⁻¹²⁶ may be off by TINY more. The sum is taken exactly (BigDecimal). A query that sees no key
     * has all weights 0.
     */
    @Property
    void weightsAreNonNegativeAndSumToOne(@ForAll("kernels") Kernels kernels, @ForAll("cases") Case c) {
        try (Arena arena = Arena.ofConfined()) {
            float[][] w = attention(c.scoring(), kernels).weights(arena, c.queries(arena), c.keys(arena), c.mask())
                    .toArray();
            for (int i = 0; i < c.n(); i++) {
                int seen = c.visible(i);
                BigDecimal sum = BigDecimal.ZERO;
                for (int j = 0; j < c.m(); j++) {
                    if (j >= seen) {
                        check(w[i][j] == 0f, "weight (%d, %d) of a key the query does not see is %s", i, j, w[i][j]);
                    } else {
                        check(w[i][j] >= 0f && Float.isFinite(w[i][j]), "weight (%d, %d) is %s", i, j, w[i][j]);
                        sum = sum.add(new BigDecimal(w[i][j]));
                    }
                }
                if (seen > 0) {
                    double error = Math.abs(sum.subtract(BigDecimal.ONE).doubleValue());
                    double bound = gamma(seen + 1) + seen * TINY;
                    check(error <= bound, "weights of query %d sum to %s, off by %s > %s", i, sum, error, bound);
                }
            }
        }
    }

    /**
     * Keys c·I (d × d) and the query c·eⱼ give exactly the value vⱼ and the weights eⱼ. The scores are exact: c·c
     * at j and c·0 = 0 elsewhere under dot (c ≤ 2¹² so c² ≤ 2²⁴ is a float), scaled by f under scaled dot, and
     * 0 at j, −f·2c² elsewhere under the Gaussian. With c ≥ 64 every other key trails by Δ ≥ min(c², c²/√40,
     * 2c²/(2·4²)) ≥ 256 > 104, and e^{−104} &lt; 2⁻¹⁵⁰ rounds to exactly 0 in float: those weights are 0, key j's
     * is exp(0)/1 = 1, and the output is 1·vⱼ + Σ 0·vᵢ = vⱼ. (Compared with ==, as −0 in vⱼ may come out +0: the
     * accumulator starts at +0.)
     */
    @Property
    void identityKeysLookUpExactly(@ForAll("kernels") Kernels kernels, @ForAll("lookups") Lookup lookup) {
        int d = lookup.values().length;
        int n = lookup.targets().length;
        float[][] keys = new float[d][d];
        float[][] queries = new float[n][d];
        for (int i = 0; i < d; i++) {
            keys[i][i] = lookup.c();
        }
        for (int i = 0; i < n; i++) {
            queries[i][lookup.targets()[i]] = lookup.c();
        }
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(lookup.scoring(), kernels);
            Tensor q = Tensor.of(arena, queries);
            Tensor k = Tensor.of(arena, keys);
            float[][] out = attention.pool(arena, q, k, Tensor.of(arena, lookup.values())).toArray();
            float[][] w = attention.weights(arena, q, k).toArray();
            for (int i = 0; i < n; i++) {
                int target = lookup.targets()[i];
                float[] expected = lookup.values()[target];
                for (int j = 0; j < expected.length; j++) {
                    check(out[i][j] == expected[j], "query %d looked up key %d: output %d is %s, not %s", i, target,
                            j, out[i][j], expected[j]);
                }
                for (int j = 0; j < d; j++) {
                    check(w[i][j] == (j == target ? 1f : 0f), "query %d looked up key %d: weight %d is %s", i,
                            target, j, w[i][j]);
                }
            }
        }
    }

    /**
     * Identical keys give every query the plain mean of the values: equal scores give eᵢ = exp(0) = 1 for every key,
     * so S = m exactly (integers below 2²⁴ add exactly, in any order), every weight is fl(1/m), and the output is
     * fl(fl(Σvᵢ)·fl(1/m)), within γ_{m+1}·Σ|vᵢ|/m of the exact mean (m − 1 roundings on each term of the sum, two
     * more). The mean is taken in double: γ₆₄,ₘ·Σ|vᵢ|/m more; TINY for a result below 2⁻¹²⁶.
     */
    @Property
    void identicalKeysAverageTheValues(@ForAll("kernels") Kernels kernels, @ForAll("identicalKeys") Case c) {
        checkAveragesTheValues(kernels, c);
    }

    /** A zero query under the dot scorings scores every key 0 (±0, exactly): as for identical keys. */
    @Property
    void zeroQueryUnderDotAveragesTheValues(@ForAll("kernels") Kernels kernels, @ForAll("zeroQueries") Case c) {
        checkAveragesTheValues(kernels, c);
    }

    private static void checkAveragesTheValues(Kernels kernels, Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(c.scoring(), kernels);
            Object[] pooled = poolAndWeightsInOneJitState(attention, c, arena);
            float[][] out = (float[][]) pooled[0];
            float[][] w = (float[][]) pooled[1];
            int m = c.m();
            for (int i = 0; i < c.n(); i++) {
                for (int j = 0; j < m; j++) {
                    check(w[i][j] == 1f / m, "weight (%d, %d) is %s, not 1/%d", i, j, w[i][j], m);
                }
                for (int j = 0; j < c.dv(); j++) {
                    double sum = 0;
                    double sumAbs = 0;
                    for (float[] v : c.values()) {
                        sum += v[j];
                        sumAbs += Math.abs(v[j]);
                    }
                    double bound = (gamma(m + 1) + gamma(m, U64)) * sumAbs / m + TINY;
                    checkWithin(out[i][j], sum / m, bound, "output (%d, %d) against the mean of the values", i, j);
                }
            }
        }
    }

    /**
     * Softmax ignores a constant added to every score. Under dot scoring, q' = [q, 1] and kᵢ' = [kᵢ, c] add c to
     * every score; exactly, both give the same output, so the two computed outputs differ by at most the sum of
     * their bounds against the exact one ({@link Float64Reference}). The shift enters those bounds where it does
     * harm: the score errors grow to γ_{d+3}·|f|·(Σₗ|qₗkᵢₗ| + |c|). With |c| up to 120, e^c overflows float: a
     * softmax that did not subtract the max would fail here.
     */
    @Property
    void addingAConstantToEveryScoreChangesNothing(@ForAll("kernels") Kernels kernels, @ForAll("dotCases") Case c,
            @ForAll @FloatRange(min = -120, max = 120) float shift) {
        Case shifted = c.withExtraColumn(1f, shift);
        try (Arena arena = Arena.ofConfined()) {
            float[][] out = pool(kernels, c, arena);
            float[][] outShifted = pool(kernels, shifted, arena);
            for (int i = 0; i < c.n(); i++) {
                double[] bound = c.reference(i).kernelOutputBound(c.passes(i));
                double[] boundShifted = shifted.reference(i).kernelOutputBound(shifted.passes(i));
                for (int j = 0; j < c.dv(); j++) {
                    checkWithin(outShifted[i][j], out[i][j], bound[j] + boundShifted[j],
                            "output (%d, %d) with %s added to every score", i, j, shift);
                }
            }
        }
    }

    /**
     * Under the dot scorings a score is f·qᵀk, and qᵀk does not change when every query is multiplied by 2ᵉ and every
     * key by 2⁻ᵉ: each product qₗkₗ is the same real number, and a power of two scales a float exactly while it stays
     * normal (entries are 0 or at least 10⁻⁵ in magnitude, e ≤ 40: from 9·10⁻¹⁸ to 5·10¹²). A kernel that computes
     * f·qᵀk as Score defines it sees the same products and sums, so the output and the weights are bitwise the same;
     * with f up to 10³⁰, a kernel that formed f·q first would overflow to ∞ and NaN.
     */
    @Property
    void scalingQueriesUpAndKeysDownChangesNothing(@ForAll("kernels") Kernels kernels,
            @ForAll("dotCases") Case c, @ForAll("hugeOrPlainScales") double scale,
            @ForAll @IntRange(min = 0, max = 40) int e) {
        Case scaled = c.withScoring(Scoring.dot().withScale(scale));
        Case rescaled = scaled.withQueries(scaledBy(c.queries(), Math.scalb(1f, e)))
                .withKeys(scaledBy(c.keys(), Math.scalb(1f, -e)));
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(scaled.scoring(), kernels);
            sameBits(() -> poolAndWeights(attention, scaled, arena, c.mask()),
                    () -> poolAndWeights(attention, rescaled, arena, c.mask()),
                    "queries × 2^%d, keys × 2^-%d: output and weights", e, e);
        }
    }

    private static float[][] scaledBy(float[][] rows, float factor) {
        float[][] out = new float[rows.length][];
        for (int i = 0; i < rows.length; i++) {
            out[i] = rows[i].clone();
            for (int j = 0; j < out[i].length; j++) {
                out[i][j] *= factor;
            }
        }
        return out;
    }

    /**
     * Permuting the (key, value) pairs permutes the weights and leaves the output. Each key keeps its score and so
     * its eᵢ = exp(sᵢ − M) (M is the max of the same set); only the order of the sums changes. Each output is within
     * γ_{2m+3}·max|vᵢ| of Σ ãᵢvᵢ (one block, {@link Float64Reference} step 4), and each weight within γ_{m+1}·ãᵢ of
     * ãᵢ = eᵢ/Σeⱼ: the two differ by at most twice that, plus TINY terms for underflow.
     */
    @Property
    void reorderingKeyValuePairsChangesNothing(@ForAll("kernels") Kernels kernels,
            @ForAll("permutedCases") Permuted p) {
        Case c = p.original();
        Case permuted = p.permuted();
        int m = c.m();
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(c.scoring(), kernels);
            Object[] pooled = inOneJitState(List.of(() -> poolAndWeights(attention, c, arena, c.mask()),
                    () -> poolAndWeights(attention, permuted, arena, c.mask())));
            float[][] out = (float[][]) ((Object[]) pooled[0])[0];
            float[][] w = (float[][]) ((Object[]) pooled[0])[1];
            float[][] outPermuted = (float[][]) ((Object[]) pooled[1])[0];
            float[][] wPermuted = (float[][]) ((Object[]) pooled[1])[1];
            for (int i = 0; i < c.n(); i++) {
                for (int j = 0; j < c.dv(); j++) {
                    double vMax = 0;
                    for (float[] v : c.values()) {
                        vMax = Math.max(vMax, Math.abs(v[j]));
                    }
                    double bound = 2 * (gamma(2 * m + 3) * vMax + (4.0 * m + 4) * TINY * Math.max(1, vMax));
                    checkWithin(outPermuted[i][j], out[i][j], bound, "output (%d, %d) after reordering by %s", i, j,
                            Arrays.toString(p.order()));
                }
                for (int j = 0; j < m; j++) {
                    float before = w[i][p.order()[j]];
                    float after = wPermuted[i][j];
                    double bound = 2 * gamma(m + 1) * Math.max(before, after) / (1 - gamma(m + 1)) + 4 * TINY;
                    checkWithin(after, before, bound, "weight (%d, %d) after reordering by %s", i, j,
                            Arrays.toString(p.order()));
                }
            }
        }
    }

    /**
     * Scores as large as ±10³⁰ give finite outputs and weights exactly one-hot, or uniform over the keys tied for
     * the largest score. Entries are multiples of 1/8 in [−4, 4] and d ≤ 8, so every dot product and squared
     * distance is exact, a multiple of 1/64 of magnitude at most 512: two keys tie exactly when those are equal, and
     * otherwise they differ by a relative 2⁻¹⁵ at least, far above float's 2⁻²³, so their scores, scaled by
     * |f| ∈ [10²⁰, 10³⁰] (after the dot product, as {@code Score} defines), still differ by more than 10¹⁷ after
     * rounding, and exp of the difference is exactly 0. The t tied keys get exp(0) = 1, S = t, weights fl(1/t), and
     * an output within γ_{t+1}·Σ|vᵢ|/t of their mean (exactly vᵢ when t = 1).
     */
    @Property
    void hugeScoresGiveNoNaNOrInfinity(@ForAll("kernels") Kernels kernels, @ForAll("hugeScores") Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(c.scoring(), kernels);
            float[][] out = pool(kernels, c, arena);
            float[][] w = attention.weights(arena, c.queries(arena), c.keys(arena)).toArray();
            for (int i = 0; i < c.n(); i++) {
                boolean[] tied = tiedForTheLargestScore(c, i);
                int t = 0;
                for (boolean b : tied) {
                    t += b ? 1 : 0;
                }
                for (int j = 0; j < c.m(); j++) {
                    float expected = tied[j] ? 1f / t : 0f;
                    check(w[i][j] == expected, "weight (%d, %d) is %s, not %s (%d tied)", i, j, w[i][j], expected, t);
                }
                for (int j = 0; j < c.dv(); j++) {
                    check(Float.isFinite(out[i][j]), "output (%d, %d) is %s", i, j, out[i][j]);
                    double sum = 0;
                    double sumAbs = 0;
                    for (int k = 0; k < c.m(); k++) {
                        if (tied[k]) {
                            sum += c.values()[k][j];
                            sumAbs += Math.abs(c.values()[k][j]);
                        }
                    }
                    double mean = t == 0 ? 0 : sum / t;
                    double bound = t <= 1 ? 0 : (gamma(t + 1) + gamma(t, U64)) * sumAbs / t + TINY;
                    checkWithin(out[i][j], mean, bound, "output (%d, %d), %d keys tied", i, j, t);
                }
            }
        }
    }

    /** Which keys share query i's largest score, from the exact dot products or squared distances. */
    private static boolean[] tiedForTheLargestScore(Case c, int i) {
        double f = c.scoring().factor(c.d());
        double[] score = new double[c.m()];
        double best = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < c.m(); k++) {
            double s = 0;
            for (int l = 0; l < c.d(); l++) {
                double q = c.queries()[i][l];
                double key = c.keys()[k][l];
                s += c.scoring().isGaussian() ? -(q - key) * (q - key) : q * key;
            }
            score[k] = f * s;
            best = Math.max(best, score[k]);
        }
        boolean[] tied = new boolean[c.m()];
        for (int k = 0; k < c.m(); k++) {
            tied[k] = score[k] == best;
        }
        return tied;
    }

    /**
     * Keys at or beyond a query's valid length are never read: with those keys and values set to NaN, the query's
     * output and weights are bitwise those of the same call on the clean inputs, and bitwise those of pooling over
     * the prefix alone, unmasked; a length ≥ m is no mask at all, and a length 0 gives output 0.
     */
    @Property
    void validLengthsHideTheKeysBeyond(@ForAll("kernels") Kernels kernels, @ForAll("maskedCases") Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(c.scoring(), kernels);
            for (int i = 0; i < c.n(); i++) {
                int row = i;
                int seen = c.visible(i);
                Case poisoned = c.poisonedFrom(seen);
                Case prefix = c.prefix(seen);
                sameBitsOnOtherInputs(() -> poolAndWeights(attention, c, row, arena, c.mask(), c.m()), List.of(
                        () -> poolAndWeights(attention, poisoned, row, arena, c.mask(), c.m()),
                        () -> poolAndWeights(attention, prefix, row, arena, Mask.none(), c.m())),
                        "query %d sees %d keys: output and weights with NaN beyond (0), over the prefix alone (1)",
                        i, seen);
                if (seen == 0) {
                    float[] out = pool(kernels, c, arena)[i];
                    check(Arrays.equals(out, new float[c.dv()]), "query %d sees no key: output %s", i,
                            Arrays.toString(out));
                }
            }
            Case allVisible = c.withLengths(IntStream.of(c.lengths()).map(l -> Math.max(l, c.m())).toArray());
            Case unmasked = c.withLengths(null);
            sameBits(() -> pool(kernels, unmasked, arena), () -> pool(kernels, allVisible, arena),
                    "lengths ≥ m changed the output");
        }
    }

    /** Output and weights under the case's mask, computed in one JIT state: from the same eᵢ, on the row path. */
    private static Object[] poolAndWeightsInOneJitState(Attention attention, Case c, Arena arena) {
        return (Object[]) inOneJitState(List.of(() -> poolAndWeights(attention, c, arena, c.mask())))[0];
    }

    private static Object[] poolAndWeights(Attention attention, Case c, Arena arena, Mask mask) {
        return new Object[] {attention.pool(arena, c.queries(arena), c.keys(arena), c.values(arena), mask).toArray(),
                attention.weights(arena, c.queries(arena), c.keys(arena), mask).toArray()};
    }

    /** Query row's output and weights under {@code mask}, the weights padded with 0 to {@code m} keys. */
    private static Object[] poolAndWeights(Attention attention, Case c, int row, Arena arena, Mask mask, int m) {
        float[] out = attention.pool(arena, c.queries(arena), c.keys(arena), c.values(arena), mask).rowToArray(row);
        float[] w = attention.weights(arena, c.queries(arena), c.keys(arena), mask).rowToArray(row);
        return new Object[] {out, Arrays.copyOf(w, m)};
    }

    /**
     * The output is the weights times the values. Where both come from the same eᵢ (the same scores kernel over one
     * block: m ≤ 40 < FINEST_BLOCK), the output is within γ_{2m+3}·Σãᵢ|vᵢ| of Σãᵢvᵢ ({@link Float64Reference} step 4)
     * and Σwᵢvᵢ within γ_{m+1}·Σãᵢ|vᵢ|; with Σãᵢ|vᵢ| ≤ Σwᵢ|vᵢ|/(1 − γ_{m+1}), Σwᵢvᵢ taken in double (γ₆₄,ₘ·Σwᵢ|vᵢ|:
     * products of floats are exact in double), and TINY terms for underflow. The many-query tiles ({@link #tiled})
     * score with a micro-kernel of their own, whose sums round otherwise than the weights': there each side is held
     * to the float64 reference, the output within its {@code outputBound} and Σwᵢvᵢ within Σᵢ weightBoundᵢ·|vᵢ| plus
     * the same γ₆₄,ₘ·Σwᵢ|vᵢ|.
     */
    @Property
    void outputEqualsWeightsTimesValues(@ForAll("kernels") Kernels kernels, @ForAll("cases") Case c) {
        int m = c.m();
        boolean tiled = tiled(kernels, c);
        try (Arena arena = Arena.ofConfined()) {
            Object[] pooled = poolAndWeightsInOneJitState(attention(c.scoring(), kernels), c, arena);
            float[][] out = (float[][]) pooled[0];
            float[][] w = (float[][]) pooled[1];
            for (int i = 0; i < c.n(); i++) {
                Float64Reference ref = tiled ? c.reference(i) : null;
                double[] outputBound = tiled ? ref.outputBound(c.passes(i)) : null;
                for (int j = 0; j < c.dv(); j++) {
                    double sum = 0;
                    double sumAbs = 0;
                    double vMax = 0;
                    for (int k = 0; k < m; k++) {
                        sum += (double) w[i][k] * c.values()[k][j];
                        sumAbs += Math.abs((double) w[i][k] * c.values()[k][j]);
                        vMax = Math.max(vMax, Math.abs(c.values()[k][j]));
                    }
                    double bound;
                    if (tiled) {
                        double weightErrors = 0;
                        for (int k = 0; k < m; k++) {
                            weightErrors += ref.weightBound[k] * Math.abs(c.values()[k][j]);
                        }
                        bound = outputBound[j] + weightErrors + gamma(m, U64) * sumAbs;
                    } else {
                        bound = (gamma(2 * m + 3) + gamma(m + 1)) * sumAbs / (1 - gamma(m + 1))
                                + gamma(m, U64) * sumAbs + (6.0 * m + 6) * TINY * Math.max(1, vMax);
                    }
                    checkWithin(out[i][j], sum, bound, "output (%d, %d) against weights × values", i, j);
                }
            }
        }
    }

    /**
     * Weights, output and log-sum-exp agree with the same pooling computed in double, within the bounds derived in
     * {@link Float64Reference}. Some cases have more keys than one block, so online softmax has to rescale what it
     * accumulated when a later block raises the max. A query that sees no key has log-sum-exp −∞.
     */
    @Property
    void weightsAndOutputMatchAFloat64Reference(@ForAll("kernels") Kernels kernels,
            @ForAll("referenceCases") Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(c.scoring(), kernels);
            Tensor outTensor = Tensor.allocate(arena, c.n(), c.dv());
            Tensor lseTensor = Tensor.allocate(arena, c.n());
            attention.pool(c.queries(arena), c.keys(arena), c.values(arena), c.mask(), outTensor, lseTensor);
            float[][] out = outTensor.toArray();
            float[] lse = lseTensor.toFlatArray();
            float[][] w = attention.weights(arena, c.queries(arena), c.keys(arena), c.mask()).toArray();
            for (int i = 0; i < c.n(); i++) {
                Float64Reference ref = c.reference(i);
                for (int j = 0; j < c.m(); j++) {
                    checkWithin(w[i][j], ref.weights[j], ref.weightBound[j], "weight (%d, %d)", i, j);
                }
                checkOutputAndLogSumExp(c, i, ref, out[i], lse[i]);
            }
        }
    }

    /** Query i's output row and log-sum-exp against the reference, within its bounds for the passes of one call. */
    private static void checkOutputAndLogSumExp(Case c, int i, Float64Reference ref, float[] out, float lse) {
        double[] bound = ref.outputBound(c.passes(i));
        for (int j = 0; j < c.dv(); j++) {
            checkWithin(out[j], ref.output[j], bound[j], "output (%d, %d)", i, j);
        }
        checkLogSumExp(lse, ref.logSumExp, ref.logSumExpBound(c.passes(i)), "log-sum-exp %d", i);
    }

    /**
     * {@link #weightsAndOutputMatchAFloat64Reference} for one query over more than the 16 MB of K and V that the row
     * path reads as from memory, scoring keys one at a time ({@code Kernels.streamScores}): 2 to 4 shards of keys, so
     * the pieces are merged too. Entries are drawn from a seed rather than by jqwik, which is slow at megabytes.
     */
    @Property(tries = 6)
    void oneQueryFromMemoryMatchesAFloat64Reference(@ForAll("kernels") Kernels kernels,
            @ForAll("fromMemory") Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = attention(c.scoring(), kernels);
            Tensor outTensor = Tensor.allocate(arena, c.n(), c.dv());
            Tensor lseTensor = Tensor.allocate(arena, c.n());
            attention.pool(c.queries(arena), c.keys(arena), c.values(arena), c.mask(), outTensor, lseTensor);
            checkOutputAndLogSumExp(c, 0, c.reference(0), outTensor.toArray()[0], lseTensor.toFlatArray()[0]);
        }
    }

    // ---- generators

    /** One query, d in [96, 200], dv in [64, 160], and just over 16 MB of K and V, entries in ±{@link #RANGE}. */
    @Provide
    Arbitrary<Case> fromMemory() {
        return Combinators.combine(scorings(), Arbitraries.integers().between(96, 200),
                Arbitraries.integers().between(64, 160), Arbitraries.integers().between(1, 2 * Pooling.SHARD),
                Arbitraries.longs()).as((scoring, d, dv, extra, seed) -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    int m = (4 << 20) / (d + dv) + extra;
                    return new Case(scoring, d, dv, uniform(random, 1, d), uniform(random, m, d),
                            uniform(random, m, dv), null);
                }).withoutEdgeCases();
    }

    private static float[][] uniform(SplittableRandom random, int rows, int cols) {
        float[][] x = new float[rows][cols];
        for (float[] row : x) {
            for (int j = 0; j < cols; j++) {
                row[j] = (float) random.nextDouble(-RANGE, RANGE);
            }
        }
        return x;
    }

    @Provide
    Arbitrary<Case> cases() {
        return cases(scorings(), Arbitraries.integers().between(0, 40), 40, true);
    }

    @Provide
    Arbitrary<Case> maskedCases() {
        return cases().filter(c -> c.lengths() != null);
    }

    @Provide
    Arbitrary<Case> dotCases() {
        Arbitrary<Scoring> dots = Arbitraries.oneOf(Arbitraries.just(Scoring.dot()),
                Arbitraries.doubles().between(0.25, 2).map(f -> Scoring.dot().withScale(f)));
        return cases(dots, Arbitraries.integers().between(0, 40), 40, true);
    }

    /** Scales of the dot scorings: 1/√40 to 2, or 10²⁰ to 10³⁰ (huge scores, one-hot weights). */
    @Provide
    Arbitrary<Double> hugeOrPlainScales() {
        return Arbitraries.oneOf(Arbitraries.doubles().between(0.15, 2), Arbitraries.doubles().between(1e20, 1e30));
    }

    @Provide
    Arbitrary<Case> referenceCases() {
        Arbitrary<Case> small = cases();
        Arbitrary<Case> manyKeys = cases(scorings(),
                Arbitraries.integers().between(Pooling.ROW_BLOCK - 1, 3 * Pooling.ROW_BLOCK + 1), 4, true);
        return Arbitraries.frequencyOf(Tuple.of(4, small), Tuple.of(1, manyKeys));
    }

    @Provide
    Arbitrary<Case> identicalKeys() {
        return cases(scorings(), Arbitraries.integers().between(1, 40), 40, false).map(c -> {
            float[][] keys = new float[c.m()][];
            Arrays.fill(keys, c.keys()[0]);
            return c.withKeys(keys);
        });
    }

    @Provide
    Arbitrary<Case> zeroQueries() {
        Arbitrary<Scoring> dots = Arbitraries.oneOf(Arbitraries.just(Scoring.dot()),
                Arbitraries.just(Scoring.scaledDot()),
                Arbitraries.doubles().between(-4, 4).map(f -> Scoring.dot().withScale(f)));
        return cases(dots, Arbitraries.integers().between(1, 40), 40, false)
                .map(c -> c.withQueries(new float[c.n()][c.d()]));
    }

    @Provide
    Arbitrary<Permuted> permutedCases() {
        return cases(scorings(), Arbitraries.integers().between(0, 40), 40, false).flatMap(c -> Arbitraries
                .shuffle(IntStream.range(0, c.m()).boxed().toList())
                .map(order -> new Permuted(c, order.stream().mapToInt(Integer::intValue).toArray())));
    }

    @Provide
    Arbitrary<Lookup> lookups() {
        return Combinators.combine(scorings(), Arbitraries.integers().between(1, 40),
                Arbitraries.integers().between(1, 40), Arbitraries.integers().between(64, 4096))
                .flatAs((scoring, d, dv, c) -> Combinators.combine(
                        Arbitraries.integers().between(0, d - 1).array(int[].class).ofMinSize(1).ofMaxSize(5),
                        matrices(d, dv)).as((targets, values) -> new Lookup(scoring, c, targets, values)));
    }

    @Provide
    Arbitrary<Case> hugeScores() {
        Arbitrary<Double> magnitudes = Arbitraries.doubles().between(1e20, 1e30);
        Arbitrary<Scoring> huge = Arbitraries.oneOf(
                magnitudes.map(f -> Scoring.dot().withScale(f)),
                magnitudes.map(f -> Scoring.dot().withScale(-f)),
                magnitudes.map(f -> Scoring.scaledDot().withScale(f)),
                magnitudes.map(f -> Scoring.gaussian(1).withScale(f)));
        Arbitrary<Float> eighths = Arbitraries.integers().between(-32, 32).map(x -> x / 8f);
        return Combinators.combine(huge, Arbitraries.integers().between(1, 5), Arbitraries.integers().between(0, 40),
                Arbitraries.integers().between(1, 8), Arbitraries.integers().between(1, 40))
                .flatAs((scoring, n, m, d, dv) -> Combinators.combine(matrices(eighths, n, d),
                        matrices(eighths, m, d), matrices(m, dv))
                        .as((q, k, v) -> new Case(scoring, d, dv, q, k, v, null)));
    }

    private static Arbitrary<Scoring> scorings() {
        return Arbitraries.oneOf(Arbitraries.just(Scoring.dot()), Arbitraries.just(Scoring.scaledDot()),
                Arbitraries.doubles().between(0.5, 4).map(Scoring::gaussian));
    }

    /** Cases of 1..5 queries, the given numbers of keys, d and dv in 1..maxDim, and valid lengths if masked. */
    private static Arbitrary<Case> cases(Arbitrary<Scoring> scorings, Arbitrary<Integer> ms, int maxDim,
            boolean masked) {
        return Combinators.combine(scorings, Arbitraries.integers().between(1, 5), ms,
                Arbitraries.integers().between(1, maxDim), Arbitraries.integers().between(1, maxDim))
                .flatAs((scoring, n, m, d, dv) -> Combinators.combine(matrices(n, d), matrices(m, d), matrices(m, dv),
                        masked ? lengths(n, m) : Arbitraries.<int[]>just(null))
                        .as((q, k, v, lengths) -> new Case(scoring, d, dv, q, k, v, lengths)));
    }

    /** Valid lengths in 0..m + 2, one per query, or none (null) a third of the time. */
    private static Arbitrary<int[]> lengths(int n, int m) {
        return Arbitraries.integers().between(0, m + 2).array(int[].class).ofSize(n).injectNull(1.0 / 3);
    }

    private static Arbitrary<float[][]> matrices(int rows, int cols) {
        return matrices(Arbitraries.floats().between(-RANGE, RANGE).ofScale(5), rows, cols);
    }

    /**
     * Matrices of the given entries, without jqwik's edge cases (matrices of one repeated extreme): the shapes keep
     * theirs (m = 0, d = 1, …), and the laws that need repeated entries have generators of their own.
     */
    private static Arbitrary<float[][]> matrices(Arbitrary<Float> entries, int rows, int cols) {
        return entries.array(float[].class).ofSize(cols).array(float[][].class).ofSize(rows).withoutEdgeCases();
    }

    // ---- helpers

    /**
     * Whether {@link Attention} pools the case's queries with the many-query tiles, as the algorithm layer decides
     * ({@link Pooling#tiled}: kernels whose tiles pay off, dot scoring, and enough queries to repay packing the keys),
     * whatever the mask.
     */
    static boolean tiled(Kernels kernels, Case c) {
        return Pooling.tiled(kernels, c.scoring().isGaussian() ? Score.Kind.NEGATIVE_SQUARED_DISTANCE : Score.Kind.DOT,
                c.n(), c.m(), c.d(), c.dv());
    }

    private static Attention attention(Scoring scoring, Kernels kernels) {
        return Attention.builder().scoring(scoring).kernels(kernels.name()).build();
    }

    private static float[][] pool(Kernels kernels, Case c, Arena arena) {
        return attention(c.scoring(), kernels).pool(arena, c.queries(arena), c.keys(arena), c.values(arena),
                c.mask()).toArray();
    }

    /** Query c·eⱼ for each j in {@code targets} over keys c·I, d × d with d the number of values. */
    record Lookup(Scoring scoring, int c, int[] targets, float[][] values) {
        @Override
        public String toString() {
            return "Lookup[" + scoring + ", c = " + c + ", targets " + Arrays.toString(targets) + ", values "
                    + Arrays.deepToString(values) + "]";
        }
    }

    /** A case and the same case with its (key, value) pairs in the order {@code order}. */
    record Permuted(Case original, int[] order) {
        Case permuted() {
            float[][] keys = new float[order.length][];
            float[][] values = new float[order.length][];
            for (int i = 0; i < order.length; i++) {
                keys[i] = original.keys()[order[i]];
                values[i] = original.values()[order[i]];
            }
            return original.withKeys(keys).withValues(values);
        }

        @Override
        public String toString() {
            return original + " reordered by " + Arrays.toString(order);
        }
    }

    /** n queries (n × d), m keys (m × d) and values (m × dv), a scoring, and valid lengths or null for none. */
    record Case(Scoring scoring, int d, int dv, float[][] queries, float[][] keys, float[][] values, int[] lengths) {

        int n() {
            return queries.length;
        }

        int m() {
            return keys.length;
        }

        Mask mask() {
            return lengths == null ? Mask.none() : Mask.validLengths(lengths);
        }

        /** How many keys query i sees. */
        int visible(int i) {
            return lengths == null ? m() : Math.min(lengths[i], m());
        }

        Tensor queries(Arena arena) {
            return matrix(arena, queries, d);
        }

        Tensor keys(Arena arena) {
            return matrix(arena, keys, d);
        }

        Tensor values(Arena arena) {
            return matrix(arena, values, dv);
        }

        Float64Reference reference(int i) {
            return Float64Reference.of(scoring, queries[i], keys, values, dv, visible(i));
        }

        /** How one call pools query i's keys: a prefix, so one run per shard. */
        Float64Reference.Passes passes(int i) {
            return Float64Reference.Passes.prefix(visible(i));
        }

        Case withScoring(Scoring s) {
            return new Case(s, d, dv, queries, keys, values, lengths);
        }

        Case withQueries(float[][] q) {
            return new Case(scoring, d, dv, q, keys, values, lengths);
        }

        Case withKeys(float[][] k) {
            return new Case(scoring, d, dv, queries, k, values, lengths);
        }

        Case withValues(float[][] v) {
            return new Case(scoring, d, dv, queries, keys, v, lengths);
        }

        Case withLengths(int[] l) {
            return new Case(scoring, d, dv, queries, keys, values, l);
        }

        /** Queries [q, x] and keys [k, y]: under dot scoring, x·y is added to every score. */
        Case withExtraColumn(float x, float y) {
            return new Case(scoring, d + 1, dv, appendColumn(queries, x), appendColumn(keys, y), values, lengths);
        }

        /** Keys and values from row {@code from} on replaced by NaN. */
        Case poisonedFrom(int from) {
            float[][] k = keys.clone();
            float[][] v = values.clone();
            for (int i = from; i < m(); i++) {
                k[i] = new float[d];
                v[i] = new float[dv];
                Arrays.fill(k[i], Float.NaN);
                Arrays.fill(v[i], Float.NaN);
            }
            return withKeys(k).withValues(v);
        }

        /** The first {@code length} keys and values, with no mask. */
        Case prefix(int length) {
            return new Case(scoring, d, dv, queries, Arrays.copyOf(keys, length), Arrays.copyOf(values, length),
                    null);
        }

        private static float[][] appendColumn(float[][] rows, float x) {
            float[][] out = new float[rows.length][];
            for (int i = 0; i < rows.length; i++) {
                out[i] = Arrays.copyOf(rows[i], rows[i].length + 1);
                out[i][rows[i].length] = x;
            }
            return out;
        }

        private static Tensor matrix(Arena arena, float[][] rows, int cols) {
            Tensor t = Tensor.allocate(arena, rows.length, cols);
            t.copyFrom(rows);
            return t;
        }

        @Override
        public String toString() {
            return "Case[" + scoring + ", n = " + n() + ", m = " + m() + ", d = " + d + ", dv = " + dv
                    + ", lengths " + Arrays.toString(lengths) + ", queries " + Arrays.deepToString(queries)
                    + ", keys " + Arrays.deepToString(keys) + ", values " + Arrays.deepToString(values) + "]";
        }
    }
}
